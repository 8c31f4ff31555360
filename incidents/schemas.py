"""Pydantic shapes of intake: a report's facts, its classification and its grade (API.md "Intake and incidents")."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

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
