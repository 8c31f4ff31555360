"""The channels a delivery leaves by, behind one small interface: ``await channel.send(outgoing)`` returns when the
receiver took the message and raises ``SendFailed`` when it did not (``permanent``: trying again will not help).

Every HTTP request goes to an address that ``notify.urls`` has checked at that moment (the name is resolved, each
address checked, and the connection made to the checked address, with the name kept for Host and TLS), and
redirects are not followed: a webhook that answers 3xx has not taken the message.

Webhook and SMS gateway live here; email (aiosmtplib) and Web Push (pywebpush) in modules of their own, imported
on first use so that a web worker does not load them (tests/test_lean_worker.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import string
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from core.settings import Settings
from notify.urls import RefusedURL, check_url, resolve_checked

if TYPE_CHECKING:
    import httpx

# HTTP answers that mean "not now" rather than "never": the delivery is tried again.
RETRYABLE_STATUSES = frozenset({408, 425, 429})
MAX_ERROR_LENGTH = 500


class SendFailed(Exception):
    """The receiver did not take the message. ``permanent``: it refused it for good (no retry); ``status``: the
    answer's status code, when there was one."""

    def __init__(self, reason: str, *, permanent: bool = False, status: int | None = None) -> None:
        super().__init__(reason[:MAX_ERROR_LENGTH])
        self.permanent = permanent
        self.status = status


@dataclass(frozen=True)
class Outgoing:
    """What a channel needs to send one delivery: its id (the same on every try), the address, the message, and
    for Web Push the subscription's keys."""

    id: int
    kind: str
    address: str
    subject: str
    body: str
    data: Mapping[str, Any]
    at: datetime  # the moment of this try (the sweep's clock)
    incident_id: int | None = None
    keys: Mapping[str, str] = field(default_factory=dict)


class Channel(Protocol):
    async def send(self, outgoing: Outgoing) -> None: ...


