"""command's door. Who goes: dispatch (all or nothing, race-free), acknowledgement, the unit workflow, live locations
and timers; and, re-exported from the modules that hold them, the incident record's changes orchestrated with plan
matching (``command.intake``), recommendations (``command.recommend``), the situation picture (``command.situation``)
and who may see what (``command.visibility``).

Lock order, everywhere: the incident first, then units by ascending id, then the unit's open dispatch; the event
ordering lock last of all, taken by the unit of work as it commits (services only queue events: core.events). A unit
is locked (``FOR UPDATE``) before its status is read, so of two commanders racing for it the second waits for the
first to commit and then sees it taken; the partial unique index on open dispatches stands behind that as the
database's own guarantee. The incident's lock lets rows that refer to it be written meanwhile (a status report's
timeline entry: see ``incidents.repository.get``). tests/command/test_unit_of_work.py interleaves them all.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from command import fix_partitions, locations
from command import repository as repo
from command.intake import decide_duplicate as decide_duplicate
from command.intake import edit_incident as edit_incident
from command.intake import log_report as log_report
from command.intake import override_grade as override_grade
from command.intake import transition_incident as transition_incident
from command.models import Dispatch, UnitFix
from command.recommend import recommend as recommend
from command.schemas import DispatchOut
from command.situation import SituationWatch as SituationWatch
from command.situation import situation as situation
from command.visibility import Caller as Caller  # callers build it next to the service calls
from command.visibility import dispatch_condition
from command.visibility import incident_scope as incident_scope
from command.visibility import may_see_unit as may_see_unit
from command.workflow import UnitStatus, check_status_change, ends_assignment
from core.clock import utcnow
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.events import Happened
from gis import service as gis
from gis.service import Resource
from incidents import service as incidents
from plans import service as plans


def _dispatch_data(dispatch: Dispatch, unit: Resource | None = None) -> dict[str, Any]:
    data = DispatchOut.of(dispatch).model_dump(mode="json")
    if unit is not None:
        data["unit"] = {"id": unit.id, "type": unit.type, "name": unit.name, "status": unit.status}
    return data


async def dispatch_units(session: AsyncSession, *, incident_id: int, unit_ids: list[int], actor: str) -> list[Dispatch]:
    """Send every unit in ``unit_ids`` to the incident, or none: a unit that is not available is a Conflict
    naming it. The incident moves to ``responding``, each unit to ``dispatched``, the plan's requirements fill."""
    wanted = sorted(set(unit_ids))
    await incidents.mark_responding(session, incident_id=incident_id, actor=actor, cause="units dispatched")
    units = []
    for unit_id in wanted:  # ascending ids: two dispatches never wait on each other in a circle
        try:
            unit = await gis.get_resource(session, resource_id=unit_id, for_update=True)
        except NotFound:
            raise Invalid(f"unit {unit_id} does not exist", field="unit_ids", unit_id=unit_id) from None
        if unit.status is None:
            raise Invalid(f"resource {unit_id} is a {unit.type}, not a dispatchable unit", field="unit_ids")
        if unit.status != UnitStatus.available:
            raise Conflict(f"unit {unit_id} ({unit.name}) is not available: it is {unit.status}", unit_id=unit_id)
        units.append(unit)
    dispatches = [
        Dispatch(incident_id=incident_id, unit_id=u.id, unit_type=u.type, status="dispatched", created_by=actor)
        for u in units
    ]
    await repo.add_dispatches(session, dispatches)
    for unit in units:
        await gis.set_unit_status(session, unit_id=unit.id, status=UnitStatus.dispatched)
    for unit_type in {u.type for u in units}:
        sent = sum(1 for u in units if u.type == unit_type)
        await plans.record_filled(session, incident_id=incident_id, resource_type=unit_type, delta=sent)
    incidents.record(
        session,
        incident_id=incident_id,
        kind="units_dispatched",
        actor=actor,
        data={"units": [{"id": u.id, "type": u.type, "name": u.name} for u in units]},
        events=[
            Happened("dispatch.created", _dispatch_data(d, u), unit_id=u.id)
            for d, u in zip(dispatches, units, strict=True)
        ],
    )
    return dispatches


