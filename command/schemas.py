"""What the dispatch and unit endpoints take and give."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.bounds import Id
from core.clock import ObservedAt
from core.geojson import Point
from gis.schemas import MAX_K, ResourceOut, UnitStatus

# How many units of an ad-hoc type a recommendation may ask for: as many as gis ranks in one query.
MAX_AD_HOC_COUNT = MAX_K


class DispatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit_ids: list[Id] = Field(min_length=1, max_length=50)


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: UnitStatus
    reason: str | None = Field(default=None, max_length=500)


class LocationIn(Point):
    """A GeoJSON Point, optionally with the time of the fix (default: when it arrives) and what the device says of
    its motion and precision, as the W3C Geolocation API reports them."""

    model_config = ConfigDict(extra="forbid")

    at: ObservedAt | None = None
    speed: float | None = Field(default=None, ge=0, le=200, allow_inf_nan=False, description="m/s")
    heading: float | None = Field(default=None, ge=0, le=360, allow_inf_nan=False, description="degrees from north")
    accuracy: float | None = Field(default=None, ge=0, le=100_000, allow_inf_nan=False, description="metres")


class FixOut(BaseModel):
    """A stored fix: ``trusted`` false when its implied speed is impossible; ``moved`` true when it moved the unit
    (false for an implausible one or one older than the unit's newest)."""

    id: int
    at: datetime
    trusted: bool | None
    moved: bool | None
    speed_kmh: float | None


class LocationOut(BaseModel):
    unit: ResourceOut
    fix: FixOut


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


class TrackFix(BaseModel):
    at: datetime
    trusted: bool
    speed_kmh: float | None
    speed: float | None = Field(description="m/s, as the device reported it")
    heading: float | None
    accuracy: float | None
    location: dict[str, Any]


class TrackOut(BaseModel):
    items: list[TrackFix]
    total: int


class DispatchOut(BaseModel):
    id: int
    incident_id: int
    unit_id: int
    unit_type: str
    status: str
    created_by: str | None
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    warned_at: datetime | None
    escalated_at: datetime | None
    closed_at: datetime | None
    close_reason: str | None

    @classmethod
    def of(cls, dispatch: Any) -> DispatchOut:
        return cls.model_validate(dispatch, from_attributes=True)
