"""What the dispatch and unit endpoints take and give."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from core.bounds import Id
from core.clock import ActionAt, ObservedAt
from core.geojson import Point
from gis.schemas import MAX_K, ReachOut, ResourceOut, StoredGeometry, UnitStatus
from plans.schemas import UnmetRequirement

# Where a recommendation's needs come from, and why a need is short (command.recommend).
Source = Literal["activation", "ad_hoc", "plan_preview", "none"]
Cause = Literal["none_available", "too_far", "stale_locations", "limit"]

# How many units of an ad-hoc type a recommendation may ask for: as many as gis ranks in one query.
MAX_AD_HOC_COUNT = MAX_K


class DispatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit_ids: list[Id] = Field(min_length=1, max_length=50)


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: UnitStatus
    reason: str | None = Field(default=None, max_length=500)
    at: ActionAt | None = Field(default=None, description="when the crew reported it (default: when it arrives)")


class AckIn(BaseModel):
    """An acknowledgement's body (optional): when the crew tapped it, for one sent late from a dead zone."""

    model_config = ConfigDict(extra="forbid")

    at: ActionAt | None = None


class LocationIn(Point):
    """A GeoJSON Point, optionally with the time of the fix (default: when it arrives) and what the device says of
    its motion and precision, as the W3C Geolocation API reports them."""

    model_config = ConfigDict(extra="forbid")

    at: ObservedAt | None = None
    speed: float | None = Field(default=None, ge=0, le=200, allow_inf_nan=False, description="m/s")
    heading: float | None = Field(default=None, ge=0, le=360, allow_inf_nan=False, description="degrees from north")
    accuracy: float | None = Field(default=None, ge=0, le=100_000, allow_inf_nan=False, description="metres")


class FixOutcome(BaseModel):
    """One fix of a batch, in the order sent: accepted (then ``trusted`` and ``moved`` as for one fix) or refused
    with its ``reason`` (invalid, future, too_old, not_permitted, unknown_unit, not_a_unit) and a ``detail``."""

    index: int
    unit_id: int | None
    accepted: bool
    reason: str | None = None
    detail: str | None = None
    trusted: bool | None = None
    moved: bool | None = None

    @classmethod
    def of(cls, outcome: Any) -> FixOutcome:
        return cls.model_validate(outcome, from_attributes=True)


class BatchOut(BaseModel):
    accepted: int
    refused: int
    results: list[FixOutcome]


class Alert(BaseModel):
    """One alert sent to a dispatched unit's crew."""

    at: datetime
    kind: Literal["alert", "realert"]
    unit_id: int
    channels: list[str]


class DispatchOut(BaseModel):
    """A dispatch, as every answer and every ``dispatch.*`` event shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    incident_id: int
    unit_id: int
    unit_type: str
    status: str
    created_by: str | None
    created_at: datetime
    ack_due_at: datetime = Field(description="the acknowledgement deadline, by the incident's grade")
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    warned_at: datetime | None = Field(description="when the unit was alerted again, its deadline missed")
    escalated_at: datetime | None
    escalation_handled_at: datetime | None
    escalation_handled_by: str | None
    escalation_handling: str | None = Field(description="acknowledged, redispatched, recalled or completed")
    alerts: list[Alert] = Field(description="every alert sent to the unit: when, why and by which channels")
    eta_s: float | None = Field(description="the route's travel time from the unit to the incident at dispatch")
    eta_method: str | None
    en_route_at: datetime | None
    overdue_at: datetime | None = Field(description="when unit.overdue was raised (en route past its ETA)")
    stale_at: datetime | None = Field(description="when unit.stale was last raised (no recent location fix)")
    closed_at: datetime | None
    close_reason: str | None

    @classmethod
    def of(cls, dispatch: Any) -> DispatchOut:
        return cls.model_validate(dispatch, from_attributes=True)


def dispatch_event_data(
    dispatch: Any, *, unit: dict[str, Any] | None = None, incident: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The ``data`` of a ``dispatch.*`` event: the dispatch as the API shows it, with the unit it concerns (who was
    alerted) and, for the alert itself, the incident it is sent to (all a crew needs to set off)."""
    data = DispatchOut.of(dispatch).model_dump(mode="json")
    if unit is not None:
        data["unit"] = unit
    if incident is not None:
        data["incident"] = incident
    return data


