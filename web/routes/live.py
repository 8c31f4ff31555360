"""``WS /ws/command``: every committed event, replayed from an id and then live, to the command room's screens.

Protocol: connect with a token — offered as the subprotocols ``["commandpost.bearer", "<token>"]`` (preferred: it
stays out of URLs), as ``?token=``, or sent as the first message ``{"type": "auth", "token": "<token>"}`` within
``ws_auth_timeout_s`` (web/socket_auth.py) — and optionally ``since=<event id>``, ``incident=<id>``,
``types=incident.,unit.``, ``bbox=minlon,minlat,maxlon,maxlat`` (a unit shown inside it that moves out gets one
``unit.left_view`` message: ``{"id", "type", "at", "data": {"id": <unit>, "location"}}``, carrying the id of the
event that moved it, and nothing more until it is back). Each message is ``{"id", "type", "at", "data"}``
with strictly increasing ids. Heartbeats are websocket pings (the server's). A client that connects with
``ready=1`` first gets ``{"type": "ready", "last_id": n}`` once it is subscribed (and the replay is sent): every
event after ``n`` follows. Close codes: web/streaming.py.
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from command import service as command
from core.bounds import ascii_whole_number
from core.errors import Invalid
from core.events import EventEnvelope
from core.users import Role
from notify import service as notify
from notify.schemas import EventFilter, StreamFilter, WithIncidentEvents
from web import metrics, streaming
from web.deps import caller_of
from web.listing import bbox_param
from web.socket_auth import Refused
from web.state import state_of

router = APIRouter()

WATCHERS = frozenset({Role.admin, Role.commander, Role.duty_officer, Role.observer})


def _filter(incident: str | None, types: str | None, bbox: str | None) -> EventFilter:
    incident_id = ascii_whole_number(incident) if incident is not None else None
    if incident is not None and incident_id is None:
        raise Invalid("incident must be an incident id", field="incident")
    prefixes = tuple(p.strip() for p in types.split(",") if p.strip()) if types else ()
    return EventFilter(incident_id=incident_id, type_prefixes=prefixes, bbox=bbox_param(bbox))


def _through(view: notify.UnitView | None) -> streaming.Through:
    """What the client gets of an event: the event, the news that a unit left its view, or nothing."""

    def through(envelope: EventEnvelope, text: str | None) -> str | None:
        verdict = view.judge(envelope) if view is not None else "send"
        if verdict == "send":
            return text if text is not None else notify.serialise(envelope)
        return notify.left_view_text(envelope) if verdict == "left" else None

    return through


def _scoped(scope: StreamFilter, then: streaming.Through) -> streaming.Through:
    """``then``, for the events ``scope`` accepts (asked once per event, in id order)."""

    def through(envelope: EventEnvelope, text: str | None) -> str | None:
        return then(envelope, text) if scope.accepts(envelope) else None

    return through


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
    watcher = await streaming.open_socket(ws, token=token, roles=WATCHERS, what="watch the command room")
    if watcher is None:
        return
    try:
        since_id = await streaming.parse_since(ws, since)
        event_filter = _filter(incident, types, bbox)
    except Invalid as exc:
        await streaming.close_with_error(ws, exc)
        return

    state = state_of(ws)
    hub = state.live.hub
    user = watcher.user
    assert user is not None
    watcher.hold_jurisdictions(user.jurisdiction_ids)
    # A caller scoped to jurisdictions: the hub also queues every incident event, and the scope's filter (its state
    # read just after subscribing) decides each event in id order, the replay's first, then the client's filter.
    queued: StreamFilter = event_filter if user.jurisdiction_ids is None else WithIncidentEvents(event_filter)
    subscription = hub.subscribe(queued)
    metrics.stream_opened("command")
    area = event_filter.bbox
    view = _through(notify.UnitView(area) if area is not None else None)
    try:
        async with state.read_sessionmaker() as session:
            scoped = await command.command_stream_filter(
                session, caller=caller_of(user), inner=event_filter, events_after=since_id
            )
        through = _scoped(scoped or event_filter, view)
        # Subscribe first, then replay: whatever commits meanwhile is in the queue, and ids already sent are skipped.
        if since_id is not None:
            pages = notify.replay(state.read_sessionmaker, after_id=since_id, accepts=queued.accepts)
            last = await streaming.send_replay(ws, watcher, pages, through, after_id=since_id)
        else:
            last = hub.last_id
        await streaming.ready(ws, ready, last)
        await streaming.stream_live(ws, watcher, subscription, last, through)
    except Refused as exc:  # during the replay
        await ws.close(code=exc.code, reason=exc.reason)
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(subscription)
        metrics.stream_closed("command")
