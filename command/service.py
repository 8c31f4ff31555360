"""command's door. Who goes: dispatch (all or nothing, race-free), acknowledgement, the unit workflow, live locations
and timers; and, re-exported from the modules that hold them, the incident record's changes orchestrated with plan
matching (``command.intake``), recommendations (``command.recommend``), the situation picture (``command.situation``),
after-action reports and response-time percentiles (``command.reports``) and who may see what
(``command.visibility``).

Lock order, everywhere: the incident first, then units by ascending id, then the unit's open dispatch; the event
ordering lock last of all, taken by the unit of work as it commits (services only queue events: core.events). A unit
is locked (``FOR UPDATE``) before its status is read, so of two commanders racing for it the second waits for the
first to commit and then sees it taken; the partial unique index on open dispatches stands behind that as the
database's own guarantee. The incident's lock lets rows that refer to it be written meanwhile (a status report's
timeline entry: see ``incidents.repository.get``). tests/command/test_unit_of_work.py interleaves them all.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from geoalchemy2.shape import to_shape
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from command import alerts, fix_partitions, locations, timers
from command import repository as repo
from command.deadlines import AckRules as AckRules  # the web route builds it from the settings
from command.fix_batcher import FixBatcher as FixBatcher  # a worker's, built by web at start-up
from command.intake import decide_duplicate as decide_duplicate
from command.intake import edit_incident as edit_incident
from command.intake import log_report as log_report
from command.intake import override_grade as override_grade
from command.intake import transition_incident as transition_incident
from command.models import Dispatch, UnitFix
from command.recommend import recommend as recommend
from command.report_queries import RESPONSE_TIMES as RESPONSE_TIMES  # the statement, for bench/reports.py's floor
from command.reports import incident_report as incident_report
from command.reports import response_times as response_times
from command.schemas import ExercisesCleared, dispatch_event_data
from command.situation import SituationWatch as SituationWatch
from command.situation import situation as situation
from command.timers import add_channels, alert
from command.visibility import FIELD_JOINS, dispatch_condition
from command.visibility import Caller as Caller  # callers build it next to the service calls
from command.visibility import command_stream_filter as command_stream_filter
from command.visibility import field_event_condition as field_event_condition
from command.visibility import field_filter as field_filter
from command.visibility import incident_scope as incident_scope
from command.visibility import jurisdictions_of as jurisdictions_of
from command.visibility import may_see_unit as may_see_unit
from command.visibility import may_see_units as may_see_units
from command.workflow import UnitStatus, check_status_change, ends_assignment
from core.audit import note_change
from core.clock import utcnow
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.events import Happened
from gis import service as gis
from gis.schemas import RoadPolicy
from gis.service import Resource
from incidents import service as incidents
from incidents.schemas import IncidentRecord
from plans import service as plans


def _dispatch_data(dispatch: Dispatch, unit: Resource | None = None) -> dict[str, Any]:
    brief = {"id": unit.id, "type": unit.type, "name": unit.name, "status": unit.status} if unit else None
    return dispatch_event_data(dispatch, unit=brief)


def _alert_data(dispatch: Dispatch, unit: Resource, incident: IncidentRecord) -> Callable[[], dict[str, Any]]:
    """The alert's data, built when the unit of work commits: the dispatch, the unit, and the incident as it then
    stands (responding), so the crew's phone has where to go and what for in the one message."""
    brief = {"id": unit.id, "type": unit.type, "name": unit.name, "status": unit.status}
    return lambda: dispatch_event_data(
        dispatch, unit=brief, incident=incidents.present(incident).model_dump(mode="json", include=_INCIDENT_BRIEF)
    )


DEFAULT_RULES = AckRules()
# What of the incident the alert carries (its full shape is one GET away, and the crew may read it).
_INCIDENT_BRIEF = {
    *("id", "title", "description", "location", "category", "subtype", "grade", "status", "jurisdiction"),
    "address_text",  # as the caller gave it: what the crew looks for at the scene
}


