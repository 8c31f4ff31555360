"""plans' door: load and list plan versions, match incidents to plans, the dry run; activation, task tracking, the
reading of plan documents and their JSON shapes live in ``plans.activation``, ``plans.tasks``, ``plans.loading`` and
``plans.present`` and are re-exported here (``__all__``).

Matching reads the candidate plans and the PostGIS answers (area containment, jurisdictions) in one or two
queries and leaves the decision to the pure ``plans.matching.rank``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from geoalchemy2.shape import to_shape
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import Invalid, NotFound
from gis import service as gis_service
from incidents import service as incident_service
from incidents.schemas import SUBTYPES, IncidentRecord, PlanMatchOut
from incidents.service import EVERY_INCIDENT, IncidentScope
from plans import loading
from plans import repository as repo
from plans.activation import ActivationResult, activate, activations_of, package_of
from plans.loading import LIBRARY, LoadResult, parse_check, parse_plan, read_check_file, read_plans
from plans.matching import Candidate, IncidentFacts, Match, jurisdiction_names, rank
from plans.models import Plan
from plans.schemas import CheckReportOut, ExampleIncident, PlanDocument, UnmetRequirement
from plans.tasks import overdue_tasks, sweep_overdue, tasks_of_incident, update_task
from plans.window import DEFAULT_TZ, Window, parse_window

__all__ = [
    "LIBRARY",
    "ActivationResult",
    "CheckReport",
    "IncidentFacts",
    "LoadResult",
    "activate",
    "activations_of",
    "candidates_for",
    "check",
    "facts_of",
    "hold_library",
    "get_plan",
    "list_plans",
    "load_path",
    "load_plan",
    "match",
    "match_facts",
    "match_many",
    "matches_of",
    "parse_check",
    "parse_plan",
    "rank",
    "read_check_file",
    "read_plans",
    "overdue_tasks",
    "rematch_open",
    "sweep_overdue",
    "tasks_of_incident",
    "update_task",
]

PLAN_TZ = ZoneInfo(DEFAULT_TZ)


async def list_plans(
    session: AsyncSession, *, all_versions: bool = False, plan_id: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[Plan], int]:
    """Plans by id, newest version first; only the current version of each unless ``all_versions``."""
    stmt = repo.plans_query(all_versions=all_versions, plan_id=plan_id)
    return await repo.page_plans(session, stmt, limit=limit, offset=offset)


async def load_plan(
    session: AsyncSession, *, document: PlanDocument, source: str | None, actor: str | None = None
) -> LoadResult:
    """Store a plan version (``plans.loading.load_plan``); when a new version was stored, the open incidents are
    matched again in the same transaction (``rematch_open``)."""
    await hold_library(session, exclusive=True)
    result = await loading.load_plan(session, document=document, source=source, actor=actor)
    if result.outcome == "created":
        await rematch_open(session, actor=actor)
    return result


async def load_path(session: AsyncSession, *, path: Path = LIBRARY, actor: str | None = None) -> list[LoadResult]:
    """Load every plan under ``path``, idempotently, all or nothing; then match every open incident again, even
    when nothing new was stored (``commandpost plans load`` after ``db upgrade`` brings stored matches up to date)."""
    await hold_library(session, exclusive=True)
    results = await loading.load_path(session, path=path, actor=actor)
    await rematch_open(session, actor=actor)
    return results


async def get_plan(session: AsyncSession, *, plan_id: str, version: str | None = None) -> Plan:
    """The current version of a plan, or the version asked for; NotFound otherwise."""
    if version is None:
        plan = await repo.current(session, plan_id=plan_id)
    else:
        plan = await repo.get_version(session, plan_id=plan_id, version=version)
    if plan is None:
        what = f"plan {plan_id!r}" + (f" version {version}" if version else "")
        raise NotFound(f"{what} does not exist")
    return plan


# ------------------------------------------------------------------------------------------------ matching


@lru_cache(maxsize=512)
def _window(start: str, end: str, timezone: str) -> Window:
    return parse_window(start, end, timezone)


def _candidate(row: repo.CandidateRow) -> Candidate:
    window = None
    if row.time_window:
        tw = row.time_window
        window = _window(tw["start"], tw["end"], tw.get("timezone", DEFAULT_TZ))
    return Candidate(
        key=row.id,
        plan_id=row.plan_id,
        version=row.version,
        name=row.name,
        name_en=row.name_en,
        kind=row.kind,
        min_level=row.min_level,
        categories=frozenset(row.categories),
        subtypes=frozenset(row.subtypes),
        has_polygon=row.has_polygon,
        jurisdictions=tuple(row.jurisdictions),
        window=window,
    )


def facts_of(incident: IncidentRecord) -> IncidentFacts:
    """What matching looks at in a stored incident."""
    shape = to_shape(incident.location)
    return IncidentFacts(
        category=incident.category,
        subtype=incident.subtype,
        level=incident.level,
        lon=shape.x,
        lat=shape.y,
        at=incident.reported_at,
    )


async def _places(session: AsyncSession, facts: IncidentFacts) -> frozenset[str]:
    found = await gis_service.jurisdictions_covering(session, lon=facts.lon, lat=facts.lat)
    return jurisdiction_names(n for j in found for n in (j.name, j.name_en))


def _could_match(facts: IncidentFacts, plan: Candidate) -> bool:
    return (facts.subtype is not None and facts.subtype in plan.subtypes) or (
        facts.category is not None and facts.category in plan.categories
    )


async def candidates_for(session: AsyncSession, *, facts: IncidentFacts) -> tuple[list[Candidate], frozenset[int]]:
    """The plan versions in effect on the incident's day, and the keys of those whose area covers its point, in one
    query: what ``rank`` decides from (bench/plans.py times the ranking apart from it)."""
    on = facts.at.astimezone(PLAN_TZ).date()
    rows = await repo.candidates(session, lon=facts.lon, lat=facts.lat, on=on)
    return [_candidate(row) for row in rows], frozenset(row.id for row in rows if row.in_area)


async def match_facts(session: AsyncSession, *, facts: IncidentFacts) -> list[Match]:
    """Every plan that applies to these facts, most specific first, with reasons."""
    plans, in_area = await candidates_for(session, facts=facts)
    # Jurisdiction names cost a query: ask only when a plan that could match names jurisdictions.
    # (A plan whose polygon already covers the point needs no names.)
    needs_places = any(p.jurisdictions and p.key not in in_area and _could_match(facts, p) for p in plans)
    places = await _places(session, facts) if needs_places else frozenset()
    return rank(facts, plans, in_area=in_area, places=places)


async def match(session: AsyncSession, *, incident: IncidentRecord) -> list[Match]:
    """The plans that apply to a stored incident."""
    return await match_facts(session, facts=facts_of(incident))


async def hold_library(session: AsyncSession, *, exclusive: bool = False) -> None:
    """Hold the plan library still until the transaction ends: shared, before matching an incident and keeping the
    result (``command.intake``; take it before locking the incident); exclusive, before changing the library. So
    an incident matched while a plan loads is matched after the load commits, or is seen by its ``rematch_open``."""
    await repo.lock_library(session, exclusive=exclusive)


async def matches_of(session: AsyncSession, *, incident: IncidentRecord) -> list[dict[str, Any]]:
    """The plans that apply to the incident as it is in memory (stored or not yet), most specific first, in the
    ``plan_matches`` shape. Nothing is flushed for it: the incident's pending changes and its matches are written
    together, in one statement."""
    with session.no_autoflush:
        return [m.as_dict() for m in await match(session, incident=incident)]


async def rematch_open(session: AsyncSession, *, actor: str | None, batch: int = 500) -> int:
    """Match every open incident again (the library changed), a batch at a time in a fixed number of statements;
    keep the matches that changed and announce those incidents (``incident.updated``). Returns how many changed.
    Call it holding the library exclusively (``hold_library``)."""
    changed, after = 0, 0
    while incidents := await incident_service.open_incidents(session, after_id=after, limit=batch):
        found = await match_many(session, cases=[facts_of(i) for i in incidents])
        for incident, matches in zip(incidents, found, strict=True):
            if incident_service.set_plan_matches(incident, [m.as_dict() for m in matches]):
                incident_service.announce_plan_matches(session, incident=incident, actor=actor)
                changed += 1
        after = incidents[-1].id
    return changed


async def match_many(session: AsyncSession, *, cases: Sequence[IncidentFacts]) -> list[list[Match]]:
    """``match_facts`` for many incidents at once (the dry run) in at most three statements, however many there
    are: the plan versions in effect on each day, which plan areas cover each point, and the jurisdictions of the
    points that need their names. The decision is ``rank``'s, as for one incident."""
    if not cases:
        return []
    days = [facts.at.astimezone(PLAN_TZ).date() for facts in cases]
    plans_on: dict[date, list[Candidate]] = defaultdict(list)
    with_area = []
    for row, served in await repo.candidates_on_days(session, days=days):
        plan = _candidate(row)
        for day in served:
            plans_on[day].append(plan)
        if row.has_polygon:
            with_area.append(row.id)
    points = [(facts.lon, facts.lat) for facts in cases]
    in_area = (
        await repo.areas_covering(session, points=points, plan_ids=with_area)
        if with_area
        else [frozenset[int]()] * len(cases)
    )
    needs_places = [
        i
        for i, facts in enumerate(cases)
        if any(p.jurisdictions and p.key not in in_area[i] and _could_match(facts, p) for p in plans_on[days[i]])
    ]
    names = (
        await gis_service.jurisdiction_names_covering(session, points=[points[i] for i in needs_places])
        if needs_places
        else []
    )
    places = {i: jurisdiction_names(found) for i, found in zip(needs_places, names, strict=True)}
    return [
        rank(facts, plans_on[days[i]], in_area=in_area[i], places=places.get(i, frozenset()))
        for i, facts in enumerate(cases)
    ]


