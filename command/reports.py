"""After-action reports (评估): what an incident's event log says happened, and the response-time percentiles of a
period. Every figure comes from the events (and the timeline, which is written with them), never from the current
rows of incidents, dispatches, tasks or deliveries, so a report can be rebuilt for any past incident and reads the
same whatever happened to those rows since.

The meanings, event by event (the percentile SQL in ``command.report_queries`` states the same):

- reported: the ``reported_at`` of ``incident.created`` (when the caller reported it), else when it was logged;
- dispatched: ``dispatch.created``'s ``created_at``; acknowledged: ``dispatch.acknowledged``'s ``acknowledged_at``;
- en route, on scene, transporting, at hospital: the first ``dispatch.updated`` with that status, at its
  ``status_at`` (the phone's time, when the crew's report carried one) or when it was logged;
- cleared: ``dispatch.closed`` (back to available, or recalled), at its ``status_at`` or ``closed_at``;
- a late task: ``task.updated`` completing a task after its ``due_at``, or a ``task.overdue`` never completed;
- an escalation: ``dispatch.escalated``, handled by the ``dispatch.escalation_handled`` after it;
- a failed delivery: the last ``delivery.failed`` or ``delivery.dead`` of each delivery;
- a drill's decision: the first ``plan.activated`` (its activation's ``activated_at``) or ``dispatch.created``,
  against the ``drill`` expectations ``incident.created`` carries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from command import report_queries as queries
from command.report_schemas import (
    MAX_PERIOD_DAYS,
    MILESTONES,
    DrillScore,
    Escalation,
    FailedDelivery,
    IncidentReport,
    LateTask,
    Milestone,
    Percentiles,
    ResponseTimeGroup,
    ResponseTimes,
    UnitResponse,
)
from core.clock import utcnow
from core.errors import Invalid, NotFound
from core.events import Event
from incidents import service as incidents
from incidents.schemas import TimelineEntryOut

# The incident statuses after which nothing more is expected: a report made later is complete.
FINAL_STATUSES = frozenset({"closed", "cancelled"})
_STEP_STATUSES = frozenset({"en_route", "on_scene", "transporting", "at_hospital"})


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


@dataclass
class _Dispatch:
    dispatch_id: int
    unit_id: int
    unit_type: str
    unit_name: str | None
    steps: dict[str, tuple[datetime, str]] = field(default_factory=dict)  # name → (at, source)
    close_reason: str | None = None
    escalation: dict[str, Any] | None = None

    def reach(self, name: str, at: datetime | None, source: str = "server") -> None:
        if at is not None and name not in self.steps:  # the first time counts
            self.steps[name] = (at, source)


def _step_time(event: Event, fallback: Any) -> tuple[datetime, str]:
    """When a status step happened: the phone's ``status_at`` if the crew's report carried one, else ``fallback``
    (a time of the dispatch) or when the event was logged."""
    stated = _time(event.data.get("status_at"))
    if stated is not None:
        return stated, "device"
    return _time(fallback) or event.created_at, "server"


def _dispatches(events: Iterable[Event]) -> dict[int, _Dispatch]:
    found: dict[int, _Dispatch] = {}
    for event in events:
        if not event.type.startswith("dispatch.") or "id" not in event.data:
            continue
        data = event.data
        unit = data.get("unit") or {}
        d = found.get(data["id"])
        if d is None:
            d = found[data["id"]] = _Dispatch(data["id"], data["unit_id"], data.get("unit_type", ""), unit.get("name"))
        d.unit_name = d.unit_name or unit.get("name")
        if event.type == "dispatch.created":
            d.reach("dispatched", _time(data.get("created_at")) or event.created_at)
        elif event.type == "dispatch.acknowledged":
            d.reach("acknowledged", _time(data.get("acknowledged_at")) or event.created_at)
        elif event.type == "dispatch.updated" and data.get("status") in _STEP_STATUSES:
            d.reach(data["status"], *_step_time(event, None))
        elif event.type == "dispatch.closed":
            d.reach("cleared", *_step_time(event, data.get("closed_at")))
            d.close_reason = data.get("close_reason")
        elif event.type == "dispatch.escalated":
            d.escalation = {"at": _time(data.get("escalated_at")) or event.created_at, "waited": data.get("waited_s")}
        elif event.type == "dispatch.escalation_handled" and d.escalation is not None:
            d.escalation |= {
                "handled_at": _time(data.get("escalation_handled_at")) or event.created_at,
                "by": data.get("escalation_handled_by"),
                "how": data.get("escalation_handling"),
            }
    return found


def _unit_response(d: _Dispatch, reported_at: datetime) -> UnitResponse:
    milestones = []
    previous: datetime | None = reported_at
    for name in MILESTONES[1:]:
        if name not in d.steps:
            continue
        at, source = d.steps[name]
        milestones.append(
            Milestone(
                name=name,
                at=at,
                source=source,
                since_reported_s=(at - reported_at).total_seconds(),
                since_previous_s=(at - previous).total_seconds() if previous is not None else None,
            )
        )
        previous = at
    return UnitResponse(
        dispatch_id=d.dispatch_id,
        unit_id=d.unit_id,
        unit_name=d.unit_name,
        unit_type=d.unit_type,
        milestones=milestones,
        close_reason=d.close_reason,
    )


def _late_tasks(events: Iterable[Event], *, as_of: datetime) -> list[LateTask]:
    tasks: dict[int, dict[str, Any]] = {}
    for event in events:
        if event.type not in ("task.updated", "task.overdue"):
            continue
        task = event.data.get("task") or {}
        if "id" in task:
            tasks[task["id"]] = task  # the newest state of each task
    late = []
    for task in tasks.values():
        due, done = _time(task.get("due_at")), _time(task.get("done_at"))
        if due is None:
            continue
        end = done if done is not None else as_of
        if end > due:
            late.append(
                LateTask(
                    task_id=task["id"],
                    title=task.get("title", ""),
                    title_en=task.get("title_en", ""),
                    role=task.get("role", ""),
                    due_at=due,
                    done_at=done,
                    done=done is not None,
                    late_s=(end - due).total_seconds(),
                )
            )
    return sorted(late, key=lambda t: (t.due_at, t.task_id))


def _escalations(dispatches: Iterable[_Dispatch]) -> list[Escalation]:
    found = [
        Escalation(
            dispatch_id=d.dispatch_id,
            unit_id=d.unit_id,
            unit_name=d.unit_name,
            escalated_at=d.escalation["at"],
            waited_s=d.escalation.get("waited"),
            handled_at=d.escalation.get("handled_at"),
            handled_by=d.escalation.get("by"),
            handling=d.escalation.get("how"),
        )
        for d in dispatches
        if d.escalation is not None
    ]
    return sorted(found, key=lambda e: e.escalated_at)


def _failed_deliveries(events: Iterable[Event]) -> list[FailedDelivery]:
    last: dict[int, Event] = {}
    for event in events:
        if event.type in ("delivery.failed", "delivery.dead") and "id" in event.data:
            last[event.data["id"]] = event
    return [
        FailedDelivery(
            delivery_id=e.data["id"],
            kind=e.data.get("kind", ""),
            channel=e.data.get("channel", ""),
            state="dead" if e.type == "delivery.dead" else "failed",
            at=e.created_at,
            tries=e.data.get("tries", 0),
            last_error=e.data.get("last_error"),
            unit_id=e.data.get("unit_id"),
            dispatch_id=e.data.get("dispatch_id"),
        )
        for e in sorted(last.values(), key=lambda e: e.id)
    ]


def _drill(incident: dict[str, Any], events: Iterable[Event], *, as_of: datetime, over: bool) -> DrillScore | None:
    """The drill's expectations (when the incident is a drill's) against the room's first decision and plans."""
    drill = incident.get("drill")
    if not incident.get("exercise") or not isinstance(drill, dict):
        return None
    plans: list[str] = []
    decisions: list[datetime] = []
    for event in events:
        if event.type == "plan.activated":
            activation = event.data.get("activation") or {}
            plans.append(str(activation.get("plan_id")))
            decisions.append(_time(activation.get("activated_at")) or event.created_at)
        elif event.type == "dispatch.created":
            decisions.append(_time(event.data.get("created_at")) or event.created_at)
    first = min(decisions, default=None)
    due = _time(drill.get("decide_by"))
    expected = drill.get("plan")
    verdict: str
    if due is None:
        verdict = "made" if first is not None else "not_made"
    elif first is not None:
        verdict = "on_time" if first <= due else "late"
    else:
        verdict = "missed" if over or as_of > due else "pending"
    return DrillScore(
        name=str(drill.get("name", "")),
        expected_plan=expected,
        plans_activated=plans,
        plan_as_expected=None if expected is None else expected in plans,
        decide_by=due,
        first_decision_at=first,
        late_by_s=round((first - due).total_seconds(), 1) if verdict == "late" and first and due else None,
        verdict=verdict,
    )