async def _etas(
    session: AsyncSession, *, incident: IncidentRecord, units: Sequence[Resource], policy: RoadPolicy
) -> list[Any]:
    """Each unit's travel time to the incident (gis: by road, or the stated straight-line estimate); ``None``s when
    routing fails: a dispatch must never wait on, or fail for, a road graph (the overdue timer then allows only its
    margin)."""
    at = to_shape(incident.location)
    origins = [(u.id, p.x, p.y) for u in units for p in [to_shape(u.location)]]
    try:
        async with session.begin_nested():
            return list(await gis.travel_times(session, origins=origins, lon=at.x, lat=at.y, policy=policy))
    except DBAPIError:
        return [None] * len(units)


async def dispatch_units(
    session: AsyncSession,
    *,
    incident_id: int,
    unit_ids: list[int],
    actor: str,
    rules: AckRules = DEFAULT_RULES,
    policy: RoadPolicy | None = None,
    now: datetime | None = None,
) -> list[Dispatch]:
    """Send every unit in ``unit_ids`` to the incident, or none: a unit that is not available is a Conflict
    naming it. Each dispatch's acknowledgement deadline follows the incident's grade (``rules``) and it keeps the
    route's ETA; the alert (``dispatch.created``, carrying the incident) goes to each crew's field stream, and by
    notify's deliveries to the crew's phones (command/alerts.py). The
    incident then moves to ``responding``, each unit to ``dispatched``, the plan's requirements fill, and an open
    escalation of the same need on the incident is handled (re-dispatched)."""
    now = now or utcnow()
    wanted = sorted(set(unit_ids))
    incident = await incidents.lock_for_response(session, incident_id=incident_id)
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
    legs = await _etas(session, incident=incident, units=units, policy=policy or RoadPolicy())
    dispatches = []
    for unit, leg in zip(units, legs, strict=True):
        dispatch = Dispatch(
            incident_id=incident_id,
            unit_id=unit.id,
            unit_type=unit.type,
            status="dispatched",
            created_by=actor,
            created_at=now,
            ack_due_at=rules.due_at(incident.level, now),
            alerts=[],
            eta_s=round(leg.eta_s, 1) if leg is not None else None,
            eta_method=leg.method if leg is not None else None,
        )
        alert(dispatch, kind="alert", at=now)
        dispatches.append(dispatch)
    await repo.add_dispatches(session, dispatches)
    for dispatch, unit in zip(dispatches, units, strict=True):
        channels = await alerts.alert_crew(session, dispatch, incident, unit_name=unit.name, now=now, first=True)
        add_channels(dispatch, channels)
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
            Happened("dispatch.created", _alert_data(d, u, incident), unit_id=u.id)
            for d, u in zip(dispatches, units, strict=True)
        ],
    )
    # After the alerts, so that a crew's stream, joined to the incident by its alert, also gets this change.
    await incidents.mark_responding(session, incident_id=incident_id, actor=actor, cause="units dispatched")
    await timers.handle_redispatch(session, incident_id=incident_id, sent=dispatches, actor=actor, now=now)
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


async def acknowledge(
    session: AsyncSession, *, dispatch_id: int, caller: Caller, at: datetime | None = None
) -> Dispatch:
    """The unit's crew (or a commander) confirms the alert; the acknowledgement timer stops. Another unit's
    dispatch is NotFound to a crew (it may not see it), Forbidden to a role that sees it but may not act.
    ``at``: when the crew tapped it (a phone sends it late from a dead zone), never before the dispatch was made."""
    dispatch = await get_dispatch(session, dispatch_id=dispatch_id, lock=True, caller=caller)
    if not caller.may_act_for_unit(dispatch.unit_id):
        raise Forbidden(f"only unit {dispatch.unit_id}'s crew or a commander may acknowledge this dispatch")
    if dispatch.closed_at is not None:
        raise Conflict(f"dispatch {dispatch_id} is closed ({dispatch.close_reason})")
    if dispatch.acknowledged_at is not None:
        return dispatch  # a second tap on the phone is not an error
    dispatch.acknowledged_at = _when(at, dispatch)
    dispatch.acknowledged_by = caller.username
    await alerts.stand_down_fallback(session, dispatch, now=utcnow())
    incidents.record(
        session,
        incident_id=dispatch.incident_id,
        kind="dispatch_acknowledged",
        actor=caller.username,
        data={"dispatch_id": dispatch.id, "unit_id": dispatch.unit_id},
        events=[Happened("dispatch.acknowledged", _dispatch_data(dispatch), unit_id=dispatch.unit_id)],
    )
    return dispatch


