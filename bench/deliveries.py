"""Outbound deliveries to a local webhook receiver, beside the floor measured in the same run.

    .venv/bin/python bench/deliveries.py [--n 4000] [--drain 10000]

A receiver process (HTTP/1.1 keep-alive, answers 200, counts) and a throwaway database. Each figure is a sender
process of its own running the scheduler's delivery sweep (``web.scheduler.drain`` of ``notify.deliveries``:
claim a batch with SKIP LOCKED, send it signed, record every try, commit; again while batches are full), exactly as
``commandpost scheduler`` runs it, over deliveries queued beforehand:

1. one sender, ``--n`` deliveries: deliveries per second (target ≥ 200);
2. two senders at once, ``2 × --n``: deliveries per second in all (SKIP LOCKED shares the work; none is sent twice);
3. one sender draining ``--drain`` queued deliveries: its resident memory sampled as it goes (flat: it holds one
   batch at a time).

Floor: bare httpx posts of a body of the same size, ``DELIVERY_CONCURRENCY`` at once, to the same receiver from a
process of its own (no database, no signing, no records).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import bench_database  # noqa: E402
from core.settings import get_settings  # noqa: E402

BODY = b'{"delivery_id":1,"kind":"plan.notice","incident_id":1,"subject":"x","text":"' + b"y" * 200 + b'","data":{}}'


def _rss_mb(pid: int | None = None) -> float:
    with open(f"/proc/{pid or os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# ------------------------------------------------------------------------------------------------ the receiver


def _receive(port_out: Any, counter: Any) -> None:
    import uvloop

    async def serve() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    line = await reader.readline()
                    if not line:
                        return
                    length = 0
                    while (header := await reader.readline()) not in (b"\r\n", b""):
                        if header[:15].lower() == b"content-length:":
                            length = int(header[15:])
                    await reader.readexactly(length)
                    with counter.get_lock():
                        counter.value += 1
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            except (ConnectionError, asyncio.IncompleteReadError):
                return
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        port_out.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    uvloop.run(serve())


# ---------------------------------------------------------------------------------------------------- senders


def _floor(url: str, n: int, concurrency: int, out: Any) -> None:
    import httpx

    async def run() -> float:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as client:
            gate = asyncio.Semaphore(concurrency)

            async def one() -> None:
                async with gate:
                    response = await client.post(url, content=BODY, headers={"Content-Type": "application/json"})
                    response.raise_for_status()

            started = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(n)))
            return time.perf_counter() - started

    out.put(asyncio.run(run()))


def _sender(database_url: str, start: Any, out: Any, sample_memory: bool) -> None:
    from pydantic import SecretStr

    from core.db import create_engine, create_sessionmaker
    from migrations.registry import load_metadata
    from web.scheduler import SWEEPS, close_couriers, drain, run_sweep

    load_metadata()
    settings = get_settings().model_copy(
        update={"database_url": database_url, "webhook_secret": SecretStr("bench-secret")}
    )
    sweep = SWEEPS["notify.deliveries"]

    async def run() -> tuple[int, float, list[float]]:
        engine = create_engine(settings)
        sessions = create_sessionmaker(engine)
        start.wait()
        memory: list[float] = []
        started = time.perf_counter()
        sent = 0
        if sample_memory:
            while handled := await run_sweep(sessions, sweep, settings=settings):
                sent += handled
                memory.append(_rss_mb())
        else:
            sent = await drain(sessions, sweep, settings=settings)
        elapsed = time.perf_counter() - started
        await close_couriers()
        await engine.dispose()
        return sent, elapsed, memory

    out.put(asyncio.run(run()))


async def _queue(database_url: str, url: str, n: int) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """INSERT INTO delivery (kind, channel, address, subject, body, data, state, tries, max_tries,
                                     next_attempt_at, created_at)
               SELECT 'bench', 'webhook', $1, '化工厂泄漏 / leak ' || i, repeat('y', 200), '{"n": 1}', 'queued', 0, 6,
                      now() - interval '1 second', now()
               FROM generate_series(1, $2) AS i""",
            url,
            n,
        )
        await conn.execute("ANALYZE delivery")
    finally:
        await conn.close()


async def _state(database_url: str) -> dict[str, int]:
    import asyncpg
    from sqlalchemy.engine import make_url

    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT state, count(*) FROM delivery GROUP BY state")
        await conn.execute("TRUNCATE delivery, delivery_attempt")
        return {r[0]: r[1] for r in rows}
    finally:
        await conn.close()


def _run_senders(ctx: Any, database_url: str, k: int, *, sample_memory: bool = False) -> list[Any]:
    start = ctx.Event()
    out = ctx.Queue()
    processes = [ctx.Process(target=_sender, args=(database_url, start, out, sample_memory)) for _ in range(k)]
    for p in processes:
        p.start()
    time.sleep(2.0)  # let them import and connect before the clock starts
    start.set()
    results = [out.get(timeout=600) for _ in processes]
    for p in processes:
        p.join(30)
    return results


async def main(n: int, drain_n: int) -> None:
    ctx = multiprocessing.get_context("spawn")
    counter = ctx.Value("q", 0)
    ports = ctx.Queue()
    receiver = ctx.Process(target=_receive, args=(ports, counter), daemon=True)
    receiver.start()
    url = f"http://127.0.0.1:{ports.get(timeout=30)}/hook"
    concurrency = get_settings().delivery_concurrency
    print(f"receiver {url}; sender batch {get_settings().delivery_batch}, concurrency {concurrency}")
    try:
        floor_out = ctx.Queue()
        floor = ctx.Process(target=_floor, args=(url, n, concurrency, floor_out))
        floor.start()
        floor_s = floor_out.get(timeout=600)
        floor.join()
        print(f"\nfloor: bare httpx posts, one process: {n / floor_s:8.0f} /s  ({n} in {floor_s:.2f} s)")

        async with bench_database("deliveries") as database_url:
            rows = []
            for senders in (1, 2):
                await _queue(database_url, url, n * senders)
                before = counter.value
                results = await asyncio.to_thread(_run_senders, ctx, database_url, senders)
                states = await _state(database_url)
                sent = sum(r[0] for r in results)
                elapsed = max(r[1] for r in results)
                received = counter.value - before
                rows.append((senders, sent, elapsed, received, states))
            print("\nsweep (claim SKIP LOCKED, send signed, record every try, commit), deliveries queued beforehand")
            print(f"  {'senders':>7} {'sent':>7} {'received':>9} {'seconds':>8} {'per s':>8} {'× floor':>8}  states")
            for senders, sent, elapsed, received, states in rows:
                rate = sent / elapsed
                print(
                    f"  {senders:>7} {sent:>7} {received:>9} {elapsed:>8.2f} {rate:>8.0f} {rate / (n / floor_s):>8.2f}"
                    f"  {states}"
                )

            await _queue(database_url, url, drain_n)
            ((sent, elapsed, memory),) = await asyncio.to_thread(_run_senders, ctx, database_url, 1, sample_memory=True)
            states = await _state(database_url)
            tenth = max(1, len(memory) // 10)
            print(f"\ndrain: {drain_n} queued, one sender: {sent} sent in {elapsed:.1f} s ({sent / elapsed:.0f} /s)")
            print(
                f"  sender RSS MB by batch ({len(memory)} batches): " + ", ".join(f"{m:.1f}" for m in memory[::tenth])
            )
            print(
                f"  first {memory[0]:.1f}, last {memory[-1]:.1f}, max {max(memory):.1f} MB; states {states}"
                if memory
                else "  no batches"
            )
    finally:
        receiver.terminate()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--drain", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.drain))