def track_windows(events: Sequence[Event], *, as_of: datetime) -> list[tuple[int, datetime, datetime]]:
    """Each dispatched unit's time on the incident (dispatched → cleared, or the report's time), for its track."""
    windows = []
    for d in _dispatches(events).values():
        start = d.steps.get("dispatched")
        if start is None:
            continue
        end = d.steps.get("cleared", (as_of, ""))[0]
        windows.append((d.unit_id, start[0], max(end, start[0])))
    return windows


def _map(incident: dict[str, Any], positions: Sequence[Event]) -> dict[str, Any]:
    features: list[dict[str, Any]] = [
        {"type": "Feature", "geometry": incident["location"], "properties": {"kind": "incident", "id": incident["id"]}}
    ]
    tracks: dict[int, list[Event]] = {}
    for event in positions:
        if event.unit_id is not None and (event.data.get("location") or {}).get("type") == "Point":
            tracks.setdefault(event.unit_id, []).append(event)
    for unit_id, points in tracks.items():
        coordinates = [p.data["location"]["coordinates"][:2] for p in points]
        geometry = (
            {"type": "LineString", "coordinates": coordinates}
            if len(coordinates) > 1
            else {"type": "Point", "coordinates": coordinates[0]}
        )
        properties = {
            "kind": "track",
            "unit_id": unit_id,
            "name": points[-1].data.get("name"),
            "type": points[-1].data.get("type"),
            "times": [(_time(p.data.get("last_fix_at")) or p.created_at).isoformat() for p in points],
        }
        features.append({"type": "Feature", "geometry": geometry, "properties": properties})
    return {"type": "FeatureCollection", "features": features}