def _when(at: datetime | None, dispatch: Dispatch) -> datetime:
    """The time a crew's action is recorded at: the phone's ``at`` (already checked to lie within the last day and
    not ahead), but never before the dispatch it answers was made; now when the phone gave none."""
    return utcnow() if at is None else max(at, dispatch.created_at)


async def change_unit_status(
    session: AsyncSession,
    *,
    unit_id: int,
    status: UnitStatus,
    caller: Caller,
    reason: str | None = None,
    at: datetime | None = None,
) -> Resource:
    """A status report from the field (or a commander). Leaving the assignment states closes the dispatch. ``at``:
    when the crew tapped it by the phone's clock (the dispatch's times are stamped with it, never before the dispatch;
    the timeline entry and the event keep it as ``status_at``, which the after-action report's response times
    prefer)."""
    if not caller.may_act_for_unit(unit_id):
        raise Forbidden(f"only unit {unit_id}'s crew or a commander may report its status")
    unit = await gis.get_resource(session, resource_id=unit_id, for_update=True)
    if unit.status is None:
        raise Invalid(f"resource {unit_id} is a {unit.type}, not a unit", field="unit_id")
    current = UnitStatus(unit.status)
    check_status_change(current, status)
    note_change(session, status=[current.value, status.value])
    dispatch = await repo.open_dispatch(session, unit_id=unit_id)
    if dispatch is not None:
        now = _when(at, dispatch)
        await alerts.stand_down_fallback(session, dispatch, now=utcnow())  # the crew has answered, one way or another
        if ends_assignment(current, status):
            dispatch.closed_at = now
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
            if status is UnitStatus.en_route and dispatch.en_route_at is None:
                dispatch.en_route_at = now  # the overdue timer runs from here
        event = "dispatch.closed" if dispatch.closed_at is not None else "dispatch.updated"
        stated = {"status_at": at.isoformat()} if at is not None else {}  # the phone's time, when it said
        incidents.record(
            session,
            incident_id=dispatch.incident_id,
            kind="unit_status",
            actor=caller.username,
            data={"unit_id": unit_id, "from": current, "to": status, "reason": reason, "at": now.isoformat(), **stated},
            events=[Happened(event, _dispatch_data(dispatch) | stated, unit_id=unit_id)],
        )
        if dispatch.closed_at is not None and dispatch.close_reason is not None:
            timers.handle_escalation(session, dispatch, how=dispatch.close_reason, actor=caller.username, now=now)
    return await gis.set_unit_status(session, unit_id=unit_id, status=status)


def _single_fix(
    unit_id: int,
    lon: float,
    lat: float,
    at: datetime | None,
    speed_ms: float | None,
    heading_deg: float | None,
    accuracy_m: float | None,
) -> dict[str, Any]:
    raw: dict[str, Any] = {"unit_id": unit_id, "location": {"type": "Point", "coordinates": [lon, lat]}, "at": at}
    return raw | {"speed": speed_ms, "heading": heading_deg, "accuracy": accuracy_m}


def _refuse_single(unit_id: int, outcome: locations.Outcome) -> None:
    """The single-fix door answers a refused fix with an error: 403 for a unit the caller may not report for, 404
    for none, 422 for a bad fix."""
    if outcome.reason is locations.Refusal.not_permitted:
        raise Forbidden(f"only unit {unit_id}'s crew, its gateway or a commander may report its location")
    if outcome.reason is locations.Refusal.unknown_unit:
        raise NotFound(f"resource {unit_id} does not exist")
    if outcome.reason is locations.Refusal.not_a_unit:
        raise Invalid(outcome.detail or "not a unit", field="unit_id")
    if not outcome.accepted:
        field = "at" if outcome.reason in (locations.Refusal.future, locations.Refusal.too_old) else "location"
        raise Invalid(outcome.detail or "not a fix", field=field)


