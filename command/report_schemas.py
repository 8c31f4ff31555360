"""The shapes of the after-action report (``GET /incidents/{id}/report``) and of the response-time percentiles
(``GET /reports/response-times``). Re-exported by ``command.schemas`` (the door); built by ``command.reports``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, Field

from incidents.schemas import TimelineEntryOut

# A unit's way through an incident, in order. ``reported`` is the incident's (the caller's time, as logged).
MILESTONES: Final = (
    "reported",
    "dispatched",
    "acknowledged",
    "en_route",
    "on_scene",
    "transporting",
    "at_hospital",
    "cleared",
)
# The longest period the percentiles cover in one request (a year, and a leap day).
MAX_PERIOD_DAYS: Final = 366


class Milestone(BaseModel):
    """A step a unit reached: when, by whose clock, and how long after the report and after its previous step."""

    name: str
    at: datetime
    source: Literal["device", "server"] = Field(
        description="device: the crew's phone said when (a status report's `at`); server: when it was logged"
    )
    since_reported_s: float | None = Field(description="seconds from the incident's report")
    since_previous_s: float | None = Field(description="seconds from the previous step this unit reached")


class UnitResponse(BaseModel):
    """One dispatch of a unit to the incident and the steps it went through."""

    dispatch_id: int
    unit_id: int
    unit_name: str | None
    unit_type: str
    milestones: list[Milestone]
    close_reason: str | None = Field(description="completed or recalled, once cleared")


class LateTask(BaseModel):
    """A plan task done after its deadline, or still open past it (``done: false``, late as of the report)."""

    task_id: int
    title: str
    title_en: str
    role: str
    due_at: datetime
    done_at: datetime | None
    done: bool
    late_s: float = Field(description="seconds past the deadline when done (or, if still open, at the report)")


class Escalation(BaseModel):
    """A dispatch whose alert went unanswered past its deadline and was escalated to the command room."""

    dispatch_id: int
    unit_id: int
    unit_name: str | None
    escalated_at: datetime
    waited_s: float | None = Field(description="how long the alert had gone unanswered when it was escalated")
    handled_at: datetime | None
    handled_by: str | None
    handling: str | None = Field(description="acknowledged, redispatched, recalled or completed")


class FailedDelivery(BaseModel):
    """A message of the incident that could not be delivered: ``dead`` (given up: no tries left, refused for good,
    or no one to send it to) or ``failed`` (its last logged try failed; a later success is not an event)."""

    delivery_id: int
    kind: str
    channel: str
    state: Literal["failed", "dead"]
    at: datetime
    tries: int
    last_error: str | None
    unit_id: int | None
    dispatch_id: int | None


class DrillScore(BaseModel):
    """How the room met a drill's expectations for this report (演练评分): the first decision (a plan activated or a
    unit sent) against its due time, and the plan activated against the one expected. ``verdict``: ``on_time``,
    ``late``, ``missed`` (none by the report's time, past due or the incident over), ``pending`` (none yet, not yet
    due), or ``made`` / ``not_made`` when the drill set no due time."""

    name: str
    expected_plan: str | None
    plans_activated: list[str]
    plan_as_expected: bool | None = Field(description="null when the drill expected no particular plan")
    decide_by: datetime | None
    first_decision_at: datetime | None
    late_by_s: float | None = Field(description="seconds past the due time of a late decision")
    verdict: Literal["on_time", "late", "missed", "pending", "made", "not_made"]


class IncidentReport(BaseModel):
    """The after-action report (评估) of one incident, every figure computed from its event log and timeline, so it
    can be rebuilt for any past incident. ``partial``: the incident was still open when the report was made."""

    incident_id: int
    title: str
    category: str | None
    subtype: str | None
    grade: str | None
    status: str
    location: dict[str, Any] = Field(description="GeoJSON Point")
    reported_at: datetime
    closed_at: datetime | None
    partial: bool
    exercise: bool = Field(default=False, description="the incident was made by a drill (演练)")
    generated_at: datetime
    last_event_id: int | None = Field(description="the newest event the report read")
    timeline: list[TimelineEntryOut]
    units: list[UnitResponse]
    late_tasks: list[LateTask]
    escalations: list[Escalation]
    failed_deliveries: list[FailedDelivery]
    drill: DrillScore | None = Field(default=None, description="a drill's incident: the room scored against it")
    map: dict[str, Any] = Field(
        description="GeoJSON FeatureCollection: the incident (a Point) and each unit's track (LineString, or a "
        "Point for a single position), from its unit.location events while dispatched"
    )


class Percentiles(BaseModel):
    """One interval's spread over the period: how many measured, and its percentiles in seconds."""

    count: int
    p50_s: float | None
    p90_s: float | None
    p95_s: float | None


class ResponseTimeGroup(BaseModel):
    """The response times of one category and grade (both ``null`` in the row of every incident together)."""

    category: str | None
    grade: str | None
    all: bool = Field(description="true for the row over every incident of the period")
    incidents: int
    dispatches: int
    dispatch: Percentiles = Field(description="incident reported → its first unit dispatched")
    acknowledge: Percentiles = Field(description="a unit dispatched → its crew acknowledged")
    on_scene: Percentiles = Field(description="a unit dispatched → on scene")
    response: Percentiles = Field(description="incident reported → its first unit on scene")


class ResponseTimes(BaseModel):
    """Percentiles of the response intervals across the incidents logged in ``[from, to)``."""

    from_: datetime = Field(alias="from", serialization_alias="from")
    to: datetime
    groups: list[ResponseTimeGroup]

    model_config = {"populate_by_name": True}
