"""Shared by the benchmarks: a throwaway migrated database, a real server process, percentiles, tables."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import os
import pstats
import re
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from core import migrate
from core.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]
CENTRE = (104.0657, 30.6598)  # Tianfu Square, Chengdu: where the benches' resources and searches are
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
    ``app``: another ASGI app on the same uvicorn, run the same way, instead (``module:attribute``;
    ``module:function()`` for a factory), for a floor or a variant."""
    port = free_port()
    env = {
        **os.environ,
        "COMMANDPOST_DATABASE_URL": database_url,
        "COMMANDPOST_SECRET_KEY": BENCH_SECRET,
        "COMMANDPOST_ADMIN_PASSWORD": "bench-admin-password",
        **(extra_env or {}),
    }
    cmd = [sys.executable, "-m", "web.cli", "serve", "--port", str(port), "--workers", str(workers)]
    cmd += ["--log-level", "warning"]
    if app is not None:  # with the options of ``commandpost serve`` (bench/_serve.py)
        cmd = [sys.executable, "-m", "bench._serve", app, str(port), "warning"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
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


# When each slow answer of the open loops was asked (perf_counter) and how long it took: where a stall came from.
SLOW: list[tuple[float, float, str]] = []
SLOW_S = 0.1
# Why calls of the open loops failed: "name: exception" → how many times.
ERRORS: dict[str, int] = {}


async def open_loop(rate_per_s: float, seconds: float, call: object, *, name: str = "") -> tuple[list[float], int]:
    """Start ``call()`` every 1/rate seconds whatever the previous calls are doing (an open loop, so a slow
    server cannot slow the offered load down); returns the latencies and the number of failures. Answers slower
    than ``SLOW_S`` are also kept in ``SLOW`` under ``name``."""
    latencies: list[float] = []
    failures = 0

    async def one() -> None:
        nonlocal failures
        started = time.perf_counter()
        try:
            ok = await call()  # type: ignore[operator]
        except Exception as exc:
            ok = False
            what = f"{name}: {type(exc).__name__} {str(exc)[:80]}"
            ERRORS[what] = ERRORS.get(what, 0) + 1
        if ok:
            latencies.append(time.perf_counter() - started)
            if latencies[-1] > SLOW_S:
                SLOW.append((started, latencies[-1], name))
        else:
            failures += 1

    tasks = []
    interval = 1 / rate_per_s
    # This (measuring) process's full garbage collection would pause the replies being read (100 ms and more with
    # geopandas and the app imported): collect before the stretch, not during it.
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        n = 0
        while (now := time.perf_counter()) - start < seconds:
            due = start + n * interval
            if now < due:
                await asyncio.sleep(due - now)
            tasks.append(asyncio.create_task(one()))
            n += 1
        await asyncio.gather(*tasks)
    finally:
        gc.enable()
    return latencies, failures


async def alternating(
    rate_per_s: float,
    seconds: float,
    calls: dict[str, object],
    *,
    chunk_s: float = 5.0,
    before_turn: Callable[[], Awaitable[object]] | None = None,
    after_turn: Callable[[str], Awaitable[object]] | None = None,
) -> dict[str, tuple[list[float], int]]:
    """Each call offered at ``rate_per_s`` (open loop) for ``seconds`` in all, in turns of ``chunk_s`` seconds (one
    call's turn, then the next's, ...), so that the machine's drift and other helpers' load fall on all alike.
    ``before_turn()`` and ``after_turn(name)`` run around each turn (e.g. to read the server's own figures)."""
    results: dict[str, tuple[list[float], int]] = {name: ([], 0) for name in calls}
    turns = max(1, round(seconds / chunk_s))
    for _ in range(turns):
        for name, call in calls.items():
            if before_turn is not None:
                await before_turn()
            latencies, failures = await open_loop(rate_per_s, seconds / turns, call, name=name)
            if after_turn is not None:
                await after_turn(name)
            kept, failed = results[name]
            results[name] = (kept + latencies, failed + failures)
    return results


def _cpu_ticks() -> dict[int, tuple[int, int, str]]:
    """Every process's (parent, CPU ticks so far, command name)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        found[int(stat.parent.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]), name)
    return found


class Others:
    """How busy other processes (not this bench and its servers: other helpers' tests, say) kept the machine from
    this object's making to ``note()``: their CPU in cores on average, the busiest by name. PostgreSQL is left out:
    it works for this bench too (its own share shows in the load average)."""

    def __init__(self) -> None:
        self.ticks, self.at = _cpu_ticks(), time.monotonic()

    def note(self) -> str:
        after, seconds = _cpu_ticks(), time.monotonic() - self.at
        ours = {os.getpid()}
        for _ in range(4):  # children, grandchildren (uvicorn's, the floors')
            ours |= {pid for pid, (parent, _, _) in after.items() if parent in ours}
        used = {
            pid: ticks - self.ticks.get(pid, (0, 0, ""))[1]
            for pid, (_, ticks, name) in after.items()
            if pid not in ours and name != "postgres" and ticks > self.ticks.get(pid, (0, 0, ""))[1]
        }
        per_core = os.sysconf("SC_CLK_TCK") * max(seconds, 0.01)
        busiest = [pid for pid in sorted(used, key=lambda pid: -used[pid])[:3] if used[pid] / per_core >= 0.05]
        names = ", ".join(f"{after[pid][2]} {used[pid] / per_core:.2f}" for pid in busiest)
        one, five, _ = os.getloadavg()
        return (
            f"over {seconds:.0f} s other processes (PostgreSQL aside) used {sum(used.values()) / per_core:.2f} of "
            f"{os.cpu_count()} cores"
            + (f" ({names})" if names else "")
            + f"; load average now {one:.2f} (1 min) {five:.2f} (5 min)"
        )


def load_note(sample_s: float = 0.5) -> str:
    """Other processes' use of the machine over the next ``sample_s`` seconds, and its load averages."""
    others = Others()
    time.sleep(sample_s)
    return others.note()


def print_slow(since: float) -> None:
    """The answers slower than ``SLOW_S`` since ``since`` (perf_counter): when, how slow, which; and why any call
    failed."""
    if ERRORS:
        print("  failed calls: " + "; ".join(f"{what} ×{n}" for what, n in ERRORS.items()))
    slow = [(t - since, latency, name) for t, latency, name in SLOW if t >= since]
    if slow:
        print(
            f"  answers over {SLOW_S * 1000:.0f} ms: "
            + ", ".join(f"{n} at {t:.1f}s {lat * 1000:.0f} ms" for t, lat, n in slow[:12])
        )


def profile_top(path: str, lines: int = 25) -> str:
    """A cProfile dump, shortly: the functions with the most time of their own, then our own modules' functions by
    cumulative time (for a coroutine, the time of its resumptions and what they called, not the time it awaited)."""
    text = io.StringIO()
    stats = pstats.Stats(path, stream=text)
    stats.sort_stats("tottime").print_stats(lines)
    stats.sort_stats("cumulative").print_stats(r"(command|incidents|plans|gis|core|web|notify)/.*\.py", lines)
    site = str(Path(pstats.__file__).parent)
    kept = []
    for line in text.getvalue().splitlines():
        if line.strip() and not line.lstrip().startswith(("List reduced", "Ordered by", "/")):
            kept.append(re.sub(r"\S*site-packages/", "", line).replace(f"{ROOT}/", "").replace(f"{site}/", ""))
    return "\n".join(kept)


class RawHTTP:
    """A keep-alive HTTP/1.1 client that does the least a client can (one socket, one request at a time, the answer
    read by Content-Length), so that the client's own cost does not hide the servers' difference (httpx cost this
    process several ms a request here)."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items()).encode()

    async def __aenter__(self) -> RawHTTP:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.writer.close()

    async def get(self, target: str) -> bytes:
        """The body of a 200 answer (anything else raises)."""
        status, body = await self.request("GET", target)
        if status != 200:
            raise RuntimeError(f"GET {target}: {status} {body[:200]!r}")
        return body

    async def request(self, method: str, target: str, json_body: bytes | None = None) -> tuple[int, bytes]:
        """Any answer's status and body."""
        head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode() + self.extra
        if json_body is not None:
            head += b"content-type: application/json\r\ncontent-length: %d\r\n" % len(json_body)
        async with asyncio.timeout(10):  # a stuck server fails the bench instead of hanging it
            self.writer.write(head + b"\r\n" + (json_body or b""))
            answer = await self.reader.readuntil(b"\r\n\r\n")
            fields = dict(line.split(b":", 1) for line in answer.lower().split(b"\r\n")[1:] if b":" in line)
            return int(answer[9:12]), await self.reader.readexactly(int(fields[b"content-length"]))


class RawPool:
    """RawHTTP connections to one server, as many as an open loop has requests in flight. A connection idle for
    ``IDLE_S`` is closed instead of reused: uvicorn closes keep-alive connections idle for 5 s, and a request on one
    it is closing would fail (a real client would retry it; this one does not send it)."""

    IDLE_S = 4.0

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port, self.headers = port, headers
        self.idle: list[tuple[float, RawHTTP]] = []

    async def _connection(self) -> RawHTTP:
        now = time.monotonic()
        while self.idle and now - self.idle[-1][0] > self.IDLE_S:  # the newest is stale: so are all
            await self.idle.pop()[1].__aexit__()
        return self.idle.pop()[1] if self.idle else await RawHTTP(self.port, self.headers).__aenter__()

    async def get(self, target: str) -> bytes:
        connection = await self._connection()
        body = await connection.get(target)
        self.idle.append((time.monotonic(), connection))  # not on failure: one in an unknown state is dropped
        return body

    async def request(self, method: str, target: str, json_body: bytes | None = None) -> tuple[int, bytes]:
        connection = await self._connection()
        answer = await connection.request(method, target, json_body)
        self.idle.append((time.monotonic(), connection))
        return answer

    async def close(self) -> None:
        for _, connection in self.idle:
            await connection.__aexit__()