def _incident_state(events: Sequence[Event], incident_id: int) -> tuple[dict[str, Any], datetime, datetime | None]:
    """The incident as its newest ``incident.*`` event states it, when it was reported, and when it was closed."""
    states = [e for e in events if e.type in ("incident.created", "incident.updated")]
    if not states:
        raise LookupError(f"incident {incident_id} has no incident.created event")
    created = next((e for e in states if e.type == "incident.created"), states[0])
    reported_at = _time(created.data.get("reported_at")) or created.created_at
    newest = states[-1].data
    closed_at = None  # the first of the trailing run of events in a final status
    for e in states:
        final = e.data.get("status") in FINAL_STATUSES
        closed_at = (closed_at or e.created_at) if final else None
    return newest, reported_at, closed_at


def build_report(
    *,
    incident_id: int,
    events: Sequence[Event],
    timeline: Sequence[Any],
    positions: Sequence[Event],
    now: datetime,
) -> IncidentReport:
    """The report of one incident from its ``events`` (commit order), its ``timeline`` and the units' ``positions``
    (``unit.location`` events in their dispatch windows). Pure: the same inputs give the same report."""
    incident, reported_at, closed_at = _incident_state(events, incident_id)
    partial = incident.get("status") not in FINAL_STATUSES
    as_of = now if partial else (closed_at or now)
    dispatches = _dispatches(events)
    return IncidentReport(
        incident_id=incident_id,
        title=incident.get("title", ""),
        category=incident.get("category"),
        subtype=incident.get("subtype"),
        grade=(incident.get("grade") or {}).get("level"),
        status=incident.get("status", ""),
        location=incident["location"],
        reported_at=reported_at,
        closed_at=closed_at,
        partial=partial,
        exercise=bool(incident.get("exercise")),
        generated_at=now,
        last_event_id=events[-1].id if events else None,
        timeline=[TimelineEntryOut.of(entry) for entry in timeline],
        units=[_unit_response(d, reported_at) for d in sorted(dispatches.values(), key=lambda d: d.dispatch_id)],
        late_tasks=_late_tasks(events, as_of=as_of),
        escalations=_escalations(dispatches.values()),
        failed_deliveries=_failed_deliveries(events),
        drill=_drill(incident, events, as_of=as_of, over=not partial),
        map=_map(incident, positions),
    )