async def report_location(
    session: AsyncSession | None,
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
    batcher: FixBatcher | None = None,
) -> tuple[locations.Outcome, int, dict[str, Any]]:
    """One fix (the phone's door): kept on the track, moving the unit only when plausible and newer than its last.
    Its outcome, the stored fix's id and the unit as it now stands (a ``ResourceOut.listed`` row). A refusal is
    raised (``_refuse_single``). With the worker's ``batcher`` the fix is committed together with the other phones'
    fixes of the moment (command/fix_batcher.py) and ``session`` is not used; without, in ``session``'s unit of work."""
    raw = _single_fix(unit_id, lon, lat, at, speed_ms, heading_deg, accuracy_m)
    if batcher is not None:
        reported = await batcher.report(raw, caller)
        _refuse_single(unit_id, reported.outcome)
        assert reported.fix_id is not None and reported.unit is not None  # accepted: stored, and its unit read
        return reported.outcome, reported.fix_id, reported.unit
    assert session is not None, "a fix is stored in a unit of work: the caller's session or the batcher's"
    result = await locations.ingest(
        session, raw_fixes=[raw], caller=caller, now=utcnow(), keep_days=keep_days, stream_s=stream_s
    )
    outcome = result.outcomes[0]
    _refuse_single(unit_id, outcome)
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


async def open_escalations(session: AsyncSession, *, limit: int = 1000, caller: Caller | None = None) -> list[Dispatch]:
    """The dispatches escalated to the command room and not yet handled, oldest first: the list a command room
    shows until someone handles each (live, ``dispatch.escalated`` adds to it); those ``caller`` may see."""
    visible = dispatch_condition(caller) if caller is not None else None
    return await repo.escalated_dispatches(session, limit=limit, visible=visible)


async def acknowledge_escalation(session: AsyncSession, *, dispatch_id: int, caller: Caller) -> Dispatch:
    """A commander takes an escalated dispatch in hand: the escalation closes (``dispatch.escalation_handled``).
    Conflict if it was never escalated; a second acknowledgement changes nothing."""
    dispatch = await get_dispatch(session, dispatch_id=dispatch_id, lock=True, caller=caller)
    await timers.acknowledge_escalation(session, dispatch=dispatch, caller=caller, now=utcnow())
    return dispatch


async def sweep_ack_deadlines(session: AsyncSession, *, now: datetime, rules: AckRules, limit: int = 200) -> int:
    """Unanswered dispatches past their deadline: re-alerted, then escalated, each once (command/timers.py)."""
    return await timers.sweep_ack_deadlines(session, now=now, rules=rules, limit=limit)


async def sweep_unit_timers(
    session: AsyncSession, *, now: datetime, overdue_factor: float, overdue_margin: timedelta, stale_after: timedelta
) -> int:
    """``unit.overdue`` and ``unit.stale``, each once per episode (command/timers.py)."""
    return await timers.sweep_unit_timers(
        session, now=now, overdue_factor=overdue_factor, overdue_margin=overdue_margin, stale_after=stale_after
    )


async def field_incidents(session: AsyncSession, *, unit_id: int, up_to: int | None = None) -> set[int]:
    """The incidents whose events the field stream of ``unit_id`` sends: those it was ever dispatched to, or (with
    ``up_to``) those it had been dispatched to by that event id (where a resuming stream starts)."""
    return await repo.incidents_of_unit(session, unit_id=unit_id, joined_by=FIELD_JOINS, up_to=up_to)


async def sweep_fix_partitions(session: AsyncSession, *, now: datetime, days_ahead: int, keep_days: int) -> int:
    """unit_fix's day partitions made ahead and detached after ``keep_days`` (command/fix_partitions.py)."""
    return await fix_partitions.sweep(session, today=now.date(), days_ahead=days_ahead, keep_days=keep_days)


async def clear_exercises(session: AsyncSession, *, caller: Caller) -> ExercisesCleared:
    """The drill is over: every open incident it logged is closed (cancelled when nothing was sent), every unit
    still out on one of them is released (available, its dispatch closed), every exercise warning ended. Locks in
    the usual order: incidents, then units and their dispatches."""
    incident_ids = await incidents.open_exercise_ids(session)
    units = await repo.open_dispatch_units(session, incident_ids=incident_ids)
    for incident_id in incident_ids:
        await incidents.end_exercise(session, incident_id=incident_id, actor=caller.username)
    for unit_id in units:
        await change_unit_status(
            session, unit_id=unit_id, status=UnitStatus.available, caller=caller, reason="the exercise is over"
        )
    ended = await incidents.end_exercise_warnings(session, now=utcnow(), actor=caller.username)
    return ExercisesCleared(incidents=incident_ids, units_released=units, warnings_ended=ended)
