"""The soak: the deployment we recommend (deploy/run: nginx with TLS, two workers, a scheduler) on a private
PostgreSQL cluster and a private Redis, under a realistic mix for a while, with faults on a schedule; then the checks.

    python bench/soak.py [--minutes 30] [--units 200] [--screens 200] [--crews 50] [--incident-rate 2] ...

Load (bench/_soak_load.py), all through nginx over TLS: incidents at ``--incident-rate``/s with bursts of
``--burst-rate``/s (``--burst-s`` every ``--burst-every`` s); ``--units`` units each reporting a fix every
``--fix-every`` s; for a share of the incidents a plan activated and a unit sent, acknowledged in 1-3 s, late (after
the re-alert and the escalation), or never, then released; notes; a screen's reads. ``--screens`` clients on
``/ws/command`` (most with a bbox or types filter) and ``--crews`` on ``/ws/field``, spread by nginx over both
workers (bench/_soak_streams.py). Dispatch alerts and escalations go to a webhook receiver in this process that
refuses some first tries (so deliveries are retried).

Faults, one each, spread over the run: the private Redis restarted, a worker SIGKILLed (deploy/run starts it
again), the private PostgreSQL restarted, the scheduler SIGKILLed (started again). After each, the time to full
service: both workers ready, every websocket client connected again, and a probe incident logged, seen live by the
unfiltered screens, a unit sent to it and its alert received by the webhook receiver.

Report: throughput and p50/p99 per route (outside the fault windows, and overall), beside the floors measured in the
same run (``GET /healthz`` straight to a worker, and through nginx and TLS); websocket delivery lag (arrival minus
the event's ``at``, which is stamped in the writing transaction); resident memory per process over time; recovery
time per fault. Then the checks (bench/_soak_check.py); the exit status is 1 when one fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg  # noqa: E402
import httpx  # noqa: E402

from bench._common import CENTRE  # noqa: E402
from bench._soak_check import (  # noqa: E402
    Verdict,
    behind,
    check_deliveries,
    check_streams,
    check_sweeps,
    check_writes,
    events,
    expectations,
)
from bench._soak_load import SPAN, Calls, Load  # noqa: E402
from bench._soak_stack import (  # noqa: E402
    Deployment,
    PrivatePostgres,
    PrivateRedis,
    WebhookReceiver,
    remove,
    rss_mb,
    scratch,
)
from bench._soak_streams import Record, Scope, Streams  # noqa: E402

FAULTS = ("redis restarted", "worker SIGKILLed", "postgresql restarted", "scheduler SIGKILLed")


@dataclass
class Config:
    seconds: float = 1800
    units: int = 200
    screens: int = 200
    crews: int = 50
    incident_rate: float = 2.0
    burst_rate: float = 20.0
    burst_every: float = 120.0
    burst_s: float = 3.0
    fix_every: float = 10.0
    note_rate: float = 1.0
    plan_share: float = 0.3
    dispatch_share: float = 0.4
    late_share: float = 0.2
    ack_deadline_s: float = 6.0
    memory_every: float = 10.0
    faults: tuple[str, ...] = FAULTS
    keep_files: bool = False


@dataclass
class Result:
    verdict: Verdict
    calls: Calls
    recoveries: list[tuple[str, float, float]] = field(default_factory=list)  # fault, at (epoch), seconds
    memory: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    probe_calm_s: float = float("nan")
    phases: dict[str, float] = field(default_factory=dict)  # seconds each phase took (start-up, set-up, checks)


def service_env(config: Config) -> dict[str, str]:
    """Short acknowledgement deadlines and quick retries, so that a short soak sees re-alerts, escalations and
    retried deliveries."""
    deadline = config.ack_deadline_s
    return {
        "COMMANDPOST_ACK_DEADLINES": json.dumps(dict.fromkeys(("I", "II", "III", "IV"), deadline)),
        "COMMANDPOST_ACK_ESCALATE_AFTER_SECONDS": str(deadline),
        "COMMANDPOST_DISPATCH_SWEEP_SECONDS": "1",
        "COMMANDPOST_DELIVERY_BACKOFF_BASE_SECONDS": "1",
        "COMMANDPOST_DELIVERY_BACKOFF_MAX_SECONDS": "5",
        "COMMANDPOST_DELIVERY_MAX_ATTEMPTS": "30",
    }


def scopes(config: Config) -> list[Scope]:
    """The screens' filters: a tenth unfiltered (they also prove a probe was seen), the rest as real screens ask:
    a district's quarter of the map, the incident and dispatch board, the units of half the map, incidents only."""
    lon, lat = CENTRE
    quarters = [
        (
            round(lon + dx * SPAN - SPAN, 5),
            round(lat + dy * SPAN - SPAN, 5),
            round(lon + dx * SPAN, 5),
            round(lat + dy * SPAN, 5),
        )
        for dx in (0, 1)
        for dy in (0, 1)
    ]
    west = (round(lon - SPAN, 5), round(lat - SPAN, 5), round(lon, 5), round(lat + SPAN, 5))
    kinds = [Scope("/ws/command")]
    kinds += [Scope("/ws/command", bbox=q) for q in quarters]
    kinds += [Scope("/ws/command", types="incident.,dispatch.,plan.")] * 2
    kinds += [Scope("/ws/command", types="unit.", bbox=west), Scope("/ws/command", types="incident.")]
    kinds += [Scope("/ws/command", types="incident.,unit.", bbox=quarters[0])]
    return [kinds[i % len(kinds)] for i in range(config.screens)]


