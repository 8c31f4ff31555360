"""Who is at the other end of a websocket: proven at connect, and proven again for as long as it stays open.

The token may come, in order of preference:

1. in the ``Sec-WebSocket-Protocol`` header: the client offers the subprotocols ``["commandpost.bearer", "<token>"]``
   (a browser: ``new WebSocket(url, ["commandpost.bearer", token])``) and the server selects ``commandpost.bearer``
   (never the token, which would be echoed back);
2. as ``?token=`` (kept for existing clients; the token is redacted from every log line, see web/logs.py);
3. as the first message, ``{"type": "auth", "token": "<token>"}``, within ``ws_auth_timeout_s``.

Header and first message keep the token out of URLs, and so out of proxies' and browsers' histories.
Once open, the socket's user (still there, active, same password, role still allowed) is proven again through the
app's AuthCache before every message the server sends (so events stop reaching a deactivated user within
``auth_cache_seconds``, as HTTP requests do), every ``ws_recheck_seconds`` when nothing is sent, and at the token's
expiry.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Collection
from datetime import datetime

from fastapi import WebSocket, WebSocketDisconnect

from core.clock import utcnow
from core.errors import Unauthenticated
from core.users import Role, Signer
from web.deps import CurrentUser, user_from_token
from web.security import AuthCache
from web.state import state_of

log = logging.getLogger(__name__)

BEARER_PROTOCOL = "commandpost.bearer"
REFUSED = 1008  # at connect: no token, a bad one, a role that may not
REVOKED = 4401  # while open: the token expired, or its user was deactivated, removed or given a new password
ROLE_WITHDRAWN = 4403  # while open: the user's role no longer may


class Refused(Exception):
    """The socket's user is no longer (or was never) proven: close with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason[:120]  # a close frame's reason has at most 123 bytes


async def accept_with_token(ws: WebSocket, *, query_token: str | None, timeout_s: float) -> str | None:
    """Accept the socket and find its token (header, query or first message); None when none came."""
    offered = list(ws.scope.get("subprotocols") or [])
    if BEARER_PROTOCOL in offered:
        await ws.accept(subprotocol=BEARER_PROTOCOL)
        rest = [protocol for protocol in offered if protocol != BEARER_PROTOCOL]
        if rest:
            return rest[0]
    else:
        await ws.accept()
    if query_token:
        return query_token
    try:
        message = await asyncio.wait_for(ws.receive(), timeout_s)
    except TimeoutError:
        return None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    try:
        first = json.loads(message.get("text") or "")
    except ValueError:
        return None
    if isinstance(first, dict) and first.get("type") == "auth" and isinstance(first.get("token"), str):
        return str(first["token"])
    return None


class SocketUser:
    """An open socket's user and the proof of it, re-checked while the socket lives."""

    def __init__(self, ws: WebSocket, token: str | None, *, roles: Collection[Role], what: str) -> None:
        self.ws = ws
        self.token = token
        self.roles = roles
        self.what = what  # e.g. "watch the command room", for the refusal
        self.unit_id: int | None = None  # a field stream's unit: the user must stay bound to it
        # A command stream's jurisdictions (None: unscoped): the user's must stay these, as its filter was built on
        # them (``hold_jurisdictions``); a user scoped or unscoped since is cut off and connects again.
        self._jurisdictions: tuple[int, ...] | None = None
        self._holds_jurisdictions = False
        self.user: CurrentUser | None = None
        self.expires_at: datetime = utcnow()
        self._expires_ts = 0.0
        self._proven_with: Signer | None = None  # the auth cache's reading of the user that the last proof used
        self._cache: AuthCache | None = None  # the app's, kept: this check runs for every message sent

    async def prove(self) -> CurrentUser:
        """Prove the token's user now, through the app's AuthCache (the database only when it cannot tell)."""
        if not self.token:
            raise Refused(REFUSED, "a token is required: see the Sec-WebSocket-Protocol, ?token= or auth message")
        state = state_of(self.ws)
        try:
            claims = state.auth_cache.claims(self.token, settings=state.settings)
            user = await user_from_token(
                state.read_sessionmaker, settings=state.settings, token=self.token, cache=state.auth_cache
            )
        except Unauthenticated as exc:
            raise Refused(REVOKED, exc.detail) from exc
        if user.role not in self.roles:
            raise Refused(ROLE_WITHDRAWN, f"role {user.role.value!r} may not {self.what}")
        if self.unit_id is not None and user.unit_id != self.unit_id:
            raise Refused(ROLE_WITHDRAWN, f"the user is no longer bound to unit {self.unit_id}")
        if self._holds_jurisdictions and user.jurisdiction_ids != self._jurisdictions:
            raise Refused(ROLE_WITHDRAWN, "the user's jurisdictions changed; connect again")
        self.user, self.expires_at = user, claims.expires_at
        self._expires_ts = claims.expires_at.timestamp()
        self._proven_with = state.auth_cache.signer(claims.username)
        self._cache = state.auth_cache
        return user

    def hold_jurisdictions(self, jurisdiction_ids: tuple[int, ...] | None) -> None:
        """From now on the user must keep these jurisdictions (None: stay unscoped) to stay proven."""
        self._jurisdictions, self._holds_jurisdictions = jurisdiction_ids, True

    async def still_proven(self) -> None:
        """``prove`` again, raising only Refused: when the database does not answer, the last proof stands.

        Nothing to do while the token has not expired and the auth cache still holds the very reading of the user
        the last proof used (the common case, for every message of a busy stream)."""
        if (
            self._proven_with is not None
            and time.time() < self._expires_ts
            and self._cache is not None
            and self._cache.holds(self._proven_with)
        ):
            return
        try:
            await self.prove()
        except Refused:
            raise
        except Exception as exc:  # an outage must not close every socket; the next check tries again
            log.warning("could not re-check a websocket's user: %s", type(exc).__name__)

    async def watch(self, *, every_s: float) -> Refused:
        """Prove the user every ``every_s`` and at the token's expiry; returns why it no longer is."""
        while True:
            until_expiry = (self.expires_at - utcnow()).total_seconds()
            # A little past the expiry, so that the check sees it expired (clocks and whole-second claims).
            await asyncio.sleep(max(0.05, min(every_s, until_expiry + 0.05)))
            try:
                await self.still_proven()
            except Refused as exc:
                return exc
