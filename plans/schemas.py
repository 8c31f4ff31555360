"""The plan document (应急预案 as data) and what the plan endpoints give back.

A plan names who owns it and which version it is; its triggers say which incidents it covers; for each response
level (I most severe … IV) it lists the resources to send, whom to notify and a phased task checklist with deadlines
counted from activation. plans/README.md shows the YAML form; plans/library/ holds the shipped plans.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from shapely.geometry import shape
from shapely.validation import explain_validity

from core.bounds import json_problem
from core.clock import EARLIEST, LATEST_SCENARIO, ScenarioAt
from core.geojson import LonLat, check_lon_lat
from incidents import schemas as incident_schemas
from plans.present import (  # noqa: F401  (re-exported: the answers of the plan endpoints, built in plans.present)
    ActivationOut,
    ActivationResultOut,
    AddedOut,
    CheckReportOut,
    PlanLoaded,
    PlanOut,
    PlanSummaryOut,
    TaskOut,
    UnmetRequirement,
)
from plans.vocabulary import CHANNELS, RESOURCE_TYPES, ROLES, Level, PlanKind, levels_from
from plans.vocabulary import TaskAction as TaskAction  # the task actions' names travel through this door
from plans.window import DEFAULT_TZ, parse_window, text_of

VERSION = re.compile(r"^\d{1,4}(\.\d{1,3}){0,2}$")
MAX_DUE_MINUTES = 30 * 24 * 60
MAX_COUNT = 10_000
# Bounds on a plan document's lists: far above any real plan (the shipped ones have 2-6 phases of up to 12 tasks),
# low enough that a document cannot be made of millions of entries.
MAX_KEYS = 50
MAX_ITEMS = 100
MAX_POLYGON_PARTS = 1_000
# Plans are written and take effect within this span (a year 1 or 9999 date is a typo, not a plan).
FIRST_EFFECTIVE = date(1990, 1, 1)
LAST_EFFECTIVE = date(2099, 12, 31)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bilingual(_Strict):
    """A text in Chinese and English."""

    zh: str = Field(min_length=1, max_length=500)
    en: str = Field(min_length=1, max_length=500)


def _known_category(value: str) -> str:
    if value not in incident_schemas.CATEGORIES:
        raise ValueError(f"unknown category {value!r}; known: {', '.join(incident_schemas.CATEGORIES)}")
    return value


def _known_subtype(value: str) -> str:
    if value not in incident_schemas.SUBTYPES:
        raise ValueError(f"unknown subtype {value!r} (see DOMAIN.md section 1)")
    return value


def _known_resource_type(value: str) -> str:
    if value not in RESOURCE_TYPES:
        raise ValueError(f"unknown resource type {value!r}; known: {', '.join(sorted(RESOURCE_TYPES))}")
    return value


def _known_role(value: str) -> str:
    if value not in ROLES:
        raise ValueError(f"unknown role {value!r}; known: {', '.join(ROLES)}")
    return value


def _count(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"a count must be a whole number, got {value!r}")
    if value < 1:
        raise ValueError(f"a count must be at least 1, got {value}")
    if value > MAX_COUNT:
        raise ValueError(f"a count must be at most {MAX_COUNT}, got {value}")
    return value


def _due(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"due_minutes must be a whole number of minutes, got {value!r}")
    if value < 0:
        raise ValueError(f"a task cannot be due before activation (due_minutes {value} is negative)")
    if value > MAX_DUE_MINUTES:
        raise ValueError(f"due_minutes must be at most {MAX_DUE_MINUTES} (30 days), got {value}")
    return value


CategoryKey = Annotated[str, AfterValidator(_known_category)]
SubtypeKey = Annotated[str, AfterValidator(_known_subtype)]
ResourceKey = Annotated[str, AfterValidator(_known_resource_type)]
RoleKey = Annotated[str, AfterValidator(_known_role)]
Count = Annotated[int, BeforeValidator(_count)]
DueMinutes = Annotated[int, BeforeValidator(_due)]


def _check_ring(ring: Any, where: str) -> None:
    if not isinstance(ring, list) or len(ring) < 4:
        raise ValueError(f"{where} needs at least 4 positions (a closed triangle), got {ring!r:.80}")
    for position in ring:
        if not (isinstance(position, list | tuple) and len(position) in (2, 3)):
            raise ValueError(f"{where}: {position!r:.60} is not a [longitude, latitude] position")
        if not all(isinstance(c, int | float) and not isinstance(c, bool) for c in position):
            raise ValueError(f"{where}: {position!r:.60} must hold numbers")
        check_lon_lat(float(position[0]), float(position[1]))
    if list(ring[0][:2]) != list(ring[-1][:2]):
        raise ValueError(
            f"{where} does not close: its first position {list(ring[0])} differs from its last {list(ring[-1])}"
        )


class Polygon(_Strict):
    """A GeoJSON Polygon or MultiPolygon in lon/lat; rings must close and the whole must be valid."""

    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any] = Field(max_length=MAX_POLYGON_PARTS)

    @model_validator(mode="after")
    def _closed_and_valid(self) -> Polygon:
        polygons = [self.coordinates] if self.type == "Polygon" else self.coordinates
        if not polygons:
            raise ValueError("the polygon has no coordinates")
        for p, rings in enumerate(polygons):
            if not isinstance(rings, list) or not rings:
                raise ValueError(f"polygon {p} has no rings")
            for r, ring in enumerate(rings):
                _check_ring(ring, f"ring {r} of polygon {p}" if self.type == "MultiPolygon" else f"ring {r}")
        geometry = shape(self.model_dump())
        if not geometry.is_valid:
            raise ValueError(f"the polygon is not valid: {explain_validity(geometry)}")
        return self


class Area(_Strict):
    """Where a local plan applies: inside a polygon, or in named jurisdictions (either suffices)."""

    polygon: Polygon | None = None
    jurisdictions: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=MAX_ITEMS
    )

    @model_validator(mode="after")
    def _something(self) -> Area:
        if self.polygon is None and not self.jurisdictions:
            raise ValueError("an area needs a polygon or jurisdiction names")
        return self


class TimeWindow(_Strict):
    """When the plan applies: ``MM-DD`` ends for a yearly season (may wrap past New Year), or dates/date-times
    for a one-off period; an end date includes its whole day."""

    start: str = Field(max_length=32)
    end: str = Field(max_length=32)
    timezone: str = Field(default=DEFAULT_TZ, max_length=64)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _as_text(cls, value: object) -> object:
        # YAML reads 2026-01-28 as a date: keep the text the planner wrote.
        return text_of(value) if isinstance(value, date | datetime) else value

    @model_validator(mode="after")
    def _parses(self) -> TimeWindow:
        out_of_range = ValueError(f"a one-off window must lie between {EARLIEST:%Y} and {LATEST_SCENARIO:%Y}")
        try:
            window = parse_window(self.start, self.end, self.timezone)
        except OverflowError:  # the day after 9999-12-31
            raise out_of_range from None
        if window.start_at is not None and window.start_at < EARLIEST:
            raise out_of_range
        if window.end_at is not None and window.end_at > LATEST_SCENARIO:
            raise out_of_range
        return self


class Triggers(_Strict):
    """Which incidents the plan covers: categories or subtypes, from a lowest grade, optionally in an area and a
    time window."""

    categories: list[CategoryKey] = Field(default_factory=list, max_length=MAX_KEYS)
    subtypes: list[SubtypeKey] = Field(default_factory=list, max_length=MAX_KEYS)
    min_level: Level = "IV"
    area: Area | None = None
    time_window: TimeWindow | None = None

    @model_validator(mode="after")
    def _covers_something(self) -> Triggers:
        if not self.categories and not self.subtypes:
            raise ValueError("triggers need at least one category or subtype")
        return self


class Notice(_Strict):
    """Whom to notify on activation: an agency, a role, or a role within an agency."""

    agency: Bilingual | None = None
    role: RoleKey | None = None
    channel: str = Field(default="phone", max_length=32)

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, value: str) -> str:
        if value not in CHANNELS:
            raise ValueError(f"unknown channel {value!r}; known: {', '.join(sorted(CHANNELS))}")
        return value

    @model_validator(mode="after")
    def _someone(self) -> Notice:
        if self.agency is None and self.role is None:
            raise ValueError("a notice needs an agency or a role")
        return self

    @property
    def key(self) -> str:
        """What makes two notices the same one (it is sent once per activation)."""
        return f"{self.agency.zh if self.agency else ''}|{self.role or ''}|{self.channel}"


class Task(_Strict):
    """One item of the checklist: what, who, and how many minutes after activation it is due."""

    task: Bilingual
    role: RoleKey
    due_minutes: DueMinutes


class Phase(_Strict):
    name: Bilingual
    tasks: list[Task] = Field(min_length=1, max_length=MAX_ITEMS)


class LevelPackage(_Strict):
    """What one response level commits: resources (type → count), notices, and the phased checklist.

    Each level is complete in itself; escalation adds only what the higher level has beyond what was issued."""

    summary: Bilingual | None = None
    resources: dict[ResourceKey, Count] = Field(default_factory=dict, max_length=MAX_KEYS)
    notify: list[Notice] = Field(default_factory=list, max_length=MAX_ITEMS)
    phases: list[Phase] = Field(min_length=1, max_length=MAX_KEYS)

    @model_validator(mode="after")
    def _tasks_unique(self) -> LevelPackage:
        seen: set[str] = set()
        for phase in self.phases:
            for task in phase.tasks:
                if task.task.zh in seen:
                    raise ValueError(f"task {task.task.zh!r} appears twice in this level")
                seen.add(task.task.zh)
        return self

    def tasks(self) -> list[tuple[Phase, Task]]:
        return [(phase, task) for phase in self.phases for task in phase.tasks]


class Levels(_Strict):
    I: LevelPackage | None = None  # noqa: E741  (the level's name)
    II: LevelPackage | None = None
    III: LevelPackage | None = None
    IV: LevelPackage | None = None

    def get(self, level: str) -> LevelPackage | None:
        package: LevelPackage | None = getattr(self, level)
        return package


class PlanDocument(_Strict):
    """A contingency plan as planners write it (YAML or JSON)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$")
    name: Bilingual
    kind: PlanKind
    agency: Bilingual
    version: str = Field(max_length=16)
    effective_from: date = Field(ge=FIRST_EFFECTIVE, le=LAST_EFFECTIVE)
    summary: Bilingual | None = None
    triggers: Triggers
    levels: Levels

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        # JSON bodies are checked at the web door; a YAML document ("\0" is a YAML escape) and the CLI come here.
        problem = json_problem(value, root="plan") if isinstance(value, dict) else None
        if problem is not None:
            raise ValueError(" ".join(problem))
        return value

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)  # YAML reads `version: 2` as a number
        if not isinstance(value, str) or not VERSION.fullmatch(value):
            raise ValueError(
                "version must look like 1, 2.1 or 2026.1.0 (at most three numbers, the first up to 9999, "
                f"the others up to 999), got {value!r}"
            )
        return value

    @field_validator("levels")
    @classmethod
    def _levels_from_min(cls, value: Levels, info: ValidationInfo) -> Levels:
        triggers = info.data.get("triggers")
        needed = levels_from(triggers.min_level) if isinstance(triggers, Triggers) else ("I",)
        missing = [level for level in needed if value.get(level) is None]
        if missing:
            floor = triggers.min_level if isinstance(triggers, Triggers) else "I"
            raise ValueError(
                f"missing level(s) {', '.join(missing)}: the plan activates from {floor}, "
                f"so it must define {', '.join(needed)}"
            )
        return value

    @property
    def version_number(self) -> int:
        """The version as one sortable number (2.1 → 2_001_000)."""
        return version_number(self.version)


