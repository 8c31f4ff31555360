"""The command room in a real browser: a database of its own with the real Chengdu extract (roads, districts, demo
units at the real stations) and the plan library, one ``commandpost serve`` process on it, and a TCP proxy the test
controls between the browser and that server (to cut the page's socket without touching the server).

Built once for the package (both test modules): loading Chengdu takes longer than every page test together.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis_async
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from core import migrate
from core.settings import Settings
from tests.conftest import drop_database, fresh_database_url, shared_data_dir
from tests.support.tcp_proxy import TcpProxy
from tests.support.workers import ROOT, Worker

PASSWORD = "room-test-password"
SHOTS = Path(__file__).parent / "screenshots"
USERS = {"room.cmd": "commander", "room.obs": "observer", "room.field": "field_unit", "room.2fa": "commander"}


@dataclass
class Room:
    """The served city: the server behind the proxy, and a commander's API client on the server itself."""

    proxy: TcpProxy
    worker: Worker
    api: httpx.AsyncClient
    origin: str
    field_unit: int  # the unit the field user room.field is bound to (an ambulance of the demo units)
    notes: dict[str, object] = field(default_factory=dict)
    database_url: str = ""  # the server's database, for a test that must move time (a deadline into the past)


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        env=env,
        cwd=ROOT,
        input=stdin,
        text=True,
        capture_output=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]} {done.stderr[-2000:]}"


async def _an_ambulance(url: str) -> int:
    """The first demo ambulance: the unit the field user's phone belongs to."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            found = await conn.scalar(
                text("SELECT min(id) FROM resource WHERE type = 'ambulance' AND status IS NOT NULL")
            )
    finally:
        await engine.dispose()
    assert found is not None, "the demo units hold no ambulance"
    return int(found)


async def restart(room: Room) -> None:
    """Stop the server (SIGTERM, as an operator or systemd would) and start a new one on the same database, behind
    the same proxy: the pages keep their address and must find the new server by themselves."""
    room.worker.stop()
    worker = await Worker(room.worker.env).ready()
    room.worker = worker
    room.proxy.target_port = worker.port
    room.api.base_url = httpx.URL(f"http://{worker.base}")


@pytest.fixture(scope="package")
async def room(settings: Settings) -> AsyncIterator[Room]:
    chengdu = shared_data_dir() / "chengdu"
    osm = chengdu / "chengdu_core_2018.osm.pbf"
    assert osm.is_file(), f"the browser tests need the Chengdu extract: {osm}"
    url = fresh_database_url("room")
    env = {
        **os.environ,
        "COMMANDPOST_DATABASE_URL": url,
        "COMMANDPOST_SECRET_KEY": settings.secret_key.get_secret_value() if settings.secret_key else "x" * 40,
        "COMMANDPOST_REDIS_URL": settings.redis_url or "",
        "COMMANDPOST_REDIS_PREFIX": settings.redis_prefix + "_room",
        # Escalations within seconds, so the page's list can be seen and photographed.
        "COMMANDPOST_ACK_DEADLINES": json.dumps({"I": 2, "II": 2, "III": 2, "IV": 2}),
        "COMMANDPOST_ACK_ESCALATE_AFTER_SECONDS": "2",
        "COMMANDPOST_DISPATCH_SWEEP_SECONDS": "1",
        "COMMANDPOST_SITUATION_SWEEP_SECONDS": "2",
        "COMMANDPOST_OVERDUE_SWEEP_SECONDS": "1",
    }
    env.pop("COMMANDPOST_ADMIN_PASSWORD", None)
    await asyncio.to_thread(migrate.ensure_database, url)
    await asyncio.to_thread(migrate.upgrade, url)
    await asyncio.to_thread(_cli, env, "import-osm", str(osm), "--demo-units")
    districts = chengdu / "chengdu_core_districts_clipped.geojson"
    await asyncio.to_thread(_cli, env, "import-layer", str(districts), "--kind", "jurisdictions")
    await asyncio.to_thread(_cli, env, "plans", "load")
    field_unit = await _an_ambulance(url)
    for name, role in USERS.items():
        unit = ["--unit", str(field_unit)] if role == "field_unit" else []
        add = ["users", "add", name, "--role", role, *unit, "--password-stdin"]
        await asyncio.to_thread(_cli, env, *add, stdin=PASSWORD)
    worker = Worker(env)
    try:
        await worker.ready()
        proxy = await TcpProxy("127.0.0.1", worker.port).start()
        async with httpx.AsyncClient(base_url=f"http://{worker.base}", timeout=30) as api:
            signed = await api.post("/api/v1/auth/token", data={"username": "room.cmd", "password": PASSWORD})
            signed.raise_for_status()
            api.headers["Authorization"] = f"Bearer {signed.json()['access_token']}"
            api.cookies.clear()
            room = Room(proxy, worker, api, f"http://127.0.0.1:{proxy.port}", field_unit, database_url=url)
            yield room
            room.worker.stop()  # the one serving now (a test may have restarted the server: ``restart``)
        await proxy.stop()
    finally:
        worker.stop()
        await drop_database(url)
        client = redis_async.from_url(env["COMMANDPOST_REDIS_URL"] or "redis://127.0.0.1:6379/0")
        async for key in client.scan_iter(match=env["COMMANDPOST_REDIS_PREFIX"] + "*"):
            await client.delete(key)
        await client.aclose()
