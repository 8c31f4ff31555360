"""incidents' shapes, part of its door (with ``incidents.service``): what a report says (facts, classification,
grade: also the text reader's vocabulary), what the incident endpoints take and give (API.md "Intake and
incidents"), the lifecycle's statuses and the taxonomy's keys, and what other packages may read of a stored incident
(``IncidentRecord``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from geoalchemy2 import WKBElement
from geoalchemy2.shape import to_shape
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from core.bounds import Version
from core.clock import ObservedAt, ScenarioAt
from core.geojson import Point
from incidents.lifecycle import Status as Status
from incidents.phones import MAX_PHONE  # the statuses travel through this door
from incidents.taxonomy import CATEGORIES as CATEGORIES  # the taxonomy's keys too (pure data)
from incidents.taxonomy import SUBTYPES as SUBTYPES
from incidents.taxonomy import Category as Category
from incidents.taxonomy import Subtype as Subtype
from incidents.taxonomy import category_of as category_of

Level = Literal["I", "II", "III", "IV"]
FactSource = Literal["given", "extracted"]

MAX_TEXT = 20_000
# Upper limits keep absurd input (a count larger than the world's population) out of grading and storage.
MAX_COUNT = 10_000_000_000
MAX_MONEY = 1e16

Count = Annotated[StrictInt, Field(ge=0, le=MAX_COUNT)]
Money = Annotated[float, Field(ge=0, le=MAX_MONEY, allow_inf_nan=False)]
Magnitude = Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)]

FACT_FIELDS: tuple[str, ...] = (
    "deaths",
    "missing",
    "injuries",
    "serious_injuries",
    "poisoned",
    "affected",
    "evacuated",
    "economic_loss_cny",
    "magnitude",
)


class Facts(BaseModel):
    """What a report says happened, in numbers. Every field is optional: ``None`` means "not stated".

    ``injuries`` is the total number of injured people and includes the seriously injured, so
    ``injuries >= serious_injuries`` whenever both are known. ``lower_bounds`` names the facts stated as
    "at least" values (40余人, more than 12, dozens...): the number is the stated floor.
    """

    model_config = ConfigDict(extra="forbid")

    deaths: Count | None = None
    missing: Count | None = None
    injuries: Count | None = None
    serious_injuries: Count | None = None
    poisoned: Count | None = None
    affected: Count | None = None
    evacuated: Count | None = None
    economic_loss_cny: Money | None = None
    magnitude: Magnitude | None = None
    lower_bounds: list[Annotated[str, Field(max_length=32)]] = Field(default_factory=list, max_length=len(FACT_FIELDS))

    @field_validator(
        "deaths", "missing", "injuries", "serious_injuries", "poisoned", "affected", "evacuated", mode="before"
    )
    @classmethod
    def _whole_counts(cls, value: object) -> object:
        # JSON has one number type: accept 3.0 for a count, refuse 2.5 and booleans (strict int does the rest).
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    @field_validator("lower_bounds")
    @classmethod
    def _known_fact_names(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in FACT_FIELDS]
        if unknown:
            raise ValueError(f"unknown fact name(s): {', '.join(unknown)}; expected one of {', '.join(FACT_FIELDS)}")
        return sorted(set(value), key=FACT_FIELDS.index)

    def known(self) -> dict[str, float]:
        """The stated facts only, by name."""
        return {name: value for name in FACT_FIELDS if (value := getattr(self, name)) is not None}


class GradeBasis(BaseModel):
    """One fact the grade rests on, the level that fact reaches and the rule criterion it met."""

    fact: str
    value: float
    level: Level
    criterion: str
    text: str


class Grade(BaseModel):
    """The event grade (事件分级) with the rule set that produced it; ``level`` is ``None`` without usable facts."""

    level: Level | None = None
    rule_id: str | None = None
    rule_version: str | None = None
    basis: list[GradeBasis] = Field(default_factory=list)


class Classification(BaseModel):
    """Category and subtype of a report, how sure the classifier is, and the terms that decided it."""

    category: str | None = None
    subtype: str | None = None
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    matched: list[str] = Field(default_factory=list)


class ClassifyRequest(BaseModel):
    """Body of ``POST /api/v1/classify``."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=MAX_TEXT)
    facts: Facts | None = None
    # The officer's correction, as POST /incidents takes it: the grade is then computed for these keys.
    category: str | None = Field(default=None, max_length=32)
    subtype: str | None = Field(default=None, max_length=48)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("text must not be empty")
        return value


class ClassifyResult(BaseModel):
    """Classification, facts (given ones win over extracted ones, field by field) and grade of one report."""

    category: str | None = None
    subtype: str | None = None
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    matched: list[str] = Field(default_factory=list)
    facts: Facts = Field(default_factory=Facts)
    fact_sources: dict[str, FactSource] = Field(default_factory=dict)
    grade: Grade = Field(default_factory=Grade)