class SafeHTTP:
    """One pooled httpx client for every outbound HTTP request, each sent to a checked address."""

    def __init__(self, *, timeout_s: float, max_connections: int = 100) -> None:
        import httpx  # on first use: a web worker that sends nothing never loads it

        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    async def post(self, url: str, *, content: bytes, headers: Mapping[str, str]) -> httpx.Response:
        """POST ``content`` to ``url``; ``SendFailed`` for a refused URL, a network failure or a timeout (an answer,
        whatever its status, is returned)."""
        try:
            checked = check_url(url)
            addresses = await resolve_checked(checked.host, checked.port)
        except RefusedURL as exc:
            raise SendFailed(f"refused: {exc}", permanent=True) from exc
        parts = urlsplit(url)
        address = addresses[0]
        literal = f"[{address}]" if ":" in address else address
        netloc = f"{literal}:{parts.port}" if parts.port else literal
        target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        host_header = checked.host if parts.port is None else f"{checked.host}:{parts.port}"
        extensions = {"sni_hostname": checked.host} if checked.https else {}
        import httpx

        try:
            return await self.client.post(
                target, content=content, headers={**headers, "Host": host_header}, extensions=extensions
            )
        except httpx.TimeoutException as exc:
            raise SendFailed(f"timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise SendFailed(f"{type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        await self.client.aclose()


def judge(response: httpx.Response) -> None:
    """A 2xx took the message; 408, 425, 429 and 5xx are worth another try; any other answer is a refusal."""
    if 200 <= response.status_code < 300:
        return
    reason = f"HTTP {response.status_code}: {response.text[:200]}"
    retry = response.status_code >= 500 or response.status_code in RETRYABLE_STATUSES
    raise SendFailed(reason, permanent=not retry, status=response.status_code)


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """API.md's webhook signature: ``sha256=`` and the hex HMAC-SHA256 of ``timestamp + "." + body``."""
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def webhook_body(outgoing: Outgoing) -> bytes:
    """The JSON a webhook receives: the delivery id, what it is about, the text, and its data."""
    document = {
        "delivery_id": outgoing.id,
        "kind": outgoing.kind,
        "incident_id": outgoing.incident_id,
        "subject": outgoing.subject,
        "text": outgoing.body,
        "data": dict(outgoing.data),
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


class Webhook:
    """JSON POSTed to the contact's URL, signed (API.md "Delivery and contacts")."""

    def __init__(self, http: SafeHTTP, secret: str | None) -> None:
        self.http = http
        self.secret = secret.encode() if secret else None

    async def send(self, outgoing: Outgoing) -> None:
        if self.secret is None:
            raise SendFailed("COMMANDPOST_WEBHOOK_SECRET is not set: webhooks are not sent unsigned", permanent=True)
        body = webhook_body(outgoing)
        timestamp = int(outgoing.at.timestamp())
        headers = {
            "Content-Type": "application/json",
            "X-Commandpost-Delivery": str(outgoing.id),
            "X-Commandpost-Timestamp": str(timestamp),
            "X-Commandpost-Signature": sign(self.secret, timestamp, body),
        }
        judge(await self.http.post(outgoing.address, content=body, headers=headers))


# ------------------------------------------------------------------------------------------------------------ SMS

# GSM 03.38's basic alphabet: a text of these alone goes as 7-bit (160 a message, 153 a part); anything else as
# UCS-2 (70, 67 a part), counted in UTF-16 units (a character beyond the BMP takes two).
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
ELLIPSIS = "…"
_JOINERS = {"\u200d", "\u20e3"}  # zero-width joiner, combining enclosing keycap


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _continues(char: str) -> bool:
    """A character that belongs to the one before it (a combining mark, a variation selector, a joiner)."""
    return (
        unicodedata.combining(char) != 0
        or unicodedata.category(char) in ("Mn", "Me")
        or "\ufe00" <= char <= "\ufe0f"
        or "\U0001f3fb" <= char <= "\U0001f3ff"  # skin tones
        or char in _JOINERS
    )


def sms_limit(text: str, segments: int) -> tuple[int, bool]:
    """How many units ``segments`` messages hold for ``text``, and whether it goes as 7-bit."""
    gsm = all(c in _GSM7 for c in text)
    if segments == 1:
        return (160 if gsm else 70), gsm
    return (153 if gsm else 67) * segments, gsm


def cut_sms(text: str, *, segments: int = 1) -> str:
    """``text`` cut to fit ``segments`` SMS messages, ending in "…" when cut, never inside a character: not
    between the halves of a surrogate pair, nor between a character and the marks, joiners or selectors that
    belong to it (a cut goes back to the start of that cluster)."""
    limit, gsm = sms_limit(text, segments)
    measure = len if gsm else _units
    if measure(text) <= limit:
        return text
    if gsm:
        limit, _ = sms_limit(text + ELLIPSIS, segments)  # "…" is not GSM-7: the whole text goes as UCS-2
        measure = _units
    room = limit - measure(ELLIPSIS)
    end = 0
    used = 0
    for i, char in enumerate(text):
        used += measure(char)
        if used > room:
            break
        end = i + 1
    while 0 < end < len(text) and (_continues(text[end]) or text[end - 1] in _JOINERS or _splits_flag(text, end)):
        end -= 1  # the cluster would be split: leave it out whole
    return text[:end].rstrip() + ELLIPSIS


def _regional(char: str) -> bool:
    return "🇦" <= char <= "🇿"


def _splits_flag(text: str, end: int) -> bool:
    """A flag is two regional indicators: a cut after an odd number of them in a row splits one."""
    if not (_regional(text[end]) and _regional(text[end - 1])):
        return False
    run = 0
    while end - run - 1 >= 0 and _regional(text[end - run - 1]):
        run += 1
    return run % 2 == 1


class SmsGateway:
    """A provider's HTTP API: POST the configured JSON template with $to, $text, $id filled in (each value escaped
    as JSON), with the configured auth header. The same adapter drives a voice-call provider's API (``kind``
    voice: its own URL and template, and the text is not cut to SMS segments)."""

    def __init__(
        self,
        http: SafeHTTP,
        *,
        url: str | None,
        auth_header: str | None,
        template: str,
        segments: int | None,
        kind: str = "sms",
    ) -> None:
        self.http = http
        self.url = url
        self.auth = _header(auth_header) if auth_header else None
        self.template = json.loads(template)
        self.segments = segments
        self.kind = kind

    def render(self, outgoing: Outgoing) -> bytes:
        text = cut_sms(outgoing.body, segments=self.segments) if self.segments else outgoing.body
        values = {"to": outgoing.address, "text": text, "id": outgoing.id}
        return json.dumps(_fill(self.template, values), ensure_ascii=False).encode()

    async def send(self, outgoing: Outgoing) -> None:
        if not self.url:
            setting = f"COMMANDPOST_{self.kind.upper()}_GATEWAY_URL"
            raise SendFailed(f"no {self.kind} gateway is configured ({setting})", permanent=True)
        headers = {"Content-Type": "application/json", "X-Commandpost-Delivery": str(outgoing.id)}
        if self.auth:
            headers[self.auth[0]] = self.auth[1]
        judge(await self.http.post(self.url, content=self.render(outgoing), headers=headers))


def _header(line: str) -> tuple[str, str]:
    name, _, value = line.partition(":")
    if not name.strip() or not value.strip():
        raise ValueError("the SMS gateway's auth header must read 'Name: value'")
    return name.strip(), value.strip()


def _fill(node: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(node, str):
        return string.Template(node).safe_substitute({k: str(v) for k, v in values.items()})
    if isinstance(node, list):
        return [_fill(item, values) for item in node]
    if isinstance(node, dict):
        return {key: _fill(item, values) for key, item in node.items()}
    return node


def check_template(template: str) -> None:
    """Raises ValueError when the SMS body template is not a JSON document."""
    json.loads(template)


def monotonic_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def http_for(settings: Settings) -> SafeHTTP:
    return SafeHTTP(
        timeout_s=settings.delivery_timeout_seconds,
        max_connections=settings.delivery_concurrency,
    )
