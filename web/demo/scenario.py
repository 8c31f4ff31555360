"""A scenario file (YAML): timed reports, warnings and the commander's decisions, checked before anything runs.

    name: {zh: …, en: …}
    exercise: true|false        # a drill's records are marked as an exercise (CAP <status>Exercise</status>)
    deliveries: true|false      # optional (drills): the drill's alerts go out to real phones, marked as an exercise
    steps:
      - at: 0                   # scenario seconds from the start, never going backwards
        id: quake               # a name later steps refer to
        report: 青羊区发生4.9级地震…   # logged as typed by the duty officer
        location: [lon, lat]
        address: 青羊区人民中路二段
        category: natural_disaster   # optional: the officer's correction of the classifier
        subtype: earthquake
      - at: 20
        decide: quake           # the commander: activate a plan and dispatch the units recommended for it
        plan: <plan id>         # optional: that plan (it must exist); without, the best match
        due: 60                 # optional (drills): by when the decision is expected, scenario seconds
        late_ack: 1             # optional: the n-th unit dispatched (from 0) acknowledges after its deadline
      - at: 320
        warning: rainstorm
        cap: <alert …>{identifier} {sent} {expires} {status}</alert>

Errors name the step and say what is wrong: an unknown category or subtype, a time that goes backwards, a decision
about a report that does not come before it, a plan that does not exist, a location outside the world.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import Invalid

SCENARIOS = Path(__file__).parent / "scenarios"
MAX_STEPS = 1000
MAX_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Report:
    at: float
    id: str
    text: str
    lon: float
    lat: float
    address: str | None = None
    category: str | None = None
    subtype: str | None = None


@dataclass(frozen=True)
class Decision:
    at: float
    incident: str
    plan: str | None = None
    due: float | None = None
    late_ack: int | None = None


@dataclass(frozen=True)
class WarningStep:
    at: float
    id: str
    cap: str


Step = Report | Decision | WarningStep


@dataclass(frozen=True)
class Scenario:
    name: dict[str, str]
    exercise: bool
    steps: list[Step] = field(default_factory=list)
    deliveries: bool = False  # a drill's alerts go out for real (marked as an exercise), not only to the pages

    def decision_for(self, report: str) -> Decision | None:
        """The first decision the scenario expects about the report named ``report``."""
        return next((s for s in self.steps if isinstance(s, Decision) and s.incident == report), None)

    @property
    def length_s(self) -> float:
        return max((s.at for s in self.steps), default=0.0)


def _where(i: int, raw: Any) -> str:
    named = raw.get("id") or raw.get("decide") or raw.get("warning") if isinstance(raw, dict) else None
    return f"step {i + 1}" + (f" ({named})" if named else "")


def _number(value: Any, what: str, *, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValueError(f"{what} must be a number from {low:g} to {high:g}, not {value!r}")
    return float(value)


def _text(value: Any, what: str, *, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ValueError(f"{what} must be text of 1 to {limit} characters")
    return value


def parse(document: str, *, subtypes: dict[str, set[str]], plans: set[str]) -> Scenario:
    """A scenario from YAML text, checked against the categories (``subtypes``: category → its subtype keys) and
    the plan ids that exist. Raises ``Invalid`` saying which step is wrong and why."""
    import yaml

    try:
        raw = yaml.safe_load(document)
    except yaml.YAMLError as exc:
        raise Invalid(f"not YAML: {exc}"[:500]) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("steps"), list) or not raw["steps"]:
        raise Invalid("a scenario is a mapping with a non-empty list of steps")
    name = raw.get("name") or {}
    if isinstance(name, str):
        name = {"zh": name, "en": name}
    if not isinstance(name, dict) or not all(isinstance(v, str) for v in name.values()):
        raise Invalid("name must be text, or {zh: …, en: …}")
    if len(raw["steps"]) > MAX_STEPS:
        raise Invalid(f"at most {MAX_STEPS} steps")
    steps: list[Step] = []
    named: set[str] = set()
    last = 0.0
    for i, item in enumerate(raw["steps"]):
        try:
            step = _step(item, subtypes=subtypes, plans=plans, named=named)
        except ValueError as exc:
            raise Invalid(f"{_where(i, item)}: {exc}") from None
        if step.at < last:
            raise Invalid(f"{_where(i, item)}: at {step.at:g} s comes before the step above it ({last:g} s)")
        last = step.at
        if isinstance(step, Report | WarningStep):
            if step.id in named:
                raise Invalid(f"{_where(i, item)}: the id {step.id!r} is used twice")
            named.add(step.id)
        steps.append(step)
    exercise, deliveries = raw.get("exercise", False), raw.get("deliveries", False)
    if not isinstance(exercise, bool) or not isinstance(deliveries, bool):
        raise Invalid("exercise and deliveries are true or false")
    if deliveries and not exercise:
        raise Invalid("deliveries: only a drill (exercise: true) chooses whether its alerts go out")
    return Scenario(name={str(k): v for k, v in name.items()}, exercise=exercise, steps=steps, deliveries=deliveries)


def _step(item: Any, *, subtypes: dict[str, set[str]], plans: set[str], named: set[str]) -> Step:
    if not isinstance(item, dict):
        raise ValueError("a step is a mapping")
    at = _number(item.get("at"), "at", low=0, high=MAX_SECONDS)
    kinds = [k for k in ("report", "decide", "warning") if k in item]
    if len(kinds) != 1:
        raise ValueError("a step is exactly one of report, decide or warning")
    if kinds == ["report"]:
        location = item.get("location")
        if not isinstance(location, list) or len(location) != 2:
            raise ValueError("location must be [lon, lat]")
        lon = _number(location[0], "longitude", low=-180, high=180)
        lat = _number(location[1], "latitude", low=-90, high=90)
        category, subtype = item.get("category"), item.get("subtype")
        if category is not None and category not in subtypes:
            raise ValueError(f"unknown category {category!r} (known: {', '.join(sorted(subtypes))})")
        if subtype is not None and not any(subtype in keys for keys in subtypes.values()):
            raise ValueError(f"unknown subtype {subtype!r}")
        if category is not None and subtype is not None and subtype not in subtypes[category]:
            raise ValueError(f"subtype {subtype!r} is not one of {category}'s")
        address = item.get("address")
        return Report(
            at,
            _text(item.get("id"), "id", limit=64),
            _text(item["report"], "report", limit=4000),
            lon,
            lat,
            _text(address, "address", limit=300) if address is not None else None,
            category,
            subtype,
        )
    if kinds == ["decide"]:
        incident = _text(item["decide"], "decide", limit=64)
        if incident not in named:
            raise ValueError(f"decides about {incident!r}, which no report before it names")
        plan = item.get("plan")
        if plan is not None and plan not in plans:
            raise ValueError(f"the plan {plan!r} does not exist (loaded: {', '.join(sorted(plans)[:20])})")
        due = item.get("due")
        late = item.get("late_ack")
        return Decision(
            at,
            incident,
            plan,
            _number(due, "due", low=at, high=MAX_SECONDS) if due is not None else None,
            int(_number(late, "late_ack", low=0, high=100)) if late is not None else None,
        )
    cap = _text(item.get("cap"), "cap", limit=1_000_000)
    return WarningStep(at, _text(item["warning"], "warning", limit=64), cap)


def load(path: Path, *, subtypes: dict[str, set[str]], plans: set[str]) -> Scenario:
    """``parse`` of a file; a missing or unreadable file is an ``Invalid`` too."""
    try:
        document = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Invalid(f"cannot read the scenario {path}: {exc}") from None
    return parse(document, subtypes=subtypes, plans=plans)