# ---------------------------------------------------------------------------------------------------- the record


class IncidentRecord(Protocol):
    """What another package may read of a stored incident that ``incidents.service`` hands it (its table and ORM
    class stay inside incidents): enough to match plans, recommend units and check a response, read-only."""

    @property
    def id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def category(self) -> str | None: ...
    @property
    def subtype(self) -> str | None: ...
    @property
    def level(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def location(self) -> WKBElement: ...
    @property
    def reported_at(self) -> datetime: ...
    @property
    def plan_matches(self) -> list[dict[str, Any]]: ...
    @property
    def exercise(self) -> bool: ...
    @property
    def drill(self) -> dict[str, Any] | None: ...


MAX_DESCRIPTION = 20_000
MAX_ADDRESS = 500
MAX_CALLER_NAME = 100


def _strip(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


class DrillIn(BaseModel):
    """What a drill (演练) expects of the room for one of its reports, scored in the incident's after-action report:
    the plan it should activate, and by when the first decision (a plan activated or a unit sent) is due.
    ``deliveries``: the drill's alerts for this incident go out for real (to the crews' phones and the commanders,
    marked as an exercise) instead of staying on the pages, as a drill that tests the phones says."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    plan: str | None = Field(default=None, min_length=1, max_length=100)
    decide_by: ScenarioAt | None = None
    deliveries: bool = False

    _name = field_validator("name", "plan")(_strip)


class IncidentIn(BaseModel):
    """A report as the duty officer logs it. Facts given here win over those read from the description."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION)
    location: Point
    title: str | None = Field(default=None, max_length=200)
    facts: Facts | None = None
    source: str | None = Field(default=None, max_length=64)
    exercise: bool = False  # a drill's report (演练)
    drill: DrillIn | None = None  # only with ``exercise``
    reported_at: ObservedAt | None = None
    category: str | None = Field(default=None, max_length=32)
    subtype: str | None = Field(default=None, max_length=48)
    address_text: str | None = Field(default=None, max_length=MAX_ADDRESS)
    callback_requested: bool = False
    # The caller: kept apart from the incident (incidents.models.IncidentCaller), never in its shape.
    caller_name: str | None = Field(default=None, max_length=MAX_CALLER_NAME)
    caller_phone: str | None = Field(default=None, max_length=MAX_PHONE)

    @field_validator("description")
    @classmethod
    def _description_has_words(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the description is empty")
        return value.strip()

    _title = field_validator("title", "source", "category", "subtype", "address_text", "caller_name", "caller_phone")(
        _strip
    )

    @model_validator(mode="after")
    def _drill_is_an_exercise(self) -> IncidentIn:
        if self.drill is not None and not self.exercise:
            raise ValueError("drill: a drill's expectations go only with exercise: true")
        return self


class IncidentPatch(BaseModel):
    """An edit by a duty officer or commander: a fuller description, a moved pin, corrected facts."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, min_length=1, max_length=MAX_DESCRIPTION)
    location: Point | None = None
    facts: Facts | None = None
    category: str | None = Field(default=None, max_length=32)
    subtype: str | None = Field(default=None, max_length=48)
    # null clears the address; the caller's fields, sent here, change the caller record (never the incident's shape)
    address_text: str | None = Field(default=None, max_length=MAX_ADDRESS)
    callback_requested: bool | None = None
    caller_name: str | None = Field(default=None, max_length=MAX_CALLER_NAME)
    caller_phone: str | None = Field(default=None, max_length=MAX_PHONE)
    version: Version | None = None

    _strip = field_validator(
        "title", "description", "category", "subtype", "address_text", "caller_name", "caller_phone"
    )(_strip)


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
    exercise: bool
    drill: dict[str, Any] | None = Field(
        default=None, description="a drill's expectations of the room for this report (only on an exercise)"
    )
    address_text: str | None
    callback_requested: bool
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


# Warnings (预警) and CAP feeds: their shapes live beside their rules.
# What the desk records beside the incident (notes, the caller): shapes of their own, never part of IncidentOut.
from incidents.desk_schemas import CallerOut as CallerOut  # noqa: E402
from incidents.desk_schemas import NoteIn as NoteIn  # noqa: E402
from incidents.desk_schemas import NoteOut as NoteOut  # noqa: E402
from incidents.warning_schemas import CapFeedIn as CapFeedIn  # noqa: E402
from incidents.warning_schemas import CapFeedOut as CapFeedOut  # noqa: E402
from incidents.warning_schemas import OpenIncidentIn as OpenIncidentIn  # noqa: E402
from incidents.warning_schemas import WarningDetail as WarningDetail  # noqa: E402
from incidents.warning_schemas import WarningOut as WarningOut  # noqa: E402
from incidents.warning_schemas import WarningState as WarningState  # noqa: E402