# ------------------------------------------------------------------------------------------------ dry run


@dataclass
class CheckReport:
    """Which plans would fire for which incidents, and what no plan covers."""

    results: list[dict[str, Any]] = field(default_factory=list)
    fired: Counter[str] = field(default_factory=Counter)
    matched: Counter[str] = field(default_factory=Counter)
    uncovered: list[dict[str, Any]] = field(default_factory=list)

    def out(self) -> CheckReportOut:
        """The report as the API gives it."""
        return CheckReportOut.model_validate(self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        covered_subtypes = sorted({r["incident"]["subtype"] for r in self.results if r["matches"]} - {None})
        uncovered_subtypes = sorted({u["subtype"] for u in self.uncovered} - {None} - set(covered_subtypes))
        never = sorted(set(SUBTYPES) - set(covered_subtypes))
        return {
            "incidents": len(self.results),
            "covered": sum(1 for r in self.results if r["matches"]),
            "uncovered": self.uncovered,
            "plans_fired": dict(sorted(self.fired.items())),
            "plans_matched": dict(sorted(self.matched.items())),
            "subtypes": {"covered": covered_subtypes, "uncovered": uncovered_subtypes, "not_covered_by_any": never},
            "results": self.results,
        }


def _example_facts(example: ExampleIncident, *, now: datetime) -> IncidentFacts:
    return IncidentFacts(
        category=example.category,
        subtype=example.subtype,
        level=example.level,
        lon=example.location[0],
        lat=example.location[1],
        at=example.at or now,
    )


async def check(
    session: AsyncSession,
    *,
    examples: list[ExampleIncident] | None = None,
    limit: int = 1000,
    scope: IncidentScope = EVERY_INCIDENT,
) -> CheckReport:
    """Replay example incidents (or, without them, the newest ``limit`` stored ones the reader's ``scope`` lets it
    see) against the library, in a fixed number of statements however many there are. Writes nothing."""
    report = CheckReport()
    now = utcnow()
    cases: list[tuple[dict[str, Any], IncidentFacts]] = []
    if examples is not None:
        for i, example in enumerate(examples):
            label: dict[str, Any] = {
                "name": example.name or f"example {i + 1}",
                "category": example.category,
                "subtype": example.subtype,
                "level": example.level,
            }
            cases.append((label, _example_facts(example, now=now)))
    else:
        incidents, _ = await incident_service.list_incidents(session, scope=scope, limit=limit)
        for incident in incidents:
            label = {
                "id": incident.id,
                "name": incident.title,
                "category": incident.category,
                "subtype": incident.subtype,
                "level": incident.level,
            }
            cases.append((label, facts_of(incident)))
    found = await match_many(session, cases=[facts for _, facts in cases])
    for (label, _), matches in zip(cases, found, strict=True):
        report.results.append(
            {
                "incident": label,
                "matches": [{"plan_id": m.plan_id, "score": m.score, "level": m.level} for m in matches],
            }
        )
        report.fired.update(m.plan_id for m in matches[:1])  # the top-ranked plan is the one that would fire
        report.matched.update(m.plan_id for m in matches)
        if not matches:
            report.uncovered.append(label)
    return report


async def record_filled(session: AsyncSession, *, incident_id: int, resource_type: str, delta: int) -> None:
    """Count units of ``resource_type`` sent to (``delta`` > 0) or withdrawn from (< 0) the incident's requirements,
    filling the oldest open requirement first and emptying the newest first."""
    requirements = await repo.requirements_of_incident(session, incident_id=incident_id, resource_type=resource_type)
    if delta < 0:
        requirements.reverse()
    remaining = abs(delta)
    for requirement in requirements:
        if remaining == 0:
            break
        room = requirement.count - requirement.filled if delta > 0 else requirement.filled
        step = min(room, remaining)
        requirement.filled += step if delta > 0 else -step
        remaining -= step
    await session.flush()


@dataclass(frozen=True)
class RequirementsPreview:
    """What the best-matching plan would ask for at its level, before anyone activates it."""

    plan_id: str
    version: str
    level: str
    resources: dict[str, int]


async def preview_requirements(session: AsyncSession, *, incident: IncidentRecord) -> RequirementsPreview | None:
    """The resources of the top-ranked matching plan (as stored on the incident) at the level it would be activated
    at; None without a match."""
    if not incident.plan_matches:
        return None
    top = PlanMatchOut.model_validate(incident.plan_matches[0])
    plan = await get_plan(session, plan_id=top.plan_id, version=top.version)
    try:
        resources = dict(package_of(plan, top.level).resources)
    except Invalid:  # the plan has no package for that level: nothing to ask for
        resources = {}
    return RequirementsPreview(plan_id=top.plan_id, version=top.version, level=top.level, resources=resources)


async def unmet_requirements(
    session: AsyncSession, *, incident_id: int | None = None, scope: IncidentScope = EVERY_INCIDENT
) -> list[UnmetRequirement]:
    """Requirements not yet filled, per incident (in ``scope``) and resource type."""
    rows = await repo.unmet_requirements(session, incident_id=incident_id, scope=scope)
    return [UnmetRequirement.model_validate(row) for row in rows]


async def overdue_task_count(session: AsyncSession, *, scope: IncidentScope = EVERY_INCIDENT) -> int:
    """Tasks past their deadline and not done (of the incidents in ``scope``)."""
    return await repo.overdue_task_count(session, scope=scope)
