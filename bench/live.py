"""The live stream under load, beside its floors measured in the same run.

    .venv/bin/python bench/live.py [--clients 200] [--rate 20] [--seconds 20] [--fanout-clients 2000] [--repeats 200]

1. Intake to command room: ``--clients`` websocket clients on one server, incidents POSTed at ``--rate``/s (open loop);
   latency = from sending the POST to each client receiving the ``incident.created`` event (p50, p99).
   Floor: asyncpg INSERT of a row as large as the event + Redis PUBLISH + a bare ``websockets`` broadcast server
   (bench/ws_floor.py) in a process of its own, to the same number of clients of this process, as the service's.
2. Fan-out: ``--fanout-clients`` clients spread over 2 worker processes behind one Redis; one event; time until the
   last client has it, ``--repeats`` times. Floor: the same clients' number spread over 2 bare broadcast servers
   (bench/ws_floor.py) behind the same Redis, rung by INSERT + PUBLISH. The service's rounds and the floor's
   alternate (both sets of clients stay connected throughout), so that drift and other load fall on both alike.
3. Memory: RSS of a worker before and after connecting the clients, per idle client.

Both latency figures start after a warm-up (pools filled, statements prepared), on our side and the floor's alike;
the floor's messages are the service's own ``incident.created`` as a client received it (same size and shape),
with the floor's sequence number as id, and both sides' clients parse them the same way. The floor writes its rows
to a table of its own (``floor_event``, shaped like ``event``) so that the service's hubs never see them. The
measuring process collects its garbage between measured stretches, not during them (on both sides alike); the
fan-out's clients are light protocols with no task each (bench/_light_clients.py) on uvloop, as the servers are, so
the measuring side is not the bottleneck; the table says how much CPU it took per round, and which other messages
the service sent meanwhile (its own situation updates). ``--profile n`` runs cProfile in the worker taking the POSTs
over n more rounds; ``--auth-cache-seconds`` is a variant (the service's auth cache window).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio as redis_async
import uvloop
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (  # noqa: E402
    ROOT,
    SERVER_PIDS,
    Others,
    admin_token,
    asyncpg_dsn,
    bench_database,
    free_port,
    load_note,
    print_table,
    profile_top,
    server,
    summary_ms,
)
from bench._light_clients import Side, light_clients  # noqa: E402
from core.settings import get_settings  # noqa: E402

FLOOR_APP = "bench.floor_app:create()"
SCENE = {"type": "Point", "coordinates": [104.0614, 30.6880]}


def _raise_file_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _clients(base: str, token: str, n: int) -> list[object]:
    sockets: list[object] = []
    for i in range(0, n, 100):  # connect in batches so the accept queue keeps up
        batch = await asyncio.gather(
            *(connect(f"ws://{base}/ws/command?token={token}", max_queue=None) for _ in range(min(100, n - i)))
        )
        sockets.extend(batch)
    return sockets


async def intake_to_room(base: str, clients: int, rate: float, seconds: float) -> tuple[list[float], str]:
    """Latencies from POST to each client's ``incident.created``, and one such message as it arrived (the floor
    broadcasts messages of the same size and shape, so both sides' clients parse the same amount)."""
    async with httpx.AsyncClient(base_url=f"http://{base}", timeout=30) as http:
        auth = await admin_token(http)
        token = auth["Authorization"].removeprefix("Bearer ")
        sockets = await _clients(base, token, clients)
        sent_at: dict[int, float] = {}
        latencies: list[float] = []
        pending: dict[int, int] = {}
        sample: list[str] = []

        async def reader(ws: object) -> None:
            async for raw in ws:  # type: ignore[attr-defined]
                message = json.loads(raw)
                if message["type"] != "incident.created":
                    continue
                if not sample:
                    sample.append(raw)
                incident = message["data"]["id"]
                while incident not in sent_at:  # the event can beat the HTTP answer home
                    await asyncio.sleep(0.001)
                latencies.append(time.perf_counter() - sent_at[incident])
                pending[incident] -= 1

        readers = [asyncio.create_task(reader(ws)) for ws in sockets]

        async def post(n: int) -> None:
            started = time.perf_counter()
            body = {"description": f"居民楼火灾 bench {n}", "location": SCENE}
            response = await http.post("/api/v1/incidents", json=body, headers=auth)
            incident = response.json()["id"]
            pending[incident] = clients
            sent_at[incident] = started

        async def offer(count: int, first: int) -> None:
            tasks = []
            t0 = time.perf_counter()
            for n in range(first, first + count):
                await asyncio.sleep(max(0, t0 + (n - first) / rate - time.perf_counter()))
                tasks.append(asyncio.create_task(post(n)))
            await asyncio.gather(*tasks)
            deadline = time.perf_counter() + 30
            while any(pending.values()) and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)

        # Warm up for two seconds (connection pools filling, statements prepared, caches), then measure afresh.
        await offer(int(rate * 2), first=-int(rate * 2))
        latencies.clear()
        await _without_gc(offer(int(rate * seconds), first=0))
        for task in readers:
            task.cancel()
        for ws in sockets:
            await ws.close()  # type: ignore[attr-defined]
        return latencies, sample[0]