def _percentiles(row: dict[str, Any], name: str) -> Percentiles:
    values = row[f"{name}_p"] or [None, None, None]
    return Percentiles(count=row[f"{name}_n"], p50_s=values[0], p90_s=values[1], p95_s=values[2])


def response_groups(rows: Iterable[dict[str, Any]]) -> list[ResponseTimeGroup]:
    """The percentile statement's rows as the API shows them."""
    return [
        ResponseTimeGroup(
            category=row["category"],
            grade=row["grade"],
            all=row["all_rows"],
            incidents=row["incidents"],
            dispatches=row["dispatches"],
            **{name: _percentiles(row, name) for name in ("dispatch", "acknowledge", "on_scene", "response")},
        )
        for row in rows
    ]


# ---------------------------------------------------------------------------------------------------- the doors' work


async def incident_report(session: AsyncSession, *, incident_id: int, now: datetime | None = None) -> IncidentReport:
    """The incident's after-action report as of ``now`` (partial while the incident is open). NotFound when the
    incident does not exist (the caller has checked that it may see it)."""
    now = now or utcnow()
    timeline = await incidents.timeline(session, incident_id=incident_id)
    events = await queries.incident_events(session, incident_id=incident_id)
    if not any(e.type == "incident.created" for e in events):
        raise NotFound(f"incident {incident_id} has no event log to report from")
    _, _, closed_at = _incident_state(events, incident_id)
    windows = track_windows(events, as_of=closed_at or now)
    positions = await queries.track_events(session, windows=windows)
    return build_report(incident_id=incident_id, events=events, timeline=timeline, positions=positions, now=now)


async def response_times(
    session: AsyncSession, *, from_at: datetime, to_at: datetime, jurisdictions: frozenset[int] | None = None
) -> ResponseTimes:
    """The percentiles of the response intervals over the incidents logged in ``[from_at, to_at)`` (and in
    ``jurisdictions``, expanded ids, when given): by category and grade, and over all of them (the first group).
    Invalid for an empty or reversed period, or one too long."""
    if from_at.tzinfo is None or to_at.tzinfo is None:
        raise Invalid("from and to need a time zone (RFC 3339)", field="from")
    if from_at.year < 2000 or to_at.year > 2100:
        wrong = "from" if from_at.year < 2000 else "to"
        raise Invalid("the period must lie between the years 2000 and 2100", field=wrong)
    if to_at <= from_at:
        raise Invalid("the period is empty: from must come before to", field="to")
    if to_at - from_at > timedelta(days=MAX_PERIOD_DAYS):
        raise Invalid(f"the period is longer than {MAX_PERIOD_DAYS} days; ask for it in parts", field="to")
    rows = await queries.response_times(session, from_at=from_at, to_at=to_at, jurisdictions=jurisdictions)
    return ResponseTimes(from_=from_at, to=to_at, groups=response_groups(rows))
