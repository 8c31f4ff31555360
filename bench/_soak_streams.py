"""The soak's websocket clients: hundreds of command-room screens and crews' phones in one process, cheap enough
that the measuring side stays small on a 2-core machine (bench/_light_clients.py's way: an asyncio protocol per
client, no task of its own, frames cut as the bytes arrive).

Each client keeps what it was sent: every event id in the order received (a ``unit.left_view`` message kept as the
negative of the id of the event that moved the unit), and, for a sample of messages, how late it came (arrival minus
the event's ``at``). When its connection goes (a worker killed, a 4008 for a slow reader, nginx restarting a socket)
it connects again with ``since=`` the last id it received, as the service's own pages do, until it is stopped."""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from bench._light_clients import pong, server_frames

_HEAD = re.compile(rb'^\{"id":(\d+),"type":"([^"]+)","at":"([^"]+)"')
_READY = re.compile(rb'^\{"type": ?"ready", ?"last_id": ?(\d+)')
LEFT_VIEW = b"unit.left_view"


@dataclass(frozen=True)
class Scope:
    """What a client asks for: the stream, and its filters (as query parameters)."""

    path: str  # /ws/command or /ws/field
    types: str | None = None
    bbox: tuple[float, float, float, float] | None = None

    def query(self) -> str:
        parts = []
        if self.types:
            parts.append(f"types={self.types}")
        if self.bbox:
            parts.append("bbox=" + ",".join(f"{v:.5f}" for v in self.bbox))
        return "&".join(parts)


@dataclass
class Record:
    """What one client saw."""

    scope: Scope
    token: str
    unit_id: int | None = None
    start: int | None = None  # the ready frame's last_id at its first connection: its scope begins after it
    ids: array[int] = field(default_factory=lambda: array("q"))
    lag_at: array[float] = field(default_factory=lambda: array("d"))
    lag_s: array[float] = field(default_factory=lambda: array("f"))
    connects: int = 0
    closes: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def last(self) -> int:
        return abs(self.ids[-1]) if self.ids else (self.start or 0)


class Client(asyncio.Protocol):
    """One connection of a client; the Record outlives it."""

    def __init__(self, uri: str, record: Record, subprotocols: list[str], sample_every: int) -> None:
        self.protocol = ClientProtocol(parse_uri(uri), subprotocols=subprotocols)  # type: ignore[arg-type]
        self.record = record
        self.sample_every = sample_every
        self.open = asyncio.get_running_loop().create_future()
        self.gone = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.pending = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        if self.open.done():
            self._frames(self.pending + data if self.pending else data)
            return
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT:
                    self._message(bytes(event.data))
                elif event.opcode is Opcode.CLOSE:
                    self._closed(bytes(event.data))
            elif not self.open.done():
                status = getattr(event, "status_code", 101)
                if status != 101:
                    self.open.set_exception(ConnectionError(f"handshake answered {status}"))
                else:
                    self.open.set_result(None)
        if self.protocol.handshake_exc is not None and not self.open.done():
            self.open.set_exception(ConnectionError(str(self.protocol.handshake_exc)))
        self._flush()

    def _frames(self, data: bytes) -> None:
        frames, used = server_frames(data)
        for opcode, payload in frames:
            if opcode == 0x1:
                self._message(payload)
            elif opcode == 0x9 and self.transport is not None:
                self.transport.write(pong(payload))
            elif opcode == 0x8:
                self._closed(payload)
        self.pending = data[used:]

    def _message(self, text: bytes) -> None:
        record = self.record
        found = _HEAD.match(text)
        if found is None:
            ready = _READY.match(text)
            if ready is not None:
                if record.start is None:
                    record.start = int(ready.group(1))
            else:
                record.errors.append(text[:200].decode(errors="replace"))
            return
        event_id = int(found.group(1))
        record.ids.append(-event_id if found.group(2) == LEFT_VIEW else event_id)
        if event_id % self.sample_every == 0:
            now = time.time()
            record.lag_at.append(now)
            record.lag_s.append(now - datetime.fromisoformat(found.group(3).decode()).timestamp())

    def _closed(self, payload: bytes) -> None:
        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        self.record.closes[code] += 1
        if self.transport is not None:
            self.transport.write(b"\x88\x82\0\0\0\0" + payload[:2])  # the close echoed, masked with zeros
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.open.done():
            self.open.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.gone.done():
            self.gone.set_result(None)

    def _flush(self) -> None:
        if self.transport is not None and (out := self.protocol.data_to_send()):
            self.transport.write(b"".join(out))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Streams:
    """Every client, kept connected (through nginx, TLS verified) until ``stop()``."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext, *, sample_every: int = 3) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.sample_every = sample_every
        self.records: list[Record] = []
        self.connected: set[int] = set()  # indexes of the records connected now
        self.live: dict[int, Client] = {}  # each record's connection now
        self.tasks: list[asyncio.Task[None]] = []
        self.stopping = False

    def add(self, record: Record) -> None:
        self.records.append(record)

    async def start(self, batch: int = 25) -> None:
        """Connect every client (in batches, so the accept queues keep up) and wait for each one's ready frame."""
        for i in range(0, len(self.records), batch):
            opened = []
            for index in range(i, min(i + batch, len(self.records))):
                event = asyncio.Event()
                self.tasks.append(asyncio.create_task(self._keep(index, event)))
                opened.append(event.wait())
            await asyncio.wait_for(asyncio.gather(*opened), 120)

    async def _keep(self, index: int, first_open: asyncio.Event) -> None:
        record = self.records[index]
        loop = asyncio.get_running_loop()
        while not self.stopping:
            query = record.scope.query()
            since = f"&since={record.last}" if record.start is not None else ""
            uri = f"wss://{self.host}:{self.port}{record.scope.path}?ready=1{since}" + (f"&{query}" if query else "")
            client = Client(uri, record, ["commandpost.bearer", record.token], self.sample_every)
            try:
                await loop.create_connection(lambda c=client: c, self.host, self.port, ssl=self.tls)  # type: ignore[misc]
                await asyncio.wait_for(client.open, 30)
            except (OSError, TimeoutError, ConnectionError) as exc:
                client.close()
                record.errors.append(f"connect: {type(exc).__name__} {str(exc)[:80]}")
                await asyncio.sleep(0.5)
                continue
            record.connects += 1
            self.connected.add(index)
            self.live[index] = client
            first_open.set()
            try:
                await client.gone
            finally:
                self.connected.discard(index)
            if not self.stopping:
                await asyncio.sleep(0.2)

    async def stop(self) -> None:
        self.stopping = True
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for client in self.live.values():
            client.close()