FLOOR_TABLE = "CREATE TABLE IF NOT EXISTS floor_event (LIKE event INCLUDING ALL)"


@contextlib.contextmanager
def ws_floor(channel: str, message_file: Path) -> Iterator[int]:
    """A bare broadcast server (bench/ws_floor.py) in a process of its own; yields its port once it is ready."""
    port = free_port()
    command = [sys.executable, "-m", "bench.ws_floor", str(port), channel, str(message_file)]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", "bench/ws_floor.py did not start"
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=15)


class FloorWriter:
    """What rings the floor: an INSERT of a row as large as the service's event, then a Redis PUBLISH of its number."""

    def __init__(self, url: str, sample: str) -> None:
        self.url, self.data = url, json.dumps(json.loads(sample)["data"], ensure_ascii=False)
        self.channel = f"bench:{secrets.token_hex(4)}"

    async def __aenter__(self) -> FloorWriter:
        self.pool = await asyncpg.create_pool(asyncpg_dsn(self.url), min_size=2, max_size=10)
        await self.pool.execute(FLOOR_TABLE)
        self.redis = redis_async.from_url(get_settings().redis_url or "redis://127.0.0.1:6379/0")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.pool.close()
        await self.redis.aclose()

    async def write(self, n: int) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute("INSERT INTO floor_event (type, data) VALUES ('incident.created', $1::jsonb)", self.data)
        await self.redis.publish(self.channel, str(n))


async def floor(url: str, clients: int, rate: float, seconds: float, message_file: Path) -> list[float]:
    """INSERT + PUBLISH + a bare websockets broadcast server, to the same number of clients, of the service's own
    message (``message_file``) with the sequence number as its id."""
    latencies: list[float] = []
    sent_at: dict[int, float] = {}
    pending: dict[int, int] = {}
    async with FloorWriter(url, message_file.read_text(encoding="utf-8")) as writer:
        with ws_floor(writer.channel, message_file) as port:
            sockets = await _clients(f"127.0.0.1:{port}", "", clients)

            async def reader(ws: object) -> None:
                async for raw in ws:  # type: ignore[attr-defined]
                    message = json.loads(raw)
                    if message["type"] != "incident.created":
                        continue
                    n = message["data"]["id"]
                    latencies.append(time.perf_counter() - sent_at[n])
                    pending[n] -= 1

            readers = [asyncio.create_task(reader(ws)) for ws in sockets]

            async def write(n: int) -> None:
                sent_at[n] = time.perf_counter()
                pending[n] = clients
                await writer.write(n)

            async def offer(count: int, first: int) -> None:
                t0 = time.perf_counter()
                tasks = []
                for n in range(first, first + count):
                    await asyncio.sleep(max(0, t0 + (n - first) / rate - time.perf_counter()))
                    tasks.append(asyncio.create_task(write(n)))
                await asyncio.gather(*tasks)
                deadline = time.perf_counter() + 30
                while any(pending.values()) and time.perf_counter() < deadline:
                    await asyncio.sleep(0.05)

            await offer(int(rate * 2), first=-int(rate * 2))  # the same warm-up as ours
            latencies.clear()
            await _without_gc(offer(int(rate * seconds), first=0))
            for task in readers:
                task.cancel()
            for ws in sockets:
                await ws.close()  # type: ignore[attr-defined]
    return latencies


