"""A TCP proxy the test controls, to simulate a server that goes away without touching the real one."""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target. ``block()`` cuts every connection and refuses new ones until
    ``unblock()``; ``black_hole()`` keeps every connection open but forwards nothing, either way, and accepts new
    ones without ever answering them (a network that drops packets), until ``heal()``. The real server behind it
    never notices."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.blocked = False
        self._flowing = asyncio.Event()
        self._flowing.set()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._flowing.set()  # held pipes wake up and find their connections cut
        self._cut_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def block(self) -> None:
        self.blocked = True
        self._cut_all()

    def unblock(self) -> None:
        self.blocked = False

    def black_hole(self) -> None:
        """Silence: bytes in flight are held (as TCP would keep retransmitting them), nothing is refused."""
        self._flowing.clear()

    def heal(self) -> None:
        """The network is back: held bytes go through, held connections reach the server."""
        self._flowing.set()

    def _cut_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.blocked:
            client_writer.transport.abort()
            return
        self._writers.add(client_writer)
        await self._flowing.wait()  # a black hole answers no handshake
        if client_writer.transport.is_closing():  # the client gave up, or the proxy stopped, meanwhile
            self._writers.discard(client_writer)
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.add(server_writer)
        await asyncio.gather(
            self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await self._flowing.wait()
                data = await reader.read(65536)
                if not data:
                    break
                await self._flowing.wait()  # read just before the silence began: held, not lost
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()