class Soak:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.base = scratch()
        self.pg = PrivatePostgres(self.base)
        self.redis = PrivateRedis(self.base)
        self.deploy = Deployment(self.base, self.pg, self.redis, service_env(config))
        self.receiver = WebhookReceiver(fail_every=7)
        self.calls = Calls()
        self.result = Result(Verdict(), self.calls)
        self.probe_unit = 0
        self.probes = 0

    async def run(self) -> Result:
        try:
            clock = time.monotonic()
            await asyncio.to_thread(self._start_stack)
            self.result.phases["start-up (cluster, redis, migrate, plans, deploy/run)"] = time.monotonic() - clock
            return await self._run()
        finally:
            await asyncio.to_thread(self._stop_stack)

    def _start_stack(self) -> None:
        self.pg.start()
        self.redis.start()
        self.deploy.cli("db", "upgrade", "--quiet")
        self.deploy.cli("plans", "load")
        self.deploy.start()

    def _stop_stack(self) -> None:
        self.deploy.stop()
        self.redis.stop()
        self.pg.stop()
        if not self.config.keep_files:
            remove(self.base)

    async def _run(self) -> Result:
        config = self.config
        await self.receiver.start()
        clock = time.monotonic()
        load = Load(self.deploy.base_url, self.deploy.tls(), self.calls)
        crews = await load.set_up(
            self.deploy.admin_password, units=config.units + 1, crews=config.crews, hook=self.receiver.url
        )
        self.probe_unit = load.free.pop()  # kept for the recovery probe
        token = load.headers["Authorization"].removeprefix("Bearer ")
        streams = Streams("localhost", self.deploy.https, self.deploy.tls())
        for scope in scopes(config):
            streams.add(Record(scope, token))
        for unit_id, crew_token in crews:
            streams.add(Record(Scope("/ws/field"), crew_token, unit_id=unit_id))
        await streams.start()
        self.result.phases["set-up (units, contacts, users, sockets)"] = time.monotonic() - clock
        self.result.records = streams.records
        self.result.probe_calm_s = await self._probe(load, streams, time.monotonic())
        loops = [
            load.incidents_loop(
                config.incident_rate,
                config.burst_rate,
                config.burst_every,
                config.burst_s,
                config.plan_share,
                config.dispatch_share,
                config.late_share,
                late_ack_s=3 * config.ack_deadline_s,
            ),
            load.fixes_loop(config.fix_every),
            load.every(config.note_rate, load.note),
            load.every(0.5, lambda n: load.read("GET /situation", "/api/v1/situation")),
            load.every(1, lambda n: load.read("GET /incidents?bbox", f"/api/v1/incidents?limit=50&bbox={_quarter()}")),
        ]
        floors = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{p}", timeout=15) for p in self.deploy.worker_ports]
        loops.append(load.every(1, lambda n: load.read("floor: GET /healthz via nginx+TLS", "/healthz")))
        loops.append(load.every(1, lambda n: load.read("floor: GET /healthz at a worker", "/healthz", floors[n % 2])))
        self.result.started = time.time()
        running = [asyncio.create_task(c) for c in loops]
        memory = asyncio.create_task(self._memory())
        try:
            await self._faults(load, streams)
        finally:
            self.result.ended = time.time()
            for task in running:
                task.cancel()
            await load.stop()
            memory.cancel()
            for client in floors:
                await client.aclose()
        clock = time.monotonic()
        await self._settle(streams)
        self.result.phases["drain and checks"] = time.monotonic() - clock
        await streams.stop()
        await load.close()
        await self.receiver.stop()
        return self.result

    async def _faults(self, load: Load, streams: Streams) -> None:
        """The faults spread evenly over the run, each followed by the measure of its recovery."""
        config = self.config
        begin = time.monotonic()
        for n, fault in enumerate(config.faults):
            at = begin + config.seconds * (n + 1) / (len(config.faults) + 1)
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            started_epoch, started = time.time(), time.monotonic()
            await asyncio.to_thread(self._inject, fault)
            self.result.recoveries.append((fault, started_epoch, await self._probe(load, streams, started)))
        await asyncio.sleep(max(0.0, begin + config.seconds - time.monotonic()))

    def _inject(self, fault: str) -> None:
        if fault == "redis restarted":
            self.redis.stop()
            time.sleep(1)
            self.redis.start()
        elif fault == "worker SIGKILLed":
            self.deploy.kill(f"worker-{self.deploy.worker_ports[0]}")
        elif fault == "postgresql restarted":
            self.pg.restart()
        elif fault == "scheduler SIGKILLed":
            self.deploy.kill("scheduler")
        else:
            raise ValueError(f"no such fault: {fault}")

    async def _probe(self, load: Load, streams: Streams, since: float, timeout: float = 180) -> float:
        """Seconds from ``since`` until full service: both workers ready, every client connected, and a probe
        incident answered, seen by every unfiltered screen, a unit sent to it and its alert received."""
        deadline = since + timeout
        unfiltered = [r for r in streams.records if r.scope == Scope("/ws/command")]
        ready = [f"http://127.0.0.1:{p}/readyz" for p in self.deploy.worker_ports]
        async with httpx.AsyncClient(timeout=5) as direct:
            while time.monotonic() < deadline:
                try:
                    answers = [await direct.get(url) for url in ready]
                except httpx.HTTPError:
                    answers = []
                if len(answers) == 2 and all(a.status_code == 200 for a in answers):
                    break
                await asyncio.sleep(0.2)
        while len(streams.connected) < len(streams.records) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        self.probes += 1
        incident_id = await load.incident(-self.probes, retries=60, at=CENTRE)
        if incident_id is None:
            return float("nan")
        while any(r.last < incident_id for r in unfiltered) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        while time.monotonic() < deadline:
            sent = await load.call(
                "probe: dispatch",
                "POST",
                f"/api/v1/incidents/{incident_id}/dispatches",
                json={"unit_ids": [self.probe_unit]},
            )
            if sent is not None and sent.status_code == 201:
                break
            if sent is not None and sent.status_code == 409:  # still out from an earlier probe: release it first
                await load.call(
                    "probe: release", "POST", f"/api/v1/units/{self.probe_unit}/status", json={"status": "available"}
                )
            await asyncio.sleep(0.2)
        while time.monotonic() < deadline:
            listed = await load.call("probe: deliveries", "GET", f"/api/v1/deliveries?incident={incident_id}")
            if listed is not None and listed.status_code == 200:
                ids = [d["id"] for d in listed.json()["items"] if d["channel"] == "webhook"]
                if ids and all(i in self.receiver.seen for i in ids):
                    break
            await asyncio.sleep(0.1)
        took = time.monotonic() - since
        for _ in range(50):
            back = await load.call(
                "probe: release", "POST", f"/api/v1/units/{self.probe_unit}/status", json={"status": "available"}
            )
            if back is not None and back.status_code in (200, 409):
                break
            await asyncio.sleep(0.2)
        return took if time.monotonic() < deadline else float("nan")

    async def _memory(self) -> None:
        while True:
            sample = {name: rss_mb([pid] if (pid := self.deploy.pid(name)) else []) for name in self.deploy.names()}
            sample["postgresql (all)"] = rss_mb(self.pg.pids())
            sample["redis"] = rss_mb(self.redis.pids())
            sample["soak (clients)"] = rss_mb([os.getpid()])
            self.result.memory.append((time.time(), sample))
            await asyncio.sleep(self.config.memory_every)

    async def _settle(self, streams: Streams) -> None:
        """Let the deliveries drain and every client catch up to the newest event, then check."""
        dsn = f"postgresql://postgres@127.0.0.1:{self.pg.port}/commandpost"
        conn = await asyncpg.connect(dsn)
        try:
            # The deliveries made until now (the sweeps go on escalating the dispatches never acknowledged: later
            # ones are not waited for).
            cutoff = await conn.fetchval("SELECT coalesce(max(id), 0) FROM delivery")
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                queued = await conn.fetchval(
                    "SELECT count(*) FROM delivery WHERE channel = 'webhook' AND state = 'queued' AND id <= $1", cutoff
                )
                if queued == 0:
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(2)
            up_to = await conn.fetchval("SELECT coalesce(max(id), 0) FROM event")
            all_events = await events(conn, up_to)
            expected = expectations(streams.records, all_events)
            deadline = time.monotonic() + 90  # every client caught up with its scope (or the check says what it lacks)
            while time.monotonic() < deadline and behind(streams.records, expected, up_to):
                await asyncio.sleep(0.5)
            verdict = self.result.verdict
            await check_writes(conn, self.calls, verdict)
            await check_sweeps(conn, verdict)
            await check_deliveries(conn, cutoff, self.receiver.seen, self.receiver.failed, verdict)
            check_streams(streams.records, expected, up_to, len(all_events), verdict)
            verdict.figures["restarts"] = dict(self.deploy.restarts())
            verdict.figures["logs"] = self.deploy.log_summary()
        finally:
            await conn.close()


def _quarter() -> str:
    lon, lat = CENTRE[0] + random.uniform(-SPAN, 0), CENTRE[1] + random.uniform(-SPAN, 0)
    return f"{lon:.4f},{lat:.4f},{lon + SPAN:.4f},{lat + SPAN:.4f}"


async def run_soak(config: Config) -> Result:
    """One soak from start to verdict (the test calls this with a short run)."""
    return await Soak(config).run()


if __name__ == "__main__":
    from bench._soak_report import main

    main(Config, run_soak, FAULTS)
