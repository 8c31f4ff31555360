"""The live stream across processes and through faults: two workers behind one Redis, Redis away, a worker killed.

Real server processes (``commandpost serve``) on the test database; Redis outages come from a TCP proxy the test
controls, never from touching the machine's Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import ClientConnection, connect

from core.db import create_sessionmaker
from core.events import Event
from tests.support.signals import wait_for_signal
from tests.support.tcp_proxy import TcpProxy
from tests.support.workers import Worker, two_workers

SCENE = {"type": "Point", "coordinates": [104.0614, 30.6880]}


async def _create(client: httpx.AsyncClient, auth: dict[str, str], n: int) -> int:
    response = await client.post(
        "/api/v1/incidents", json={"description": f"居民楼火灾 第{n}起", "location": SCENE}, headers=auth
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _created(ws: ClientConnection, n: int, timeout: float = 20) -> list[tuple[int, int]]:
    """The next ``n`` incident.created events: (event id, incident id)."""
    got = []
    while len(got) < n:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message["type"] == "incident.created":
            got.append((message["id"], message["data"]["id"]))
    return got


async def _incident_ids(ws: ClientConnection, n: int, timeout: float = 20) -> list[int]:
    return [incident for _, incident in await _created(ws, n, timeout)]


@contextlib.asynccontextmanager
async def _write_on_a_watch_on_b(
    a: Worker, b: Worker, auth: dict[str, str]
) -> AsyncIterator[tuple[httpx.AsyncClient, ClientConnection]]:
    """An HTTP client on worker a and a command-room websocket on worker b, subscribed before anything is written
    (b says so with its ready frame)."""
    token = auth["Authorization"].removeprefix("Bearer ")
    async with (
        connect(f"ws://{b.base}/ws/command?token={token}&ready=1") as ws,
        httpx.AsyncClient(base_url=f"http://{a.base}") as http,
    ):
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
        except TimeoutError:
            raise AssertionError(f"worker {b.base} sent no ready frame within 20 s: never subscribed") from None
        assert frame.get("type") == "ready", f"expected worker b's ready frame first, got {frame}"
        yield http, ws


async def test_an_event_made_on_one_worker_reaches_a_client_on_the_other(
    worker_env: dict[str, str], workers: list[Worker]
) -> None:
    a, b, auth = await two_workers(worker_env, workers)
    async with _write_on_a_watch_on_b(a, b, auth) as (http, ws):
        created = [await _create(http, auth, n) for n in range(3)]
        assert await _incident_ids(ws, 3, timeout=5) == created


async def test_redis_away_intake_still_answers_and_nothing_is_lost(
    worker_env: dict[str, str], workers: list[Worker]
) -> None:
    redis_url = make_url(worker_env["COMMANDPOST_REDIS_URL"].replace("redis://", "postgresql://"))
    proxy = await TcpProxy(redis_url.host or "127.0.0.1", redis_url.port or 6379).start()
    env = {**worker_env, "COMMANDPOST_REDIS_URL": f"redis://127.0.0.1:{proxy.port}/0"}
    try:
        a, b, auth = await two_workers(env, workers)
        async with _write_on_a_watch_on_b(a, b, auth) as (http, ws):
            before = [await _create(http, auth, n) for n in range(2)]
            proxy.block()
            during = [await _create(http, auth, n) for n in range(2, 6)]  # 201 while Redis is away
            proxy.unblock()
            after = [await _create(http, auth, n) for n in range(6, 8)]
            # Every event arrives on the other worker: rung, relayed or found by its poll; in order, once each.
            assert await _incident_ids(ws, 8) == before + during + after
    finally:
        await proxy.stop()


async def test_a_worker_killed_mid_load_loses_nothing_committed(
    worker_env: dict[str, str], workers: list[Worker], engine: AsyncEngine
) -> None:
    a, b, auth = await two_workers(worker_env, workers)
    token = auth["Authorization"].removeprefix("Bearer ")
    async with create_sessionmaker(engine)() as session:  # this test's rows are the ones after these
        first_event = await session.scalar(select(func.coalesce(func.max(Event.id), 0)))
        first_incident = await session.scalar(text("SELECT coalesce(max(id), 0) FROM incident"))
    answered: list[int] = []
    enough, killed = asyncio.Event(), asyncio.Event()

    async def load() -> None:
        async with httpx.AsyncClient(base_url=f"http://{a.base}", timeout=30) as http:
            for n in range(200):
                try:
                    answered.append(await _create(http, auth, n))
                except httpx.TransportError:
                    if killed.is_set():
                        return  # the worker died under this request, as it should: the load ends
                    raise
                if len(answered) == 25:
                    enough.set()

    loading = asyncio.create_task(load())
    # A client reads a few events, drops off mid-load, and resumes from the last id it saw.
    async with connect(f"ws://{b.base}/ws/command?token={token}&since={first_event}") as ws:
        first_part = await _created(ws, 10)
    await wait_for_signal(enough, what="worker a answering 25 creations before it is killed", worker=loading)
    killed.set()
    a.stop(signal.SIGKILL)
    await asyncio.wait_for(loading, 30)
    async with create_sessionmaker(engine)() as session:
        after = text("SELECT id FROM incident WHERE id > :first")
        stored = sorted(await session.scalars(after, {"first": first_incident}))
    assert set(answered) <= set(stored)  # every 201 is in the database
    async with connect(f"ws://{b.base}/ws/command?token={token}&since={first_part[-1][0]}") as ws:
        rest = await _created(ws, len(stored) - len(first_part))
    seen = [incident for _, incident in first_part + rest]
    assert seen == stored  # in commit order, none missed, none twice
