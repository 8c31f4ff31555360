"""Web Push (RFC 8030) with message encryption (RFC 8291, aes128gcm) and VAPID (RFC 8292): the payload is
encrypted for the subscription's keys by pywebpush and signed for the push service by py_vapid, then POSTed to the
subscription's endpoint through the same checked HTTP client as every other request. pywebpush (with requests and
aiohttp behind it) is imported here, on the first push: a web worker never loads it (tests/test_lean_worker.py)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import urlsplit

from notify.channels import Outgoing, SafeHTTP, SendFailed, judge

# A push service takes at most 4096 bytes of encrypted payload; the record's overhead leaves this much for ours.
MAX_PAYLOAD = 3800
TTL_S = 3600  # a phone that is off for an hour gets the alert when it is back; later it is stale
VAPID_LIFETIME_S = 12 * 3600
GONE = frozenset({404, 410})  # the subscription has expired or was withdrawn: never try it again


def b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def check_keys(p256dh: str, auth: str) -> None:
    """Raises ValueError unless ``p256dh`` is a P-256 public key (65 bytes, uncompressed, on the curve) and
    ``auth`` a 16-byte secret, both base64url."""
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        point = b64url_decode(p256dh)
        secret = b64url_decode(auth)
    except (ValueError, TypeError) as exc:
        raise ValueError("the keys must be base64url") from exc
    if len(point) != 65 or point[0] != 4:
        raise ValueError("p256dh must be an uncompressed P-256 public key (65 bytes)")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:
        raise ValueError("p256dh is not a point on the P-256 curve") from exc
    if len(secret) != 16:
        raise ValueError("auth must be 16 bytes")


def payload(outgoing: Outgoing) -> bytes:
    """What the service worker receives: the delivery id, a title and text for the notification, and the data."""
    document: dict[str, Any] = {
        "delivery_id": outgoing.id,
        "kind": outgoing.kind,
        "incident_id": outgoing.incident_id,
        "title": outgoing.subject,
        "body": outgoing.body,
        "data": dict(outgoing.data),
    }
    raw = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    if len(raw) > MAX_PAYLOAD:  # the data is one GET away; the notification itself must arrive
        document["data"] = {}
        document["body"] = outgoing.body[:500]
        raw = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    return raw


class WebPush:
    """Sends to one subscription per delivery (its endpoint is the address, its keys travel with it)."""

    def __init__(self, http: SafeHTTP, *, private_key: str | None, subject: str) -> None:
        self.http = http
        self.private_key = private_key
        self.subject = subject
        self._vapid: Any = None

    def _signer(self) -> Any:
        if self._vapid is None:
            from py_vapid import Vapid02  # on first use, with pywebpush

            self._vapid = Vapid02.from_string(self.private_key)
        return self._vapid

    async def send(self, outgoing: Outgoing) -> None:
        if not self.private_key:
            raise SendFailed("no VAPID key is configured (COMMANDPOST_VAPID_PRIVATE_KEY)", permanent=True)
        if not outgoing.keys:
            raise SendFailed("the push subscription was withdrawn", permanent=True)
        from pywebpush import WebPusher  # on first use: a web worker never loads it

        subscription = {"endpoint": outgoing.address, "keys": dict(outgoing.keys)}
        encrypted = WebPusher(subscription).encode(payload(outgoing), content_encoding="aes128gcm")
        parts = urlsplit(outgoing.address)
        claims = {
            "sub": self.subject,
            "aud": f"{parts.scheme}://{parts.netloc}",
            "exp": int(time.time()) + VAPID_LIFETIME_S,  # the push service's clock, not the sweep's
        }
        headers = {
            **self._signer().sign(claims),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(TTL_S),
            "Urgency": "high",
        }
        judge(await self.http.post(outgoing.address, content=bytes(encrypted["body"]), headers=headers))
