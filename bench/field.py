"""A crew's alert on ``/ws/field`` while other clients are connected, beside its raw floor measured in the same run.

    .venv/bin/python bench/field.py [--others 200] [--rounds 200] [--rate 10]

One server (``commandpost serve``, one worker, Redis configured) on a throwaway database, ``--others`` clients
connected throughout from a process of their own (real screens and phones are on other machines; in the measuring
process their reading would delay the measured client's): half command-room screens (``/ws/command``, they get
every event), half other crews on ``/ws/field`` (their units are never dispatched: the hub filters every event away
from them). Each round connects one more crew, waits for its ready frame, and then:

1. Dispatch committed → alert received: the dispatch is made in this process, by ``command.service.dispatch_units``
   in a transaction of its own on the bench database (as the scheduler process writes its events), then rung on
   Redis (``notify.service.redis_announcer``); latency from the moment the commit returned to the crew's
   ``dispatch.created``. The server only reads, filters and delivers, as it does for any writer.
2. POST → alert: the same, through ``POST /incidents/{id}/dispatches`` on the server (the request's own work,
   routing included, counts too), for context.

Floor: asyncpg INSERT + Redis PUBLISH + a bare ``websockets`` server sending to one client a message of our alert's
size and shape (bench/live.py's floor, with one client), offered at the same rate. Target: p99 of (1) within 3× the
floor's p99.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as redis_async
from pydantic import SecretStr
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import BENCH_SECRET, admin_token, print_table, server, summary_ms  # noqa: E402
from bench.live import _raise_file_limit, floor  # noqa: E402
from command import service as command  # noqa: E402
from core.db import create_engine, create_sessionmaker  # noqa: E402
from core.events import take_pending_event_ids  # noqa: E402
from core.geojson import Point  # noqa: E402
from core.settings import Settings, get_settings  # noqa: E402
from core.users import AppUser, Role, hash_password  # noqa: E402
from gis import service as gis  # noqa: E402
from gis.schemas import ResourceIn  # noqa: E402
from incidents import service as incidents  # noqa: E402
from incidents.schemas import IncidentIn  # noqa: E402
from notify.service import redis_announcer  # noqa: E402
from web.security import issue_token  # noqa: E402

SCENE = Point.of(104.0614, 30.6880)


async def _crews(settings: Settings, n: int, tag: str) -> list[tuple[int, str]]:
    """``n`` units in the registry, each with a crew user; (unit id, the crew's token). One password hash for all
    (argon2 per user would cost minutes and measure nothing), tokens signed here with the server's key."""
    engine = create_engine(settings)
    shared_hash = hash_password(secrets.token_urlsafe(16))
    try:
        async with create_sessionmaker(engine)() as session:
            units = []
            for i in range(n):
                data = ResourceIn(type="ambulance", name=f"{tag}-{i}", location=Point.of(104.0 + i * 1e-4, 30.67))
                units.append((await gis.create_resource(session, data=data)).id)
            session.add_all(
                AppUser(username=f"{tag}.{u}", password_hash=shared_hash, role=Role.field_unit.value, unit_id=u)
                for u in units
            )
            await session.commit()
            rows = await session.execute(select(AppUser.username, AppUser.password_changed_at, AppUser.unit_id))
            wanted = set(units)
            stamps = {unit: changed for _, changed, unit in rows if unit in wanted}
        tokens = []
        for unit in units:
            token, _ = issue_token(
                username=f"{tag}.{unit}", role="field_unit", password_changed_at=stamps[unit], settings=settings
            )
            tokens.append((unit, token))
        return tokens
    finally:
        await engine.dispose()


async def _incident(settings: Settings) -> int:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            report = IncidentIn(description="居民楼火灾，2人受伤", location=SCENE)
            incident, _ = await incidents.create_incident(session, data=report, actor="bench")
            await session.commit()
            return incident.id
    finally:
        await engine.dispose()


async def _alert(ws: ClientConnection) -> tuple[float, str]:
    """Wait for the crew's ``dispatch.created``; when it arrived, and its text."""
    while True:
        raw = await asyncio.wait_for(ws.recv(), 30)
        if '"type":"dispatch.created"' in str(raw)[:80]:
            return time.perf_counter(), str(raw)


async def _connect(base: str, path: str, token: str) -> ClientConnection:
    ws = await connect(f"ws://{base}{path}?token={token}&ready=1", max_queue=None)
    frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert frame.get("type") == "ready", frame
    return ws


def _hold(base: str, room_token: str, room: int, crew_tokens: list[str], ready: Any, stop: Any) -> None:
    """In a process of its own (as real screens and phones are on other machines): connect the other clients, read
    what they are sent, until ``stop`` is set; ``ready`` once all are subscribed."""

    async def main() -> None:
        sockets = [await _connect(base, "/ws/command", room_token) for _ in range(room)]
        sockets += [await _connect(base, "/ws/field", token) for token in crew_tokens]

        async def read(ws: ClientConnection) -> None:
            async for _ in ws:
                pass

        readers = [asyncio.create_task(read(ws)) for ws in sockets]
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.2)
        for task in readers:
            task.cancel()
        for ws in sockets:
            await ws.close()

    asyncio.run(main())


