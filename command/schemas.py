"""What the dispatch and unit endpoints take and give."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.bounds import Id
from core.clock import ObservedAt
from core.geojson import Point
from gis.schemas import MAX_K, UnitStatus

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
    """A GeoJSON Point, optionally with the time of the fix (default: when it arrives)."""

    model_config = ConfigDict(extra="forbid")

    at: ObservedAt | None = None


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