async def get_dispatch(
    session: AsyncSession, *, dispatch_id: int, lock: bool = False, caller: Caller | None = None
) -> Dispatch:
    """The dispatch, or NotFound: also when ``caller`` is given and may not see it (another unit's, for a crew)."""
    visible = dispatch_condition(caller) if caller is not None else None
    dispatch = await repo.get_dispatch(session, dispatch_id=dispatch_id, lock=lock, visible=visible)
    if dispatch is None:
        raise NotFound(f"dispatch {dispatch_id} does not exist")
    return dispatch


async def dispatches_of_incident(session: AsyncSession, *, incident_id: int, caller: Caller) -> list[Dispatch]:
    """The incident's dispatches that ``caller`` may see, oldest first."""
    return await repo.dispatches_of_incident(session, incident_id=incident_id, visible=dispatch_condition(caller))


async def acknowledge(session: AsyncSession, *, dispatch_id: int, caller: Caller) -> Dispatch:
    """The unit's crew (or a commander) confirms the alert; the acknowledgement timer stops. Another unit's
    dispatch is NotFound to a crew (it may not see it), Forbidden to a role that sees it but may not act."""
    dispatch = await get_dispatch(session, dispatch_id=dispatch_id, lock=True, caller=caller)
    if not caller.may_act_for_unit(dispatch.unit_id):
        raise Forbidden(f"only unit {dispatch.unit_id}'s crew or a commander may acknowledge this dispatch")
    if dispatch.closed_at is not None:
        raise Conflict(f"dispatch {dispatch_id} is closed ({dispatch.close_reason})")
    if dispatch.acknowledged_at is not None:
        return dispatch  # a second tap on the phone is not an error
    dispatch.acknowledged_at = utcnow()
    dispatch.acknowledged_by = caller.username
    incidents.record(
        session,
        incident_id=dispatch.incident_id,
        kind="dispatch_acknowledged",
        actor=caller.username,
        data={"dispatch_id": dispatch.id, "unit_id": dispatch.unit_id},
        events=[Happened("dispatch.acknowledged", _dispatch_data(dispatch), unit_id=dispatch.unit_id)],
    )
    return dispatch


async def change_unit_status(
    session: AsyncSession, *, unit_id: int, status: UnitStatus, caller: Caller, reason: str | None = None
) -> Resource:
    """A status report from the field (or a commander). Leaving the assignment states closes the dispatch."""
    if not caller.may_act_for_unit(unit_id):
        raise Forbidden(f"only unit {unit_id}'s crew or a commander may report its status")
    unit = await gis.get_resource(session, resource_id=unit_id, for_update=True)
    if unit.status is None:
        raise Invalid(f"resource {unit_id} is a {unit.type}, not a unit", field="unit_id")
    current = UnitStatus(unit.status)
    check_status_change(current, status)
    dispatch = await repo.open_dispatch(session, unit_id=unit_id)
    if dispatch is not None:
        if ends_assignment(current, status):
            dispatch.closed_at = utcnow()
            dispatch.close_reason = (
                "completed"
                if current in (UnitStatus.on_scene, UnitStatus.transporting, UnitStatus.at_hospital)
                else "recalled"
            )
            dispatch.status = dispatch.close_reason
            if dispatch.close_reason == "recalled":
                await plans.record_filled(
                    session, incident_id=dispatch.incident_id, resource_type=dispatch.unit_type, delta=-1
                )
        else:
            dispatch.status = status.value
        incidents.record(
            session,
            incident_id=dispatch.incident_id,
            kind="unit_status",
            actor=caller.username,
            data={"unit_id": unit_id, "from": current, "to": status, "reason": reason},
        )
    return await gis.set_unit_status(session, unit_id=unit_id, status=status)


