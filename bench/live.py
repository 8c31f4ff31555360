"""The live stream under load, beside its raw floor measured in the same run.

    .venv/bin/python bench/live.py [--clients 200] [--rate 20] [--seconds 20] [--fanout-clients 2000]

1. Intake to command room: ``--clients`` websocket clients on one server, incidents POSTed at ``--rate``/s (open loop);
   latency = from sending the POST to each client receiving the ``incident.created`` event (p50, p99).
   Floor: asyncpg INSERT + Redis PUBLISH + a bare ``websockets`` broadcast to the same number of clients.
2. Fan-out: ``--fanout-clients`` clients spread over 2 worker processes behind one Redis; one event; time until the
   last client has it (p99 over repeats).
3. Memory: RSS of a worker before and after connecting the clients, per idle client.

Both latency figures start after a warm-up (pools filled, statements prepared), on our side and the floor's alike;
the floor's messages have the size and shape of ours, and both sides' clients parse them the same way. The
measuring process collects its garbage between measured stretches, not during them (on both sides alike); the
fan-out's 2,000 clients are light sans-I/O protocols with no task each, so the measuring side is not the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import secrets
import sys
import time
from collections.abc import Awaitable
from pathlib import Path

import asyncpg
import httpx
import redis.asyncio as redis_async
from websockets.asyncio.client import connect
from websockets.asyncio.server import broadcast, serve
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (  # noqa: E402
    SERVER_PIDS,
    admin_token,
    asyncpg_dsn,
    bench_database,
    free_port,
    print_table,
    server,
    summary_ms,
)
from core.settings import get_settings  # noqa: E402

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
    sockets = []
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


async def floor(url: str, clients: int, rate: float, seconds: float, sample: str) -> list[float]:
    """asyncpg INSERT + Redis PUBLISH + a bare websockets broadcast, to the same number of clients, of a message
    shaped like ``sample`` (our ``incident.created``) with the sequence number as its id."""
    template = json.loads(sample)
    settings = get_settings()
    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=2, max_size=10)
    redis = redis_async.from_url(settings.redis_url or "redis://127.0.0.1:6379/0")
    channel = f"bench:{secrets.token_hex(4)}"
    connected: set[object] = set()

    async def handler(ws: object) -> None:
        connected.add(ws)
        try:
            await ws.wait_closed()  # type: ignore[attr-defined]
        finally:
            connected.discard(ws)

    port = free_port()
    latencies: list[float] = []
    sent_at: dict[int, float] = {}
    pending: dict[int, int] = {}
    async with serve(handler, "127.0.0.1", port):
        pubsub = redis.pubsub()
        await pubsub.subscribe(channel)

        async def relay() -> None:
            async for message in pubsub.listen():
                if message["type"] == "message":
                    n = int(message["data"])
                    template["id"] = template["data"]["id"] = n
                    broadcast(connected, json.dumps(template, ensure_ascii=False, separators=(",", ":")))

        relaying = asyncio.create_task(relay())
        sockets = [await connect(f"ws://127.0.0.1:{port}", max_queue=None) for _ in range(clients)]

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
            async with pool.acquire() as conn:
                await conn.execute(
                    "INSERT INTO event (type, data) VALUES ('bench.floor', $1::jsonb)", json.dumps({"n": n})
                )
            await redis.publish(channel, str(n))

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
        for task in [*readers, relaying]:
            task.cancel()
        for ws in sockets:
            await ws.close()  # type: ignore[attr-defined]
    await pool.close()
    await redis.aclose()
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


class _LightClient(asyncio.Protocol):
    """A websocket client with no task of its own: frames are parsed as bytes arrive (websockets' sans-I/O
    protocol) and ``incident.created`` messages are counted on the spot. With 2,000 of them in one process, the
    measuring side costs little next to the servers it measures."""

    def __init__(self, uri: str, counter: _Arrivals) -> None:
        self.protocol = ClientProtocol(parse_uri(uri))
        self.counter = counter
        self.open = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT and b'"type":"incident.created"' in event.data[:64]:
                    self.counter.arrived()
            elif not self.open.done():
                self.open.set_result(None)  # the handshake response
        self._flush()  # pongs for the server's pings

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.open.done():
            self.open.set_exception(exc or ConnectionError("closed during the handshake"))

    def _flush(self) -> None:
        if self.transport is not None and (out := self.protocol.data_to_send()):
            self.transport.write(b"".join(out))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class _Arrivals:
    """How many clients have the event of the current round; fires when all have it."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.count = 0
        self.done = asyncio.Event()

    def reset(self) -> None:
        self.count = 0
        self.done = asyncio.Event()

    def arrived(self) -> None:
        self.count += 1
        if self.count == self.total:
            self.done.set()


