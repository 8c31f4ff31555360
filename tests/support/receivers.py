"""Real local receivers for outbound deliveries, started by the tests (and the bench): an HTTP server whose answers
follow a script (fail twice then succeed, never succeed, hang), an SMTP server (aiosmtpd) that can refuse
recipients, and a Web Push service stand-in that checks VAPID and decrypts what it receives."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HANG = -1  # a scripted answer: read the request and never answer


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """HTTP/1.1 with keep-alive on 127.0.0.1. ``script(n)`` is the status of the n-th request (0-based): e.g.
    ``lambda n: 500 if n < 2 else 200``; ``HANG`` never answers. Every request is kept in ``received``."""

    script: Callable[[int], int] = lambda n: 200
    received: list[Received] = field(default_factory=list)
    keep: bool = True  # keep each request (a bench counts only)
    count: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> HttpReceiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)

    async def wait_for(self, n: int, timeout: float = 10.0) -> None:
        """Until ``n`` requests have arrived."""
        async with asyncio.timeout(timeout):
            while self.count < n:
                self._arrived.clear()
                await self._arrived.wait()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, path, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                n = self.count
                self.count += 1
                if self.keep:
                    self.received.append(Received(method, path, headers, body))
                self._arrived.set()
                status = self.script(n)
                if status == HANG:
                    await asyncio.sleep(3600)
                    return
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError, ValueError):
            return
        finally:
            writer.close()


# ------------------------------------------------------------------------------------------------------- SMTP


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1 (in its own thread): keeps every message; refuses recipients in ``refuse`` with 550."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.refuse = refuse or set()
        self.messages: list[bytes] = []
        self.controller: Any = None

    def start(self) -> SmtpReceiver:
        import socket

        from aiosmtpd.controller import Controller

        outer = self

        class Handler:
            async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
                if address in outer.refuse:
                    return "550 5.1.1 no such user here"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                outer.messages.append(envelope.original_content or envelope.content)
                return "250 Message accepted"

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port)
        self.controller.start()
        return self

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def stop(self) -> None:
        self.controller.stop()


# ---------------------------------------------------------------------------------------------------- Web Push


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class BrowserKeys:
    """What a browser makes when it subscribes: a P-256 key pair and a 16-byte auth secret."""

    private: Any
    auth: bytes

    @classmethod
    def new(cls) -> BrowserKeys:
        import os

        from cryptography.hazmat.primitives.asymmetric import ec

        return cls(ec.generate_private_key(ec.SECP256R1()), os.urandom(16))

    @property
    def p256dh(self) -> str:
        from cryptography.hazmat.primitives import serialization

        raw = self.private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64(raw)

    def decrypt(self, body: bytes) -> bytes:
        import http_ece

        return bytes(http_ece.decrypt(body, private_key=self.private, auth_secret=self.auth, version="aes128gcm"))


def vapid_keys() -> tuple[str, str]:
    """A VAPID key pair as ``scripts/setup`` writes it: the private key (raw 32 bytes) and public point, base64url."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64(private), b64(public)


def check_vapid(headers: dict[str, str], *, public_key: str, audience: str) -> dict[str, Any]:
    """The VAPID claims of a push request, after checking its ``Authorization: vapid t=<JWT>, k=<key>`` header: the
    key is ours, the JWT's ES256 signature verifies with it, and its audience is the push service's origin."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    scheme, _, params = headers["authorization"].partition(" ")
    assert scheme.lower() == "vapid", headers["authorization"]
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    assert parts["k"] == public_key
    point = base64.urlsafe_b64decode(parts["k"] + "=" * (-len(parts["k"]) % 4))
    verifier = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    claims: dict[str, Any] = jwt.decode(parts["t"], key=verifier, algorithms=["ES256"], audience=audience)
    return claims