async def report_location(
    session: AsyncSession,
    *,
    unit_id: int,
    lon: float,
    lat: float,
    at: datetime | None,
    caller: Caller,
    keep_days: int,
    stream_s: float = 0.0,
    speed_ms: float | None = None,
    heading_deg: float | None = None,
    accuracy_m: float | None = None,
) -> tuple[locations.Outcome, int, dict[str, Any]]:
    """One fix (the phone's door): kept on the track, moving the unit only when plausible and newer than its last.
    Its outcome, the stored fix's id and the unit as it now stands (a ``ResourceOut.listed`` row). A refusal is
    raised: 403 for a unit the caller may not report for, 404 for none, 422 for a bad fix."""
    raw: dict[str, Any] = {"unit_id": unit_id, "location": {"type": "Point", "coordinates": [lon, lat]}, "at": at}
    raw |= {"speed": speed_ms, "heading": heading_deg, "accuracy": accuracy_m}
    result = await locations.ingest(
        session, raw_fixes=[raw], caller=caller, now=utcnow(), keep_days=keep_days, stream_s=stream_s
    )
    outcome = result.outcomes[0]
    if outcome.reason is locations.Refusal.not_permitted:
        raise Forbidden(f"only unit {unit_id}'s crew, its gateway or a commander may report its location")
    if outcome.reason is locations.Refusal.unknown_unit:
        raise NotFound(f"resource {unit_id} does not exist")
    if outcome.reason is locations.Refusal.not_a_unit:
        raise Invalid(outcome.detail or "not a unit", field="unit_id")
    if not outcome.accepted:
        field = "at" if outcome.reason in (locations.Refusal.future, locations.Refusal.too_old) else "location"
        raise Invalid(outcome.detail or "not a fix", field=field)
    return outcome, result.fix_ids[0], result.units[unit_id]


async def report_locations(
    session: AsyncSession, *, raw_fixes: Sequence[Any], caller: Caller, keep_days: int, stream_s: float = 0.0
) -> list[locations.Outcome]:
    """A batch of fixes (a gateway's, or a phone's backlog): each judged on its own; the outcome of each. A unit's
    ``unit.location`` event is written at most once per ``stream_s`` (command/locations.py)."""
    result = await locations.ingest(
        session, raw_fixes=raw_fixes, caller=caller, now=utcnow(), keep_days=keep_days, stream_s=stream_s
    )
    return result.outcomes


async def sweep_positions(session: AsyncSession, *, now: datetime, stream_s: float) -> int:
    """The newest position of each unit that moved within its stream interval, sent once that interval is over."""
    return await locations.send_positions(session, now=now, stream_s=stream_s)


async def track(
    session: AsyncSession, *, unit_id: int, since: datetime, until: datetime, limit: int = 100
) -> list[UnitFix]:
    """The unit's fixes (trusted or not) observed between ``since`` and ``until``, newest first."""
    return await repo.track(session, unit_id=unit_id, since=since, until=until, limit=limit)


async def assign_gateway_units(session: AsyncSession, *, user_id: int, unit_ids: Collection[int]) -> None:
    """The units a gateway account reports for, replacing those it had. Each must be a unit."""
    if unit_ids:
        rows = await gis.unit_rows(session, unit_ids=sorted(set(unit_ids)), lock=False)
        wrong = sorted(u for u in set(unit_ids) if u not in rows or rows[u]["status"] is None)
        if wrong:
            raise Invalid(f"not units: {', '.join(map(str, wrong[:10]))}", field="unit_ids")
    await repo.assign_gateway_units(session, user_id=user_id, unit_ids=unit_ids)


async def sweep_dispatch_timers(
    session: AsyncSession, *, now: datetime, warn_after: timedelta, escalate_after: timedelta, limit: int = 200
) -> int:
    """Dispatches neither acknowledged nor departed in time: a warning first, then escalation to the commander.
    Idempotent (each step happens once per dispatch) and safe with two schedulers (``SKIP LOCKED``)."""
    handled = 0
    for dispatch in await repo.lock_unacknowledged(session, created_before=now - warn_after, limit=limit):
        waited = now - dispatch.created_at
        if waited >= escalate_after:
            dispatch.escalated_at = now
            kind, event = "dispatch_escalated", "dispatch.escalated"
        elif dispatch.warned_at is None:
            dispatch.warned_at = now
            kind, event = "dispatch_warning", "dispatch.warning"
        else:
            continue
        handled += 1
        incidents.record(
            session,
            incident_id=dispatch.incident_id,
            kind=kind,
            actor=None,
            data={"dispatch_id": dispatch.id, "unit_id": dispatch.unit_id, "waited_s": int(waited.total_seconds())},
            events=[Happened(event, _dispatch_data(dispatch), unit_id=dispatch.unit_id)],
        )
    return handled


async def sweep_fix_partitions(session: AsyncSession, *, now: datetime, days_ahead: int, keep_days: int) -> int:
    """unit_fix's day partitions made ahead and detached after ``keep_days`` (command/fix_partitions.py)."""
    return await fix_partitions.sweep(session, today=now.date(), days_ahead=days_ahead, keep_days=keep_days)
