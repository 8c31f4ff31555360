"""The fan-out's clients (bench/live.py): thousands of websocket clients in one process that cost it little.

Each is an asyncio protocol with no task of its own: frames are cut as bytes arrive and ``incident.created``
messages counted on the spot, so the measuring side is not the bottleneck. ``Side.round`` also keeps this process's
CPU time per round, to show it.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import re
import time
from collections.abc import Awaitable, Callable
from typing import cast

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

PREFIX = b'"type":"incident.created"'
_PONG = 0x8A  # FIN + pong


def server_frames(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """The whole frames a server sent at the start of ``data`` (unmasked, as a server sends them): each frame's
    opcode and payload, and how many bytes they took (the rest waits for more bytes)."""
    frames: list[tuple[int, bytes]] = []
    at, end = 0, len(data)
    while end - at >= 2:
        opcode, length, head = data[at] & 0x0F, data[at + 1] & 0x7F, 2
        if length == 126:
            if end - at < 4:
                break
            length, head = int.from_bytes(data[at + 2 : at + 4], "big"), 4
        elif length == 127:
            if end - at < 10:
                break
            length, head = int.from_bytes(data[at + 2 : at + 10], "big"), 10
        if end - at < head + length:
            break
        frames.append((opcode, data[at + head : at + head + length]))
        at += head + length
    return frames, at


def pong(payload: bytes) -> bytes:
    """The answer to a ping: a client's frame is masked (a zero mask; a control frame's payload is at most 125)."""
    return bytes((_PONG, 0x80 | len(payload))) + b"\0\0\0\0" + payload


class LightClient(asyncio.Protocol):
    """A websocket client with no task of its own. The handshake goes through websockets' sans-I/O protocol; after
    it, frames are cut from the bytes as they arrive by the least code that can (a server's frames are unmasked and
    the servers measured here send each message as one frame): a text frame whose first bytes name
    ``incident.created`` is counted on the spot, a ping is answered with its pong, a close closes. With 2,000 of
    them in one process, the measuring side costs little next to the servers it measures (websockets' own parser
    cost this process about 12 µs a frame, a quarter of the bare floor's whole round)."""

    def __init__(self, uri: str, counter: Arrivals) -> None:
        self.protocol = ClientProtocol(parse_uri(uri))
        self.counter = counter
        self.open = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.pending = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport subclass
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        if self.open.done():
            self._frames(self.pending + data if self.pending else data)
            return
        self.protocol.receive_data(data)  # the handshake response, and any frame that came with it
        for event in self.protocol.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT and PREFIX in event.data[:64]:
                    self.counter.arrived()
                elif event.opcode is Opcode.TEXT:
                    self.counter.other(event.data[:80])
            elif not self.open.done():
                self.open.set_result(None)
        self._flush()

    def _frames(self, data: bytes) -> None:
        frames, used = server_frames(data)
        for opcode, payload in frames:
            if opcode == 0x1:
                if PREFIX in payload[:64]:
                    self.counter.arrived()
                else:
                    self.counter.other(payload[:80])
            elif opcode == 0x9 and self.transport is not None:
                self.transport.write(pong(payload))
            elif opcode == 0x8:
                self.close()
        self.pending = data[used:]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.open.done():
            self.open.set_exception(exc or ConnectionError("closed during the handshake"))

    def _flush(self) -> None:
        if self.transport is not None and (out := self.protocol.data_to_send()):
            self.transport.write(b"".join(out))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Arrivals:
    """How many clients have the event of the current round; fires when all have it."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.count = 0
        self.others = 0  # other text frames (other events), all rounds
        self.other_types: set[str] = set()
        self.done = asyncio.Event()

    def other(self, head: bytes | bytearray | memoryview) -> None:
        self.others += 1
        found = re.search(rb'"type":"([^"]*)"', head)
        self.other_types.add(found.group(1).decode() if found else "?")

    def reset(self) -> None:
        self.count = 0
        self.done = asyncio.Event()

    def arrived(self) -> None:
        self.count += 1
        if self.count == self.total:
            self.done.set()


def _itself(client: LightClient) -> LightClient:
    return client


async def light_clients(base: str, token: str, n: int, counter: Arrivals) -> list[LightClient]:
    loop = asyncio.get_running_loop()
    host, port = base.split(":")
    uri = f"ws://{base}/ws/command?token={token}"
    clients = []
    for i in range(0, n, 100):  # connect in batches so the accept queue keeps up
        batch = [LightClient(uri, counter) for _ in range(min(100, n - i))]
        await asyncio.gather(*(loop.create_connection(functools.partial(_itself, c), host, int(port)) for c in batch))
        await asyncio.wait_for(asyncio.gather(*(c.open for c in batch)), 30)
        clients.extend(batch)
    return clients


class Side:
    """One side of the fan-out: its clients, their arrivals, what rings them, and its rounds' times."""

    def __init__(self, total: int, ring: Callable[[int], Awaitable[object]]) -> None:
        self.counter = Arrivals(total)
        self.ring = ring
        self.clients: list[LightClient] = []
        self.times: list[float] = []
        self.cpu: list[float] = []  # this (measuring) process's CPU seconds in each round

    async def round(self, n: int, *, timed: bool = True) -> None:
        """One event to every client; its time kept when ``timed`` and ``n`` is not a warm-up round's (< 0)."""
        # This one process holds all the clients: its own garbage collection (thousands of connections' objects)
        # would pause the reading clients mid-measure. Collect between rounds, not during them.
        gc.collect()
        gc.disable()
        try:
            self.counter.reset()
            started, cpu = time.perf_counter(), time.process_time()
            await self.ring(n)
            await asyncio.wait_for(self.counter.done.wait(), 60)
            if timed and n >= 0:
                self.times.append(time.perf_counter() - started)
                self.cpu.append(time.process_time() - cpu)
        finally:
            gc.enable()
