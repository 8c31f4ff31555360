"""What the incident endpoints take and give (API.md, "Intake and incidents")."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from geoalchemy2 import WKBElement
from geoalchemy2.shape import to_shape
from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.bounds import Version
from core.clock import ObservedAt
from core.geojson import Point
from incidents.lifecycle import Status
from incidents.schemas import Facts, Grade

Level = Literal["I", "II", "III", "IV"]
MAX_DESCRIPTION = 20_000


def _strip(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


class IncidentIn(BaseModel):
    """A report as the duty officer logs it. Facts given here win over those read from the description."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION)
    location: Point
    title: str | None = Field(default=None, max_length=200)
    facts: Facts | None = None
    source: str | None = Field(default=None, max_length=64)
    reported_at: ObservedAt | None = None
    category: str | None = Field(default=None, max_length=32)
    subtype: str | None = Field(default=None, max_length=48)

    @field_validator("description")
    @classmethod
    def _description_has_words(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the description is empty")
        return value.strip()

    _title = field_validator("title", "source", "category", "subtype")(_strip)


class IncidentPatch(BaseModel):
    """An edit by a duty officer or commander: a fuller description, a moved pin, corrected facts."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, min_length=1, max_length=MAX_DESCRIPTION)
    location: Point | None = None
    facts: Facts | None = None
    category: str | None = Field(default=None, max_length=32)
    subtype: str | None = Field(default=None, max_length=48)
    version: Version | None = None

    _strip = field_validator("title", "description", "category", "subtype")(_strip)


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: Status
    reason: str | None = Field(default=None, max_length=2000)
    version: Version | None = None


class GradeOverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: Level
    reason: str = Field(min_length=3, max_length=2000)
    version: Version | None = None


class DuplicateDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["confirm", "dismiss"]
    reason: str | None = Field(default=None, max_length=2000)
    version: Version | None = None


class GradeOut(Grade):
    """The grade in force, plus what the rules computed when a commander overrode them."""

    computed: Grade | None = None
    override: dict[str, Any] | None = None


class JurisdictionRef(BaseModel):
    id: int
    name: str
    name_en: str | None = None


class PlanMatchOut(BaseModel):
    """A plan that applies to the incident (API.md ``plan_matches``), as plans ranked it, with its reasons."""

    plan_id: str
    name: str
    name_en: str | None = None
    version: str
    kind: str
    score: float
    level: str
    reasons: list[str]


class IncidentOut(BaseModel):
    """The incident's one shape: the 201 body, ``GET /incidents/{id}``, a list item and the ``data`` of every
    ``incident.*`` event (which adds ``change``) are all this, read from the stored record by
    ``incidents.service.present``."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    description: str
    location: Point
    category: str | None
    subtype: str | None
    confidence: float
    matched: list[str]
    facts: dict[str, Any]
    fact_sources: dict[str, str]
    grade: GradeOut
    status: Status
    jurisdiction: JurisdictionRef | None
    possible_duplicate_of: int | None
    duplicate_status: str | None
    merged_into: int | None
    plan_matches: list[PlanMatchOut]
    source: str | None
    reported_at: datetime
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    version: int

    @field_validator("location", mode="before")
    @classmethod
    def _stored_point(cls, value: Any) -> Any:
        if isinstance(value, WKBElement):
            shape = to_shape(value)
            return Point.of(shape.x, shape.y)
        return value


class TimelineEntryOut(BaseModel):
    """A line of the incident's timeline: what happened, when, by whom, with its details."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    kind: str
    actor: str | None
    data: dict[str, Any]

    @classmethod
    def of(cls, entry: Any) -> TimelineEntryOut:
        return cls.model_validate(entry, from_attributes=True)
