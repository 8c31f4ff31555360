"""``WS /ws/field``: a field unit's crew gets its own unit's news, replayed from an id and then live.

What it gets (the rule is ``command.visibility``'s, one for replay and live): its unit's dispatches and their changes
(the alert ``dispatch.created`` carries the incident it is sent to; ``dispatch.warning`` is the re-alert of a missed
deadline; ``dispatch.updated`` / ``dispatch.closed``: its status and the end or cancellation of the assignment), the
unit's own events (its status, ``unit.overdue``, ``unit.stale``; not the echo of its own positions), messages
addressed to it, and the ``incident.*`` events of the incidents it was sent to, from its dispatch on. Never anything
of another unit, nor of an incident it was not sent to.

Protocol as ``/ws/command`` (web/routes/live.py): the token in the subprotocol header, ``?token=`` or a first
message; ``since=<event id>`` to resume (every event it missed, then live: none missed, none twice); ``ready=1`` for
the ready frame. ``unit=<id>`` may name the user's own unit; any other is closed with 4404, as one that does not
exist. Only a ``field_unit`` user bound to a unit may connect (1008 otherwise); re-bound to another unit while
connected, it is closed with 4403. Close codes: web/streaming.py.
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from command import service as command
from core.bounds import ascii_whole_number
from core.errors import Invalid
from core.events import EventEnvelope
from core.users import Role
from notify import service as notify
from notify.schemas import UnitFilter
from web import metrics, streaming
from web.socket_auth import Refused
from web.state import state_of

router = APIRouter()

CREWS = frozenset({Role.field_unit})


def _unit_asked(unit: str | None, own: int) -> int:
    """The unit the client names (its own, when it names none)."""
    if unit is None:
        return own
    asked = ascii_whole_number(unit)
    if asked is None:
        raise Invalid("unit must be a unit id", field="unit")
    return asked


def _through(exact: UnitFilter) -> streaming.Through:
    """Live events, judged in the order the client receives them by the stream's own filter (the hub's may have let
    more through while the stream started)."""

    def through(envelope: EventEnvelope, text: str | None) -> str | None:
        if not exact.accepts(envelope):
            return None
        return text if text is not None else notify.serialise(envelope)

    return through


@router.websocket("/ws/field")
async def field_stream(
    ws: WebSocket,
    token: str | None = None,
    since: str | None = None,
    unit: str | None = None,
    ready: str | None = None,
) -> None:
    watcher = await streaming.open_socket(ws, token=token, roles=CREWS, what="follow a unit's field stream")
    if watcher is None:
        return
    own = watcher.user.unit_id if watcher.user is not None else None
    if own is None:
        await ws.close(code=streaming.POLICY_VIOLATION, reason="this field user is bound to no unit")
        return
    try:
        since_id = await streaming.parse_since(ws, since)
        if _unit_asked(unit, own) != own:  # another unit's stream: as if there were no such unit
            await streaming.close_with_error(
                ws, Invalid(f"unit {unit} does not exist", field="unit"), code=streaming.NOT_FOUND
            )
            return
    except Invalid as exc:
        await streaming.close_with_error(ws, exc)
        return
    watcher.unit_id = own

    state = state_of(ws)
    hub = state.live.hub
    # The hub's filter lets every incident event through until the unit's incidents are read (just below); the
    # stream's exact filter decides each event in id order from where this client starts.
    loose = command.field_filter(own, every_incident=True)
    subscription = hub.subscribe(loose, first=True)  # a crew's alert goes out before the screens' copies
    metrics.stream_opened("field")
    start = since_id if since_id is not None else hub.last_id
    try:
        async with state.read_sessionmaker() as session:
            loose.incidents |= await command.field_incidents(session, unit_id=own)
            exact = command.field_filter(
                own, incidents=await command.field_incidents(session, unit_id=own, up_to=start)
            )
        loose.every_incident = False
        through = _through(exact)
        last = start
        if since_id is not None:
            where = command.field_event_condition(own)
            pages = notify.replay(state.read_sessionmaker, after_id=since_id, accepts=exact.accepts, where=where)
            last = await streaming.send_replay(ws, watcher, pages, lambda e, _: notify.serialise(e), after_id=since_id)
        await streaming.ready(ws, ready, last)
        await streaming.stream_live(ws, watcher, subscription, last, through)
    except Refused as exc:  # during the replay
        await ws.close(code=exc.code, reason=exc.reason)
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(subscription)
        metrics.stream_closed("field")