class FixOut(BaseModel):
    """A position fix as kept on the unit's track: the answer to a fix and a line of the track alike.
    ``trusted: false``: implausible (an impossible speed since the last trusted fix), so it moved nothing."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    unit_id: int
    at: datetime
    trusted: bool
    speed_kmh: float | None = Field(description="implied by the distance from the last trusted fix")
    location: StoredGeometry
    # As the device reported them (W3C Geolocation API units), when it did.
    speed: float | None = Field(default=None, validation_alias=AliasChoices("speed", "reported_speed_ms"))
    heading: float | None = Field(default=None, validation_alias=AliasChoices("heading", "heading_deg"))
    accuracy: float | None = Field(default=None, validation_alias=AliasChoices("accuracy", "accuracy_m"))

    @classmethod
    def of(cls, fix: Any) -> FixOut:
        return cls.model_validate(fix, from_attributes=True)


class LocationReport(BaseModel):
    """The answer to a position fix: the unit as it now stands (as its ``unit.location`` event shows it), the fix
    as kept, and whether it moved the unit (not when implausible, nor when older than the unit's newest fix)."""

    unit: ResourceOut
    fix: FixOut
    moved: bool


class IncidentCounts(BaseModel):
    open: int
    by_category: dict[str, dict[str, int]]  # category (or "unclassified") → grade (or "ungraded") → open incidents


class UnitCounts(BaseModel):
    by_status: dict[str, int]
    by_type: dict[str, dict[str, int]]  # unit type → status → units


class Situation(BaseModel):
    """The command room's counters: ``GET /situation`` and the ``data`` of ``situation.updated`` alike."""

    at: datetime
    incidents: IncidentCounts
    units: UnitCounts
    unmet_requirements: list[UnmetRequirement]
    overdue_tasks: int
    escalated_dispatches: int
    # Open incidents a drill logged (演练): counted apart, never in ``incidents``; pages show an exercise banner.
    exercises_open: int = 0


class ExercisesCleared(BaseModel):
    """``POST /exercises/clear``: what the end of a drill closed."""

    incidents: list[int]
    units_released: list[int]
    warnings_ended: int


class RecommendedUnit(ReachOut):
    """A unit proposed for a need, ranked by arrival (1 first) within it."""

    rank: int


class NeedFilled(BaseModel):
    """One resource type the incident needs: how many in all, already there or on the way, still missing; the
    units proposed; and, when they are not enough, how many are still unmet and why."""

    resource_type: str
    count: int
    filled: int
    missing: int
    units: list[RecommendedUnit]
    unmet: int
    cause: Cause | None


class Shortfall(BaseModel):
    resource_type: str
    missing: int
    cause: Cause
    detail: str


class PlanPreview(BaseModel):
    """The plan whose requirements a preview shows, before anyone activates it."""

    plan_id: str
    version: str
    level: str


class Recommendations(BaseModel):
    """``GET /incidents/{id}/recommendations``: per need, the units to send ranked by ETA, and every shortfall with
    its cause; ``items``/``total``: also the list shape of API.md (every proposed unit, need by need)."""

    incident_id: int
    source: Source
    plan: PlanPreview | None
    requirements: list[NeedFilled]
    unmet: list[Shortfall]
    items: list[RecommendedUnit]
    total: int


# The after-action report and the response-time percentiles: their shapes live beside their rules.
from command.report_schemas import MAX_PERIOD_DAYS as MAX_PERIOD_DAYS  # noqa: E402
from command.report_schemas import MILESTONES as MILESTONES  # noqa: E402
from command.report_schemas import IncidentReport as IncidentReport  # noqa: E402
from command.report_schemas import ResponseTimes as ResponseTimes  # noqa: E402
