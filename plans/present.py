"""Plans, activations and tasks as the API shows them: one pydantic model per resource, read from the stored rows
(``from_attributes``) by one function each, for the HTTP body and the event alike. Re-exported by ``plans.schemas``,
the package's door."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasPath, BaseModel, ConfigDict, Field, field_validator

from plans.vocabulary import LEVELS, ROLES

if TYPE_CHECKING:  # the rows these read; the door (plans.schemas) must not pull the tables in
    from plans.models import Activation, Plan, PlanNotice, PlanTask, Requirement

LoadOutcome = Literal["created", "unchanged"]
ActivationOutcome = Literal["activated", "escalated", "unchanged", "lowered"]


class PlanSummaryOut(BaseModel):
    """A plan version in the library's list: what it is, whether it is current, what triggers it, its levels."""

    # Read from the row (``plan_id``, ``created_at``, the document) or from another answer by its own names.
    model_config = ConfigDict(from_attributes=True, validate_by_name=True)

    id: str = Field(validation_alias="plan_id")
    version: str
    name: str
    name_en: str
    kind: str
    agency: str
    effective_from: date
    current: bool
    superseded_at: datetime | None
    source: str | None
    loaded_at: datetime | None = Field(validation_alias="created_at")
    triggers: dict[str, Any] = Field(default_factory=dict, validation_alias=AliasPath("document", "triggers"))
    levels: list[str] = Field(default_factory=list, validation_alias=AliasPath("document", "levels"))

    @field_validator("levels", mode="before")
    @classmethod
    def _defined_levels(cls, value: Any) -> list[str]:
        """The levels the document defines, least severe first."""
        return [level for level in LEVELS if level in (value or {})]

    @classmethod
    def of(cls, plan: Plan) -> PlanSummaryOut:
        return cls.model_validate(plan, from_attributes=True)


class PlanOut(PlanSummaryOut):
    """A plan version with its whole document."""

    document: dict[str, Any]

    @classmethod
    def of(cls, plan: Plan) -> PlanOut:
        return cls.model_validate(plan, from_attributes=True)


class PlanLoaded(PlanOut):
    """The answer to loading a plan: the version as stored, whether it was new, and the versions it superseded."""

    outcome: LoadOutcome
    superseded: list[str]


class TaskOut(BaseModel):
    """A plan task; ``overdue`` is true while it is open past its deadline (marked by the sweep or not yet)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    activation_id: int
    incident_id: int
    level: str
    phase: str
    phase_en: str
    title: str
    title_en: str
    role: str
    role_name: str = Field(validation_alias=AliasPath("role"))
    role_name_en: str = Field(validation_alias=AliasPath("role"))
    due_minutes: int
    due_at: datetime
    status: str
    assignee: str | None
    started_at: datetime | None
    done_at: datetime | None
    overdue: bool = False
    overdue_at: datetime | None
    version: int

    @field_validator("role_name", mode="before")
    @classmethod
    def _name(cls, role: str) -> str:
        return ROLES.get(role, (role, role))[0]

    @field_validator("role_name_en", mode="before")
    @classmethod
    def _name_en(cls, role: str) -> str:
        return ROLES.get(role, (role, role))[1]

    @classmethod
    def of(cls, task: PlanTask, *, now: datetime | None = None) -> TaskOut:
        """``now``: also call a task overdue whose deadline has passed though the sweep has not marked it yet."""
        out = cls.model_validate(task, from_attributes=True)
        late = out.overdue_at is not None or (now is not None and out.due_at < now)
        out.overdue = out.status != "done" and late
        return out


class RequirementLine(BaseModel):
    """One resource type an activation asks for: the total, how many are filled, and what each level added."""

    resource_type: str
    count: int
    filled: int
    added: dict[str, int]


def requirement_lines(rows: Sequence[Requirement]) -> list[RequirementLine]:
    """The activation's requirement rows (one per level that asked) as one line per resource type."""
    totals: dict[str, list[int]] = {}
    added: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        line = totals.setdefault(row.resource_type, [0, 0])
        line[0] += row.count
        line[1] += row.filled
        added[row.resource_type][row.level] = added[row.resource_type].get(row.level, 0) + row.count
    return [
        RequirementLine(resource_type=key, count=count, filled=filled, added=added[key])
        for key, (count, filled) in totals.items()
    ]


class NoticeOut(BaseModel):
    """A notice an activation sends (to an agency or a role, by a channel) and where it stands."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    agency: str | None
    agency_en: str | None
    role: str | None
    channel: str
    level: str
    status: str


class ActivationOut(BaseModel):
    """A plan activated for an incident, with its tasks, requirements and notices: the HTTP answers and the data of
    ``plan.activated``, ``plan.escalated`` and ``plan.lowered``."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    incident_id: int
    plan_id: str
    plan_version: str
    level: str
    activated_by: str | None
    activated_at: datetime
    updated_at: datetime
    history: list[dict[str, Any]]
    tasks: list[TaskOut] = Field(default_factory=list)
    requirements: list[RequirementLine] = Field(default_factory=list)
    notices: list[NoticeOut] = Field(default_factory=list)

    @classmethod
    def of(
        cls,
        activation: Activation,
        *,
        tasks: Sequence[PlanTask],
        requirements: Sequence[Requirement],
        notices: Sequence[PlanNotice],
        now: datetime | None = None,
    ) -> ActivationOut:
        """The activation row, and its rows read apart (tables of their own, no ORM relationship)."""
        return cls.model_validate(activation, from_attributes=True).model_copy(
            update={
                "tasks": [TaskOut.of(t, now=now) for t in tasks],
                "requirements": requirement_lines(requirements),
                "notices": [NoticeOut.model_validate(n, from_attributes=True) for n in notices],
            }
        )


class AddedOut(BaseModel):
    """What one activation step issued: task titles, resources by type, notices by agency (or role)."""

    tasks: list[str]
    requirements: dict[str, int]
    notices: list[str | None]


class ActivationResultOut(ActivationOut):
    """The answer to ``POST /incidents/{id}/activations``: the activation, what this step did and added, and whether
    the plan was among the incident's matches."""

    outcome: ActivationOutcome
    message: str
    matched: bool
    added: AddedOut


class UnmetRequirement(BaseModel):
    """A resource type an incident's plans still lack units of."""

    incident_id: int
    resource_type: str
    count: int
    filled: int
    missing: int


class CheckMatch(BaseModel):
    plan_id: str
    score: float
    level: str


class CheckResult(BaseModel):
    incident: dict[str, Any]  # the example (its name, category, subtype, level) or the stored incident (and its id)
    matches: list[CheckMatch]


class SubtypeCoverage(BaseModel):
    covered: list[str]
    uncovered: list[str]
    not_covered_by_any: list[str]


class CheckReportOut(BaseModel):
    """The dry run: which plans would fire (the top match) or match for which incidents, and what no plan covers."""

    incidents: int
    covered: int
    uncovered: list[dict[str, Any]]
    plans_fired: dict[str, int]
    plans_matched: dict[str, int]
    subtypes: SubtypeCoverage
    results: list[CheckResult]