async def _without_gc(run: Awaitable[None]) -> None:
    """Run a measured stretch with this (measuring) process's cyclic garbage collector paused, then collect: a
    pause of the clients here is not the server's latency. Ours and the floor are measured alike."""
    gc.collect()
    gc.disable()
    try:
        await run
    finally:
        gc.enable()
        gc.collect()


async def fanout(
    url: str, clients: int, repeats: int, message_file: Path, profile: int
) -> tuple[Side, Side, dict[str, Any]]:
    """One event to ``clients`` clients over two workers; time until the last one has it, per round. The floor's
    rounds (two bare broadcast servers, rung by INSERT + PUBLISH) alternate with the service's. Then, with
    ``profile``, that many more of the service's rounds with cProfile running in the worker that takes the POSTs.
    (The workers are the service with bench/floor_app.py's floors beside it, for its ``/floor/profile``; a
    websocket goes straight to the service.)"""
    extra = {
        "COMMANDPOST_REDIS_URL": get_settings().redis_url or "redis://127.0.0.1:6379/0",
        "COMMANDPOST_REDIS_PREFIX": f"bench{secrets.token_hex(3)}",
    }
    half = clients // 2
    async with FloorWriter(url, message_file.read_text(encoding="utf-8")) as writer:
        with (
            server(url, extra_env=extra, app=FLOOR_APP) as a,
            server(url, extra_env=extra, app=FLOOR_APP) as b,
            ws_floor(writer.channel, message_file) as floor_a,
            ws_floor(writer.channel, message_file) as floor_b,
        ):
            async with httpx.AsyncClient(base_url=a, timeout=30) as http:
                auth = await admin_token(http)
                token = auth["Authorization"].removeprefix("Bearer ")
                pids = [SERVER_PIDS[a], SERVER_PIDS[b]]
                rss_before = sum(_rss_kb(p) for p in pids)

                async def post(n: int) -> None:
                    body = {"description": f"仓库起火 {n}", "location": SCENE}
                    (await http.post("/api/v1/incidents", json=body, headers=auth)).raise_for_status()

                ours, bare = Side(clients, post), Side(clients, writer.write)
                bases = [a.removeprefix("http://"), b.removeprefix("http://")]
                ours.clients = await light_clients(bases[0], token, half, ours.counter)
                ours.clients += await light_clients(bases[1], token, clients - half, ours.counter)
                await asyncio.sleep(1)
                rss_after = sum(_rss_kb(p) for p in pids)
                bare.clients = await light_clients(f"127.0.0.1:{floor_a}", "", half, bare.counter)
                bare.clients += await light_clients(f"127.0.0.1:{floor_b}", "", clients - half, bare.counter)
                await asyncio.sleep(1)
                for n in range(-2, repeats):  # two rounds of warm-up each, not counted
                    await ours.round(n)
                    await bare.round(n)
                top = ""
                if profile:
                    with tempfile.TemporaryDirectory() as work:
                        out = str(Path(work) / "fanout.prof")
                        await http.get("/floor/profile", params={"start": 1})
                        for n in range(repeats, repeats + profile):
                            await ours.round(n, timed=False)
                        await http.get("/floor/profile", params={"out": out})
                        top = profile_top(out)
                for client in [*ours.clients, *bare.clients]:
                    client.close()
    memory = {
        "rss_before_mb": rss_before / 1024,
        "rss_after_mb": rss_after / 1024,
        "kb_per_client": (rss_after - rss_before) / max(clients, 1),
        "profile": top,
    }
    return ours, bare, memory


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--fanout-clients", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=200, help="fan-out rounds of each side (at least 200: p99)")
    parser.add_argument("--profile", type=int, default=0, help="fan-out rounds profiled in a worker (0: none)")
    parser.add_argument(
        "--auth-cache-seconds",
        type=float,
        help="a variant: the service's COMMANDPOST_AUTH_CACHE_SECONDS (default: its own, 5 s)",
    )
    args = parser.parse_args()
    _raise_file_limit(args.fanout_clients * 6 + 1000)  # both sides' clients, and the servers' (they inherit it)
    if args.auth_cache_seconds is not None:  # every server started from here inherits it
        os.environ["COMMANDPOST_AUTH_CACHE_SECONDS"] = str(args.auth_cache_seconds)
        print(f"variant: the service's auth cache keeps a user's reading {args.auth_cache_seconds:g} s")
    print(f"start: {load_note()}")
    async with bench_database("live") as url:
        with server(url) as base, tempfile.TemporaryDirectory() as work:
            others = Others()
            ours, sample = await intake_to_room(base.removeprefix("http://"), args.clients, args.rate, args.seconds)
            message_file = Path(work) / "message.json"
            message_file.write_text(sample, encoding="utf-8")
            raw = await floor(url, args.clients, args.rate, args.seconds, message_file)
            notes = [others.note()]
            others = Others()
            spread, bare, memory = await fanout(url, args.fanout_clients, args.repeats, message_file, args.profile)
            notes.append(others.note())
    print_table(
        f"Intake → command room, {args.clients} clients, {args.rate:g} incidents/s for {args.seconds:g} s",
        [
            ("INSERT + PUBLISH + bare websockets (floor)", summary_ms(raw)),
            ("POST → every client's event", summary_ms(ours)),
        ],
        floor="INSERT + PUBLISH + bare websockets (floor)",
    )
    print(f"  (each message {len(sample.encode()):,} bytes of JSON, on both sides)")
    print("  target: p99 within 3× of the floor")
    print(f"  {notes[0]}")
    print_table(
        f"Fan-out of one event to {args.fanout_clients} clients on 2 processes, rounds alternating",
        [
            ("floor: INSERT + PUBLISH + 2 bare broadcast servers", summary_ms(bare.times)),
            ("service: POST → the last client has it", summary_ms(spread.times)),
        ],
        floor="floor: INSERT + PUBLISH + 2 bare broadcast servers",
    )
    print("  target: the service's p99 under 250 ms")
    print(f"  {notes[1]}")
    cpu = {side: statistics.median(times) * 1000 for side, times in (("floor", bare.cpu), ("service", spread.cpu))}
    print(
        f"  this (measuring) process's CPU a round, median: floor {cpu['floor']:.1f} ms, ours {cpu['service']:.1f} ms"
    )
    print(
        f"  other messages the clients got: floor {bare.counter.others}, ours {spread.counter.others} "
        f"({', '.join(sorted(spread.counter.other_types))})"
    )
    print(
        f"\nMemory: 2 workers {memory['rss_before_mb']:.0f} MB idle → {memory['rss_after_mb']:.0f} MB with "
        f"{args.fanout_clients} clients ({memory['kb_per_client']:.0f} KB per idle client)"
    )
    if memory["profile"]:
        print(f"\ncProfile of the worker taking the POSTs over {args.profile} more rounds:\n{memory['profile']}")


if __name__ == "__main__":
    uvloop.run(main())  # the event loop the servers run on too: the measuring side costs less
