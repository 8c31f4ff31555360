"""``WS /ws/command``: every committed event, replayed from an id and then live, to the command room's screens.

Protocol: connect with a token — offered as the subprotocols ``["commandpost.bearer", "<token>"]`` (preferred: it
stays out of URLs), as ``?token=``, or sent as the first message ``{"type": "auth", "token": "<token>"}`` within
``ws_auth_timeout_s`` (web/socket_auth.py) — and optionally ``since=<event id>``, ``incident=<id>``,
``types=incident.,unit.``, ``bbox=minlon,minlat,maxlon,maxlat`` (a unit shown inside it that moves out gets one
``unit.left_view`` message: ``{"id", "type", "at", "data": {"id": <unit>, "location"}}``, carrying the id of the
event that moved it, and nothing more until it is back). Each message is ``{"id", "type", "at", "data"}``
with strictly increasing ids. Heartbeats are websocket pings (the server's). A client that connects with
``ready=1`` first gets ``{"type": "ready", "last_id": n}`` once it is subscribed (and the replay is sent): every
event after ``n`` follows.

Close codes:

- 1008: refused at connect (no token, or no auth message in time; a forged or expired token; a role that may not
  watch), or a flood of client messages;
- 4401: the token expired while the socket was open, or its user was deactivated, removed or given a new password
  (checked before every message sent, through the auth cache, and every ``ws_recheck_seconds``): sign in again;
- 4403: the user's role was changed to one that may not watch;
- 4400: a bad request (``since`` not a number or in the future), sent after an ``{"type": "error", "detail"}``
  message;
- 4008: the client reads too slowly — it reconnects with ``since`` set to the last id it received and loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from core.bounds import ascii_whole_number
from core.errors import Invalid
from core.events import EventEnvelope, newest_event_id
from core.users import Role
from notify import service as notify
from notify.schemas import EventFilter
from web.listing import bbox_param
from web.socket_auth import REFUSED, Refused, SocketUser, accept_with_token
from web.state import state_of

router = APIRouter()

WATCHERS = frozenset({Role.admin, Role.commander, Role.duty_officer, Role.observer})
POLICY_VIOLATION = REFUSED
BAD_REQUEST = 4400
TOO_SLOW = 4008


async def _parse(
    ws: WebSocket, since: str | None, incident: str | None, types: str | None, bbox: str | None
) -> tuple[int | None, EventFilter]:
    since_id: int | None = None
    if since is not None:
        since_id = ascii_whole_number(since)
        if since_id is None:
            raise Invalid(f"since must be a non-negative event id, not {since[:40]!r}", field="since")
        async with state_of(ws).read_sessionmaker() as session:
            newest = await newest_event_id(session)
        if since_id > newest:
            raise Invalid(f"since={since_id} is in the future: the newest event is {newest}", field="since")
    incident_id = ascii_whole_number(incident) if incident is not None else None
    if incident is not None and incident_id is None:
        raise Invalid("incident must be an incident id", field="incident")
    prefixes = tuple(p.strip() for p in types.split(",") if p.strip()) if types else ()
    return since_id, EventFilter(incident_id=incident_id, type_prefixes=prefixes, bbox=bbox_param(bbox))


def _through(view: notify.UnitView | None, envelope: EventEnvelope, text: str | None = None) -> str | None:
    """What the client gets of an event: the event, the news that a unit left its view, or nothing."""
    verdict = view.judge(envelope) if view is not None else "send"
    if verdict == "send":
        return text if text is not None else notify.serialise(envelope)
    return notify.left_view_text(envelope) if verdict == "left" else None


async def _replay(
    ws: WebSocket, watcher: SocketUser, after_id: int, event_filter: EventFilter, view: notify.UnitView | None
) -> int:
    """Send every committed event after ``after_id`` that passes the filter (notify's replay, page by page, the
    watcher still proven before each page); returns the last id looked at."""
    last = after_id
    pages = notify.replay(state_of(ws).read_sessionmaker, after_id=after_id, accepts=event_filter.accepts)
    async with contextlib.aclosing(pages):
        async for page in pages:
            await watcher.still_proven()
            for envelope in page.events:
                if (text := _through(view, envelope)) is not None:
                    await ws.send_text(text)
            last = page.last_id
    return last


async def _send(
    ws: WebSocket, watcher: SocketUser, subscription: notify.Subscription, last: int, view: notify.UnitView | None
) -> None:
    """Live events from the hub, skipping what the replay already sent, judged by the client's view in the order
    it receives them; ends when the client is cut off or its user is no longer proven."""
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
            if (message := _through(view, envelope, text)) is not None:
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


@router.websocket("/ws/command")
async def command_room(
    ws: WebSocket,
    token: str | None = None,
    since: str | None = None,
    incident: str | None = None,
    types: str | None = None,
    bbox: str | None = None,
    ready: str | None = None,
) -> None:
    watcher = SocketUser(ws, None, roles=WATCHERS, what="watch the command room")
    try:
        settings = state_of(ws).settings
        watcher.token = await accept_with_token(ws, query_token=token, timeout_s=settings.ws_auth_timeout_s)
        await watcher.prove()
    except Refused as exc:
        await ws.close(code=POLICY_VIOLATION, reason=exc.reason)
        return
    except WebSocketDisconnect:
        return
    try:
        since_id, event_filter = await _parse(ws, since, incident, types, bbox)
    except Invalid as exc:
        await ws.send_text(json.dumps({"type": "error", "field": exc.field, "detail": exc.detail}))
        await ws.close(code=BAD_REQUEST, reason=exc.detail[:120])
        return

    hub = state_of(ws).live.hub
    subscription = hub.subscribe(event_filter)
    area = event_filter.bbox
    view = notify.UnitView(area) if area is not None else None
    try:
        # Subscribe first, then replay: whatever commits meanwhile is in the queue, and ids already sent are skipped.
        last = await _replay(ws, watcher, since_id, event_filter, view) if since_id is not None else hub.last_id
        if ready in ("1", "true"):  # opt-in, so older clients see only events: "subscribed, live from here"
            await ws.send_text(json.dumps({"type": "ready", "last_id": last}))
        tasks = [
            asyncio.create_task(_send(ws, watcher, subscription, last, view)),
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
    except Refused as exc:  # during the replay
        await ws.close(code=exc.code, reason=exc.reason)
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(subscription)