async def _light_clients(base: str, token: str, n: int, counter: _Arrivals) -> list[_LightClient]:
    loop = asyncio.get_running_loop()
    host, port = base.split(":")
    uri = f"ws://{base}/ws/command?token={token}"
    clients = []
    for i in range(0, n, 100):  # connect in batches so the accept queue keeps up
        batch = [_LightClient(uri, counter) for _ in range(min(100, n - i))]
        await asyncio.gather(*(loop.create_connection(lambda c=c: c, host, int(port)) for c in batch))
        await asyncio.gather(*(c.open for c in batch))
        clients.extend(batch)
    return clients


async def fanout(url: str, clients: int, repeats: int) -> tuple[list[float], dict[str, float]]:
    """One event to ``clients`` clients over two workers; time until the last one has it, per repeat."""
    extra = {
        "COMMANDPOST_REDIS_URL": get_settings().redis_url or "redis://127.0.0.1:6379/0",
        "COMMANDPOST_REDIS_PREFIX": f"bench{secrets.token_hex(3)}",
    }
    with server(url, extra_env=extra) as a, server(url, extra_env=extra) as b:
        bases = [a.removeprefix("http://"), b.removeprefix("http://")]
        async with httpx.AsyncClient(base_url=a, timeout=30) as http:
            auth = await admin_token(http)
            token = auth["Authorization"].removeprefix("Bearer ")
            pids = [SERVER_PIDS[a], SERVER_PIDS[b]]
            rss_before = sum(_rss_kb(p) for p in pids)
            half = clients // 2
            counter = _Arrivals(clients)
            sockets = await _light_clients(bases[0], token, half, counter)
            sockets += await _light_clients(bases[1], token, clients - half, counter)
            await asyncio.sleep(1)
            rss_after = sum(_rss_kb(p) for p in pids)
            times = []
            for n in range(-2, repeats):  # two rounds of warm-up, not counted
                # This one process holds all the clients: its own garbage collection (thousands of connections'
                # objects) would pause the reading clients mid-measure. Collect between rounds, not during them.
                gc.collect()
                gc.disable()
                counter.reset()
                started = time.perf_counter()
                body = {"description": f"仓库起火 {n}", "location": SCENE}
                await http.post("/api/v1/incidents", json=body, headers=auth)
                await asyncio.wait_for(counter.done.wait(), 60)
                if n >= 0:
                    times.append(time.perf_counter() - started)
                gc.enable()
            for client in sockets:
                client.close()
    memory = {
        "rss_before_mb": rss_before / 1024,
        "rss_after_mb": rss_after / 1024,
        "kb_per_client": (rss_after - rss_before) / max(clients, 1),
    }
    return times, memory


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--fanout-clients", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    _raise_file_limit(args.fanout_clients * 3 + 1000)
    async with bench_database("live") as url:
        with server(url) as base:
            ours, sample = await intake_to_room(base.removeprefix("http://"), args.clients, args.rate, args.seconds)
        raw = await floor(url, args.clients, args.rate, args.seconds, sample)
        spread, memory = await fanout(url, args.fanout_clients, args.repeats)
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
    print_table(
        f"Fan-out of one event to {args.fanout_clients} clients on 2 workers",
        [("last client has it", summary_ms(spread))],
    )
    print("  target: p99 under 250 ms")
    print(
        f"\nMemory: 2 workers {memory['rss_before_mb']:.0f} MB idle → {memory['rss_after_mb']:.0f} MB with "
        f"{args.fanout_clients} clients ({memory['kb_per_client']:.0f} KB per idle client)"
    )


if __name__ == "__main__":
    asyncio.run(main())
