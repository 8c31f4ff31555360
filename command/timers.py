"""The dispatch's timers and the escalation a commander must handle (DESIGN.md "Jobs"; DOMAIN.md section 4).

Every sweep takes its work with ``SELECT … FOR UPDATE SKIP LOCKED`` and records on the dispatch row what it did
(the re-alert, the escalation, an episode of ``unit.overdue`` or ``unit.stale``) in the same transaction as the
events and timeline entries that say so: two schedulers never act twice, and a restart (between a re-alert and its
escalation, say) finds in the database exactly what is left to do. The decisions are command/deadlines.py's, with
``now`` handed in by the scheduler (a test hands in its own clock).

An escalation stays open until a commander handles it: ``POST /dispatches/{id}/escalation/ack``, a re-dispatch of the
same need (the incident, the unit type) to another unit, or the end of the dispatch (recalled, completed).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from command import alerts
from command import repository as repo
from command.deadlines import AckRules, overdue_after, stale_due, stale_since, steps_due
from command.models import Dispatch
from command.schemas import dispatch_event_data
from command.visibility import Caller
from core.errors import Conflict, Forbidden
from core.events import Happened
from gis import service as gis
from gis.schemas import ResourceOut
from incidents import service as incidents

# How an alert reaches a crew: the field stream (WS /ws/field) always, and the deliveries queued for it (push,
# webhook, email; sms: the fallback at half the deadline) as command/alerts.py reports them.
FIELD_STREAM = "field_stream"


def alert(dispatch: Dispatch, *, kind: str, at: datetime) -> None:
    """Note on the dispatch that its unit was alerted (``kind``: alert, realert), when, and by which channels."""
    sent = {"at": at.isoformat(), "kind": kind, "unit_id": dispatch.unit_id, "channels": [FIELD_STREAM]}
    dispatch.alerts = [*dispatch.alerts, sent]  # a new list: the JSONB column is written only when replaced


def add_channels(dispatch: Dispatch, channels: Iterable[str]) -> None:
    """Add the delivery channels the last alert was queued on to its record."""
    if not dispatch.alerts:
        return
    last = dispatch.alerts[-1]
    merged = [*last["channels"], *(c for c in channels if c not in last["channels"])]
    dispatch.alerts = [*dispatch.alerts[:-1], {**last, "channels": merged}]


async def _units(session: AsyncSession, unit_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    ids = sorted(set(unit_ids))
    return await gis.unit_rows(session, unit_ids=ids, lock=False) if ids else {}


def _unit_brief(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"id": row["id"], "type": row["type"], "name": row["name"], "status": row["status"]}


async def sweep_ack_deadlines(session: AsyncSession, *, now: datetime, rules: AckRules, limit: int = 200) -> int:
    """Dispatches neither acknowledged nor departed by their deadline: re-alerted, then escalated to the commander
    (``dispatch.warning``, ``dispatch.escalated``), each once. How many steps were taken."""
    due = await repo.lock_ack_due(session, now=now, escalate_before=now - rules.escalate_after, limit=limit)
    units = await _units(session, (d.unit_id for d in due))
    taken = 0
    for dispatch in due:
        waited_s = int((now - dispatch.created_at).total_seconds())
        unit = _unit_brief(units.get(dispatch.unit_id))
        for step in steps_due(
            now=now,
            ack_due_at=dispatch.ack_due_at,
            warned_at=dispatch.warned_at,
            escalated_at=dispatch.escalated_at,
            rules=rules,
        ):
            taken += 1
            incident = await incidents.get_incident(session, incident_id=dispatch.incident_id)
            unit_name = unit["name"] if unit else f"unit {dispatch.unit_id}"
            if step == "realert":
                dispatch.warned_at = now
                alert(dispatch, kind="realert", at=now)
                channels = await alerts.alert_crew(
                    session, dispatch, incident, unit_name=unit_name, now=now, first=False
                )
                add_channels(dispatch, channels)
                kind, event = "dispatch_realerted", "dispatch.warning"
            else:
                dispatch.escalated_at = now
                await alerts.alert_commanders(
                    session, dispatch, incident, unit_name=unit_name, waited_s=waited_s, now=now
                )
                kind, event = "dispatch_escalated", "dispatch.escalated"
            data = {"dispatch_id": dispatch.id, "unit_id": dispatch.unit_id, "waited_s": waited_s}
            payload = dispatch_event_data(dispatch, unit=unit) | {"waited_s": waited_s}
            incidents.record(
                session,
                incident_id=dispatch.incident_id,
                kind=kind,
                actor=None,
                data=data,
                events=[Happened(event, payload, unit_id=dispatch.unit_id)],
            )
    return taken


def handle_escalation(session: AsyncSession, dispatch: Dispatch, *, how: str, actor: str, now: datetime) -> bool:
    """Close the dispatch's open escalation (``how``: acknowledged, redispatched, recalled, completed); False when
    there is none to close (never escalated, or handled already: a second handling is a no-op)."""
    if dispatch.escalated_at is None or dispatch.escalation_handled_at is not None:
        return False
    dispatch.escalation_handled_at = now
    dispatch.escalation_handled_by = actor
    dispatch.escalation_handling = how
    incidents.record(
        session,
        incident_id=dispatch.incident_id,
        kind="escalation_handled",
        actor=actor,
        data={"dispatch_id": dispatch.id, "unit_id": dispatch.unit_id, "how": how},
        events=[Happened("dispatch.escalation_handled", dispatch_event_data(dispatch), unit_id=dispatch.unit_id)],
    )
    return True


async def acknowledge_escalation(session: AsyncSession, *, dispatch: Dispatch, caller: Caller, now: datetime) -> None:
    """A commander has seen the escalation of ``dispatch`` (locked by the caller) and takes it in hand. Conflict
    when it was never escalated; acknowledging one already handled changes nothing."""
    if not caller.may_act_for_unit(-1):  # commanders and admins only: no crew may close its own escalation
        raise Forbidden("only a commander may handle an escalation")
    if dispatch.escalated_at is None:
        raise Conflict(f"dispatch {dispatch.id} has not been escalated")
    handle_escalation(session, dispatch, how="acknowledged", actor=caller.username, now=now)


async def handle_redispatch(
    session: AsyncSession, *, incident_id: int, sent: Iterable[Dispatch], actor: str, now: datetime
) -> int:
    """The need behind an escalation (its incident, its unit type) was sent to another unit: the escalations of
    that type on the incident are handled. How many."""
    sent = list(sent)
    ids = {d.id for d in sent}
    handled = 0
    for unit_type in sorted({d.unit_type for d in sent}):
        for open_one in await repo.open_escalations(
            session, incident_id=incident_id, unit_type=unit_type, excluding=ids
        ):
            handled += handle_escalation(session, open_one, how="redispatched", actor=actor, now=now)
    return handled


async def sweep_unit_timers(
    session: AsyncSession,
    *,
    now: datetime,
    overdue_factor: float,
    overdue_margin: timedelta,
    stale_after: timedelta,
    limit: int = 500,
) -> int:
    """``unit.overdue`` for a unit en route longer than its route's ETA (times ``overdue_factor``) plus
    ``overdue_margin``; ``unit.stale`` for a dispatched unit whose last fix (or, without one, its dispatch) is older
    than ``stale_after``. Each once per episode (the en route leg; the last fix). How many were raised."""
    overdue = await repo.lock_overdue(
        session, now=now, factor=overdue_factor, margin_s=overdue_margin.total_seconds(), limit=limit
    )
    for dispatch in overdue:
        dispatch.overdue_at = now
    # The stale candidates are read unlocked (a unit's fixes are gis's), then locked and judged again on a fresh
    # reading of their units: a fix that came meanwhile ends the episode, and another sweep's rows are skipped.
    candidates = await repo.open_dispatch_timers(session)
    fixes = await _units(session, (c.unit_id for c in candidates))
    wanted = [c.id for c in candidates if c.unit_id in fixes and _stale(c, fixes[c.unit_id], now, stale_after)]
    locked = await repo.lock_open(session, dispatch_ids=wanted) if wanted else []
    units = await _units(session, [d.unit_id for d in (*overdue, *locked)])
    raised = 0
    for dispatch in overdue:
        allowed = overdue_after(eta_s=dispatch.eta_s, factor=overdue_factor, margin=overdue_margin)
        extra = {
            "en_route_at": _iso(dispatch.en_route_at),
            "eta_s": dispatch.eta_s,
            "allowed_s": int(allowed.total_seconds()),
        }
        raised += _raise(session, dispatch, units.get(dispatch.unit_id), "unit.overdue", extra)
    for dispatch in locked:
        row = units.get(dispatch.unit_id)
        if row is None or not _stale(dispatch, row, now, stale_after):
            continue
        dispatch.stale_at, dispatch.stale_fix_at = now, row["last_fix_at"]
        since = stale_since(last_fix_at=row["last_fix_at"], dispatched_at=dispatch.created_at)
        extra = {"last_fix_at": _iso(row["last_fix_at"]), "silent_s": int((now - since).total_seconds())}
        raised += _raise(session, dispatch, row, "unit.stale", extra)
    return raised


def _stale(dispatch: repo.DispatchTimers | Dispatch, unit: dict[str, Any], now: datetime, after: timedelta) -> bool:
    return stale_due(
        now=now,
        last_fix_at=unit["last_fix_at"],
        dispatched_at=dispatch.created_at,
        raised_at=dispatch.stale_at,
        raised_for=dispatch.stale_fix_at,
        stale_after=after,
    )


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _raise(
    session: AsyncSession, dispatch: Dispatch, unit: dict[str, Any] | None, event: str, extra: dict[str, Any]
) -> int:
    """Queue a ``unit.*`` timer event (the unit as the API shows it, with its dispatch and what the timer saw) and
    its timeline entry on the incident."""
    if unit is None:  # the unit was removed from the registry meanwhile: nothing to tell
        return 0
    data = ResourceOut.listed(unit).model_dump(mode="json", exclude={"distance_m"})
    data |= {"dispatch_id": dispatch.id, "incident_id": dispatch.incident_id, **extra}
    incidents.record(
        session,
        incident_id=dispatch.incident_id,
        kind=event.replace(".", "_"),
        actor=None,
        data={"dispatch_id": dispatch.id, "unit_id": dispatch.unit_id, **extra},
        events=[Happened(event, data, unit_id=dispatch.unit_id)],
    )
    return 1
