"""What the live websockets share (``/ws/command``, web/routes/live.py; ``/ws/field``, web/routes/field.py): opening
a socket for a proven user, the ``since`` a client resumes from, the replay of what it missed, then the live events
from the hub — each passed through the stream's own judgement of what this client gets — while the client's
messages are read (a flood is cut off) and its user is proven again.

Close codes, for every stream:

- 1008: refused at connect (no token, or no auth message in time; a forged or expired token; a role that may not
  watch), or a flood of client messages;
- 4401: the token expired while the socket was open, or its user was deactivated, removed or given a new password;
- 4403: the user's role (or a field user's unit) was changed to one that may not watch this stream;
- 4400: a bad request (``since`` not a number or in the future), sent after an ``{"type": "error", "detail"}``;
- 4404: what the client asked to follow does not exist for it (a field user asking for another unit's stream);
- 4008: the client reads too slowly — it reconnects with ``since`` set to the last id it received and loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, Callable, Collection

from fastapi import WebSocket, WebSocketDisconnect

from core.bounds import ascii_whole_number
from core.errors import Invalid
from core.events import EventEnvelope, newest_event_id
from core.users import Role
from notify import service as notify
from web.socket_auth import REFUSED, Refused, SocketUser, accept_with_token
from web.state import state_of

POLICY_VIOLATION = REFUSED
BAD_REQUEST = 4400
NOT_FOUND = 4404
TOO_SLOW = 4008

# What a stream makes of an event for its client: the text to send (given the hub's serialisation when there is
# one), or None for nothing.
Through = Callable[[EventEnvelope, str | None], str | None]


async def open_socket(ws: WebSocket, *, token: str | None, roles: Collection[Role], what: str) -> SocketUser | None:
    """Accept the socket and prove its user; None (the socket closed with 1008) when it may not ``what``."""
    watcher = SocketUser(ws, None, roles=roles, what=what)
    try:
        settings = state_of(ws).settings
        watcher.token = await accept_with_token(ws, query_token=token, timeout_s=settings.ws_auth_timeout_s)
        await watcher.prove()
    except Refused as exc:
        await ws.close(code=POLICY_VIOLATION, reason=exc.reason)
        return None
    except WebSocketDisconnect:
        return None
    return watcher


async def parse_since(ws: WebSocket, since: str | None) -> int | None:
    """The event id a client resumes after, checked: a whole number no larger than the newest event's."""
    if since is None:
        return None
    since_id = ascii_whole_number(since)
    if since_id is None:
        raise Invalid(f"since must be a non-negative event id, not {since[:40]!r}", field="since")
    async with state_of(ws).read_sessionmaker() as session:
        newest = await newest_event_id(session)
    if since_id > newest:
        raise Invalid(f"since={since_id} is in the future: the newest event is {newest}", field="since")
    return since_id


async def close_with_error(ws: WebSocket, exc: Invalid, *, code: int = BAD_REQUEST) -> None:
    """Tell the client what is wrong with its request, then close."""
    await ws.send_text(json.dumps({"type": "error", "field": exc.field, "detail": exc.detail}))
    await ws.close(code=code, reason=exc.detail[:120])


async def send_replay(
    ws: WebSocket,
    watcher: SocketUser,
    pages: AsyncGenerator[notify.ReplayPage, None],
    through: Through,
    *,
    after_id: int,
) -> int:
    """Send what the pages of a replay from ``after_id`` hold (the watcher still proven before each page); returns
    the last id looked at, after which the live stream goes on."""
    last = after_id
    async with contextlib.aclosing(pages):
        async for page in pages:
            await watcher.still_proven()
            for envelope in page.events:
                if (text := through(envelope, None)) is not None:
                    await ws.send_text(text)
            last = page.last_id
    return last


async def ready(ws: WebSocket, flag: str | None, last: int) -> None:
    """The opt-in ``{"type": "ready", "last_id"}`` frame (``ready=1``): subscribed, and live from after ``last``."""
    if flag in ("1", "true"):  # opt-in, so older clients see only events
        await ws.send_text(json.dumps({"type": "ready", "last_id": last}))


async def stream_live(
    ws: WebSocket, watcher: SocketUser, subscription: notify.Subscription, last: int, through: Through
) -> None:
    """Live events from the hub after ``last`` (what the replay sent is skipped), each through the stream's
    judgement in the order the client receives them; meanwhile the client's messages are read and its user is
    proven again. Returns when the client goes, is cut off, or is no longer proven."""
    tasks = [
        asyncio.create_task(_send(ws, watcher, subscription, last, through)),
        asyncio.create_task(_receive(ws, state_of(ws).settings.ws_max_client_messages_per_s)),
        asyncio.create_task(_watch(ws, watcher)),
    ]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await task
    for task in done:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            task.result()


async def _send(
    ws: WebSocket, watcher: SocketUser, subscription: notify.Subscription, last: int, through: Through
) -> None:
    while True:
        event_id, text, envelope = await subscription.queue.get()
        if event_id < 0 or envelope is None:  # the hub cut this client off
            await ws.close(code=TOO_SLOW, reason=f"too slow; reconnect with since={last}")
            return
        if event_id > last:
            try:
                await watcher.still_proven()
            except Refused as exc:
                await ws.close(code=exc.code, reason=exc.reason)
                return
            if (message := through(envelope, text)) is not None:
                await ws.send_text(message)
            last = event_id


async def _watch(ws: WebSocket, watcher: SocketUser) -> None:
    """Close the socket when its user is no longer proven, even if nothing is being sent."""
    refused = await watcher.watch(every_s=state_of(ws).settings.ws_recheck_seconds)
    await ws.close(code=refused.code, reason=refused.reason)


async def _receive(ws: WebSocket, rate_per_s: float) -> None:
    """Read (and ignore) what the client sends, so a disconnect is noticed; a flood closes the connection."""
    allowance, stamp = rate_per_s * 2, time.monotonic()
    while True:
        message = await ws.receive()  # text or binary: both are ignored (receive_text() fails on binary)
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        now = time.monotonic()
        allowance = min(rate_per_s * 2, allowance + (now - stamp) * rate_per_s)
        stamp = now
        allowance -= 1
        if allowance < 0:
            await ws.close(code=POLICY_VIOLATION, reason="too many messages")
            return
