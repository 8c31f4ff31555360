"""Which plans apply to an incident, most specific first, each with the reasons it matched. Pure: the caller
supplies the candidate plans and the answers PostGIS gave about the incident's place (which plan areas cover it,
which jurisdictions it lies in), so this runs and is tested without a database.

Ranking, strongest first: a subtype trigger beats a category trigger; then an area (polygon or jurisdiction)
beats none; then a time window beats none; then a local plan beats a departmental one, which beats a special
(national) plan; then the narrower plan (fewer subtypes) wins; the plan id breaks the last ties.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from plans.vocabulary import SEVERITY, at_least
from plans.window import Window

# Weights chosen so that each criterion outweighs every weaker one together (50 > 20 + 10 + 3 + 1).
SUBTYPE_SCORE = 100.0
CATEGORY_SCORE = 50.0
AREA_SCORE = 20.0
WINDOW_SCORE = 10.0
KIND_SCORE = {"local": 3.0, "departmental": 2.0, "special": 1.0}
KIND_LABEL = {"local": "a local plan", "departmental": "a departmental plan", "special": "a special (national) plan"}


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    """What matching looks at: classification, the grade in force, where and when."""

    category: str | None
    subtype: str | None
    level: str | None
    lon: float
    lat: float
    at: datetime


@dataclass(frozen=True, slots=True)
class Candidate:
    """A plan version as matching sees it (its triggers only)."""

    key: int  # the stored plan version's row id
    plan_id: str
    version: str
    name: str
    name_en: str
    kind: str
    min_level: str
    categories: frozenset[str]
    subtypes: frozenset[str]
    has_polygon: bool = False
    jurisdictions: tuple[str, ...] = ()
    window: Window | None = None


@dataclass(frozen=True, slots=True)
class Match:
    plan_id: str
    version: str
    key: int
    name: str
    name_en: str
    kind: str
    score: float
    level: str
    reasons: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        """The shape of ``plan_matches`` items (API.md)."""
        return {
            "plan_id": self.plan_id,
            "name": self.name,
            "name_en": self.name_en,
            "version": self.version,
            "kind": self.kind,
            "score": self.score,
            "level": self.level,
            "reasons": list(self.reasons),
        }


def normalise_name(name: str) -> str:
    """A jurisdiction name for comparison: no case, no surrounding blanks, no trailing " (English)" gloss."""
    return name.split(" (")[0].split("（")[0].strip().casefold()


def jurisdiction_names(names: Iterable[str | None]) -> frozenset[str]:
    """The comparable forms of the names of the jurisdictions an incident lies in."""
    return frozenset(normalise_name(n) for n in names if n)


def _trigger(incident: IncidentFacts, plan: Candidate) -> tuple[float, str] | None:
    if incident.subtype is not None and incident.subtype in plan.subtypes:
        return SUBTYPE_SCORE, f"subtype {incident.subtype} is one of the plan's triggers"
    if incident.category is not None and incident.category in plan.categories:
        return CATEGORY_SCORE, f"category {incident.category} is one of the plan's triggers (no subtype trigger)"
    return None


def _grade(incident: IncidentFacts, plan: Candidate) -> str | None:
    if incident.level is None:
        if plan.min_level == "IV":
            return "the incident has no grade yet; the plan activates from IV, so it applies"
        return None
    if at_least(incident.level, plan.min_level):
        return f"grade {incident.level} is at or above the plan's lowest activating grade {plan.min_level}"
    return None


def _area(plan: Candidate, in_area: frozenset[int], places: frozenset[str]) -> tuple[bool, str | None]:
    """(applies, reason): a plan without an area applies everywhere (no reason, no bonus)."""
    if not plan.has_polygon and not plan.jurisdictions:
        return True, None
    if plan.has_polygon and plan.key in in_area:
        return True, "the location is inside the plan's area"
    for name in plan.jurisdictions:
        if normalise_name(name) in places:
            return True, f"the location is in {name}, one of the plan's jurisdictions"
    return False, None


def match_one(
    incident: IncidentFacts, plan: Candidate, *, in_area: frozenset[int], places: frozenset[str]
) -> Match | None:
    """The match of one plan, or None when any trigger fails."""
    trigger = _trigger(incident, plan)
    if trigger is None:
        return None
    grade_reason = _grade(incident, plan)
    if grade_reason is None:
        return None
    applies, area_reason = _area(plan, in_area, places)
    if not applies:
        return None
    score, first = trigger
    reasons = [first, grade_reason]
    if area_reason is not None:
        score += AREA_SCORE
        reasons.append(area_reason)
    if plan.window is not None:
        if not plan.window.contains(incident.at):
            return None
        score += WINDOW_SCORE
        reasons.append(f"reported {incident.at.astimezone(plan.window.tz):%Y-%m-%d %H:%M}, within {plan.window.text}")
    score += KIND_SCORE.get(plan.kind, 0.0)
    reasons.append(KIND_LABEL.get(plan.kind, f"a {plan.kind} plan"))
    # The narrower plan wins a tie: a fraction below 1 that shrinks with the number of subtypes it covers.
    score += 1.0 / (1 + len(plan.subtypes) + 5 * len(plan.categories))
    level = incident.level if incident.level is not None else "IV"
    if SEVERITY[level] < SEVERITY[plan.min_level]:
        level = plan.min_level
    return Match(
        plan_id=plan.plan_id,
        version=plan.version,
        key=plan.key,
        name=plan.name,
        name_en=plan.name_en,
        kind=plan.kind,
        score=round(score, 3),
        level=level,
        reasons=tuple(reasons),
    )


def rank(
    incident: IncidentFacts,
    plans: Sequence[Candidate],
    *,
    in_area: frozenset[int] = frozenset(),
    places: frozenset[str] = frozenset(),
) -> list[Match]:
    """Every plan that applies to ``incident``, most specific first.

    ``in_area`` holds the keys of the plans whose polygon covers the incident's location (PostGIS answered);
    ``places`` the normalised names of the jurisdictions the location lies in (see ``jurisdiction_names``).
    """
    found = [m for plan in plans if (m := match_one(incident, plan, in_area=in_area, places=places)) is not None]
    found.sort(key=lambda m: (-m.score, m.plan_id))
    return found