def version_number(version: str) -> int:
    parts = [int(p) for p in version.split(".")] + [0, 0]
    return parts[0] * 1_000_000 + parts[1] * 1_000 + parts[2]


# ------------------------------------------------------------------------------------------------ API shapes


class ActivationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_id: str = Field(min_length=1, max_length=64)
    level: Level | None = None


class ReassignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee: str = Field(min_length=1, max_length=64)
    role: RoleKey | None = None
    note: str | None = Field(default=None, max_length=2000)


class TaskActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=2000)


class ExampleIncident(BaseModel):
    """An incident for the dry run: the facts matching uses, nothing else."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    category: CategoryKey | None = None
    subtype: SubtypeKey | None = None
    level: Level | None = None
    location: LonLat = Field(description="[lon, lat]")
    at: ScenarioAt | None = None

    @field_validator("location")
    @classmethod
    def _real(cls, value: tuple[float, float]) -> tuple[float, float]:
        check_lon_lat(*value)
        return value

    @model_validator(mode="after")
    def _category_of_subtype(self) -> ExampleIncident:
        if self.subtype is not None:
            owner = incident_schemas.category_of(self.subtype)
            if self.category is None:
                object.__setattr__(self, "category", owner)
            elif owner != self.category:
                raise ValueError(f"subtype {self.subtype!r} belongs to {owner}, not {self.category}")
        return self


class CheckIn(BaseModel):
    """Body of the dry run: example incidents, or none to replay the stored ones."""

    model_config = ConfigDict(extra="forbid")

    incidents: list[ExampleIncident] | None = Field(default=None, max_length=10_000)
    limit: int = Field(default=1000, ge=1, le=10_000)
