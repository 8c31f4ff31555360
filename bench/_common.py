"""Shared by the benchmarks: a throwaway migrated database, a real server process, percentiles, tables."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from core import migrate
from core.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]
# One signing key for every server of a run, so a token from one worker is good on the others.
BENCH_SECRET = secrets.token_urlsafe(32)
# The process id behind each server's base URL (for memory figures).
SERVER_PIDS: dict[str, int] = {}


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary_ms(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {
        "n": float(len(ms)),
        "p50": percentile(ms, 50),
        "p99": percentile(ms, 99),
        "mean": statistics.fmean(ms) if ms else float("nan"),
    }


def print_table(title: str, rows: list[tuple[str, dict[str, float]]], floor: str | None = None) -> None:
    """Rows of p50/p99/mean in ms, with the ratio to the floor row when one is named."""
    print(f"\n{title}")
    print(f"  {'what':<46} {'n':>7} {'p50 ms':>9} {'p99 ms':>9} {'mean ms':>9} {'p50 ×floor':>11}")
    base = dict(rows).get(floor) if floor else None
    for name, s in rows:
        ratio = f"{s['p50'] / base['p50']:.2f}" if base and base["p50"] else ""
        print(f"  {name:<46} {int(s['n']):>7} {s['p50']:>9.2f} {s['p99']:>9.2f} {s['mean']:>9.2f} {ratio:>11}")


@contextlib.asynccontextmanager
async def bench_database(label: str) -> AsyncIterator[str]:
    """A database of its own, migrated to head, dropped at the end."""
    base = make_url(get_settings().database_url)
    url = base.set(database=f"commandpost_bench_{label}_{secrets.token_hex(3)}").render_as_string(False)
    await asyncio.to_thread(migrate.ensure_database, url)
    await asyncio.to_thread(migrate.upgrade, url)
    try:
        yield url
    finally:
        admin = make_url(url).set(drivername="postgresql", database="postgres").render_as_string(False)
        conn = await asyncpg.connect(admin)
        try:
            name = await conn.fetchval("SELECT quote_ident($1)", make_url(url).database)
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await conn.close()


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(
    database_url: str, *, workers: int = 1, extra_env: dict[str, str] | None = None, app: str | None = None
) -> Iterator[str]:
    """``commandpost serve`` on a free port against ``database_url``; yields its base URL once ``/readyz`` answers.
    ``app``: another ASGI app on the same uvicorn instead (``module:attribute``; ``module:function()`` for a
    factory), for a floor or a variant."""
    port = free_port()
    env = {
        **os.environ,
        "COMMANDPOST_DATABASE_URL": database_url,
        "COMMANDPOST_SECRET_KEY": BENCH_SECRET,
        "COMMANDPOST_ADMIN_PASSWORD": "bench-admin-password",
        **(extra_env or {}),
    }
    cmd = [sys.executable, "-m", "web.cli", "serve", "--port", str(port), "--workers", str(workers)]
    if app is not None:
        factory = ["--factory"] if app.endswith("()") else []
        cmd = [sys.executable, "-m", "uvicorn", *factory, app.removesuffix("()"), "--port", str(port)]
    proc = subprocess.Popen([*cmd, "--log-level", "warning"], env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    SERVER_PIDS[base] = proc.pid
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("the server did not become ready in 30 s")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=15)


async def admin_token(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.post("/api/v1/auth/token", data={"username": "admin", "password": "bench-admin-password"})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def open_loop(rate_per_s: float, seconds: float, call: object) -> tuple[list[float], int]:
    """Start ``call()`` every 1/rate seconds whatever the previous calls are doing (an open loop, so a slow
    server cannot slow the offered load down); returns the latencies and the number of failures."""
    latencies: list[float] = []
    failures = 0

    async def one() -> None:
        nonlocal failures
        started = time.perf_counter()
        try:
            ok = await call()  # type: ignore[operator]
        except Exception:
            ok = False
        if ok:
            latencies.append(time.perf_counter() - started)
        else:
            failures += 1

    tasks = []
    interval = 1 / rate_per_s
    start = time.perf_counter()
    n = 0
    while (now := time.perf_counter()) - start < seconds:
        due = start + n * interval
        if now < due:
            await asyncio.sleep(due - now)
        tasks.append(asyncio.create_task(one()))
        n += 1
    await asyncio.gather(*tasks)
    return latencies, failures