async def rounds(
    base: str, settings: Settings, *, others: int, n: int, rate: float, via_http: bool
) -> tuple[list[float], str]:
    """``n`` dispatches, one crew each, with ``others`` other clients connected; the latencies, and one alert."""
    tag = f"b{secrets.token_hex(2)}"
    idle_crews = await _crews(settings, others - others // 2, f"{tag}i")
    targets = await _crews(settings, n, f"{tag}t")
    incident = await _incident(settings)
    engine = create_engine(settings)
    sessions = create_sessionmaker(engine)
    client = redis_async.from_url(settings.redis_url or "redis://127.0.0.1:6379/0")
    announce = redis_announcer(client, prefix=settings.redis_prefix)
    latencies: list[float] = []
    sample = ""
    async with httpx.AsyncClient(base_url=f"http://{base}", timeout=30) as http:
        auth = await admin_token(http)
        room_token = auth["Authorization"].removeprefix("Bearer ")
        context = multiprocessing.get_context("spawn")
        ready, stop = context.Event(), context.Event()
        holder = context.Process(
            target=_hold, args=(base, room_token, others // 2, [t for _, t in idle_crews], ready, stop), daemon=True
        )
        holder.start()
        await asyncio.to_thread(ready.wait, 120)
        try:
            for unit, token in targets:
                ws = await _connect(base, "/ws/field", token)
                next_at = time.perf_counter() + 1 / rate
                gc.collect()
                gc.disable()  # this process's collector must not pause the client mid-measure (the floor alike)
                try:
                    if via_http:
                        started = time.perf_counter()
                        url = f"/api/v1/incidents/{incident}/dispatches"
                        response = await http.post(url, json={"unit_ids": [unit]}, headers=auth)
                        assert response.status_code == 201, response.text
                    else:
                        async with sessions() as session:
                            await command.dispatch_units(session, incident_id=incident, unit_ids=[unit], actor="bench")
                            await session.commit()
                            started = time.perf_counter()
                            ids = take_pending_event_ids(session)
                        await announce(ids)
                    arrived, sample = await _alert(ws)
                finally:
                    gc.enable()
                latencies.append(arrived - started)
                await ws.close()
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        finally:
            stop.set()
            await asyncio.to_thread(holder.join, 30)
            await client.aclose()
            await engine.dispose()
    return latencies, sample


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--others", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0)
    args = parser.parse_args()
    _raise_file_limit(args.others * 3 + 1000)
    from bench._common import bench_database

    async with bench_database("field") as url:
        prefix = f"benchf{secrets.token_hex(3)}"
        redis_url = get_settings().redis_url or "redis://127.0.0.1:6379/0"
        settings = get_settings().model_copy(
            update={
                "database_url": url,
                "redis_url": redis_url,
                "redis_prefix": prefix,
                "secret_key": SecretStr(BENCH_SECRET),
            }
        )
        extra = {"COMMANDPOST_REDIS_URL": redis_url, "COMMANDPOST_REDIS_PREFIX": prefix}
        with server(url, extra_env=extra) as base:
            host = base.removeprefix("http://")
            await rounds(host, settings, others=args.others, n=10, rate=args.rate, via_http=False)  # warm-up
            committed, sample = await rounds(
                host, settings, others=args.others, n=args.rounds, rate=args.rate, via_http=False
            )
            posted, _ = await rounds(host, settings, others=args.others, n=args.rounds, rate=args.rate, via_http=True)
        raw: list[float] = await floor(url, 1, args.rate, args.rounds / args.rate, _as_floor_sample(sample))
    print_table(
        f"Dispatch → the crew's alert on /ws/field, {args.others} other clients connected, {args.rounds} rounds",
        [
            ("INSERT + PUBLISH + bare websockets, 1 client (floor)", summary_ms(raw)),
            ("dispatch committed → alert received", summary_ms(committed)),
            ("POST /dispatches → alert received", summary_ms(posted)),
        ],
        floor="INSERT + PUBLISH + bare websockets, 1 client (floor)",
    )
    floor_p99, ours_p99 = summary_ms(raw)["p99"], summary_ms(committed)["p99"]
    print(f"  (the alert is {len(sample.encode()):,} bytes of JSON; the floor sends the same size and shape)")
    print(f"  target: p99 within 3× the floor's: {ours_p99:.2f} ms vs {3 * floor_p99:.2f} ms")


def _as_floor_sample(sample: str) -> str:
    """Our alert, typed as the floor's reader expects (bench/live.py counts ``incident.created`` messages)."""
    message: dict[str, Any] = json.loads(sample)
    message["type"] = "incident.created"
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


if __name__ == "__main__":
    asyncio.run(main())
