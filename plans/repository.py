"""SQL for plans and activations. No rules here: the service decides, this reads and writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from incidents.service import EVERY_INCIDENT, IncidentScope
from plans.models import Activation, Plan, PlanNotice, PlanTask, Requirement


def point(lon: float, lat: float) -> Any:
    return func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)


# ------------------------------------------------------------------------------------------------ plans


# The plan library's lock ('cmdp', 'libr'): shared by whoever matches an incident and keeps the result, exclusive by
# whoever changes the library and matches the open incidents again.
LIBRARY_LOCK_KEY = (0x636D6470, 0x6C696272)


async def lock_library(session: AsyncSession, *, exclusive: bool) -> None:
    """Until the transaction ends: shared, matchers run side by side; exclusive, the library changes alone."""
    lock = func.pg_advisory_xact_lock if exclusive else func.pg_advisory_xact_lock_shared
    await session.execute(select(lock(*LIBRARY_LOCK_KEY)))


async def lock_plan_id(session: AsyncSession, plan_id: str) -> None:
    """Serialise loads of one plan id until the transaction ends (versions and the current marker stay sane)."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext("plan:" + plan_id))))


async def get_version(session: AsyncSession, *, plan_id: str, version: str) -> Plan | None:
    stmt = select(Plan).where(Plan.plan_id == plan_id, Plan.version == version)
    return (await session.scalars(stmt)).one_or_none()


async def get_by_pk(session: AsyncSession, pk: int) -> Plan | None:
    return await session.get(Plan, pk)


async def current(session: AsyncSession, *, plan_id: str) -> Plan | None:
    """The newest version of a plan id."""
    return (await session.scalars(select(Plan).where(Plan.plan_id == plan_id, Plan.current))).one_or_none()


async def in_effect(session: AsyncSession, *, plan_id: str, on: date) -> Plan | None:
    """The newest version of a plan id already in effect on ``on``."""
    stmt = (
        select(Plan)
        .where(Plan.plan_id == plan_id, Plan.effective_from <= on)
        .order_by(Plan.version_number.desc())
        .limit(1)
    )
    return (await session.scalars(stmt)).one_or_none()


async def newest_version_number(session: AsyncSession, *, plan_id: str) -> int | None:
    found = await session.scalar(select(func.max(Plan.version_number)).where(Plan.plan_id == plan_id))
    return int(found) if found is not None else None


async def supersede(session: AsyncSession, *, plan_id: str, at: datetime) -> list[str]:
    """Clear the current marker of a plan id's versions; returns the versions that lost it."""
    stmt = (
        update(Plan)
        .where(Plan.plan_id == plan_id, Plan.current)
        .values(current=False, superseded_at=at)
        .returning(Plan.version)
    )
    return list((await session.execute(stmt)).scalars())


def plans_query(*, all_versions: bool, plan_id: str | None = None) -> Select[Plan]:
    stmt = select(Plan)
    if not all_versions:
        stmt = stmt.where(Plan.current)
    if plan_id is not None:
        stmt = stmt.where(Plan.plan_id == plan_id)
    return stmt


async def page_plans(session: AsyncSession, stmt: Select[Plan], *, limit: int, offset: int) -> tuple[list[Plan], int]:
    ordered = stmt.order_by(Plan.plan_id, Plan.version_number.desc()).limit(limit).offset(offset)
    items = list(await session.scalars(ordered))
    total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
    return items, int(total or 0)


@dataclass(frozen=True, slots=True)
class CandidateRow:
    """What matching needs of one plan version, and whether PostGIS found the point inside its polygon."""

    id: int
    plan_id: str
    version: str
    name: str
    name_en: str
    kind: str
    min_level: str
    categories: list[str]
    subtypes: list[str]
    jurisdictions: list[str]
    time_window: dict[str, Any] | None
    has_polygon: bool
    in_area: bool


_CANDIDATES = text(
    """
    SELECT DISTINCT ON (plan_id)
           id, plan_id, version, name, name_en, kind, min_level, categories, subtypes, jurisdictions, time_window,
           area IS NOT NULL AS has_polygon,
           COALESCE(ST_Covers(area, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)), false) AS in_area
      FROM plan
     WHERE effective_from <= :on
     ORDER BY plan_id, version_number DESC
    """
)


async def candidates(session: AsyncSession, *, lon: float, lat: float, on: date) -> list[CandidateRow]:
    """Per plan id, the newest version in effect on ``on``, with the PostGIS answer to "is the point inside"."""
    rows = await session.execute(_CANDIDATES, {"lon": lon, "lat": lat, "on": on})
    return [CandidateRow(*row) for row in rows]


# The dry run's statements: one answer for any number of incidents (never one query per incident).
_IN_EFFECT_ON_DAYS = text(
    """
    SELECT p.id, p.plan_id, p.version, p.name, p.name_en, p.kind, p.min_level, p.categories, p.subtypes,
           p.jurisdictions, p.time_window, p.area IS NOT NULL AS has_polygon, false AS in_area,
           array_agg(day.on_date ORDER BY day.on_date) AS days
      FROM unnest(CAST(:days AS date[])) AS day(on_date)
      CROSS JOIN LATERAL (
            SELECT DISTINCT ON (plan_id) id FROM plan
             WHERE effective_from <= day.on_date
             ORDER BY plan_id, version_number DESC
      ) AS pick
      JOIN plan p ON p.id = pick.id
     GROUP BY p.id
    """
)

_AREAS_COVERING = text(
    """
    SELECT e.n, p.id
      FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY AS e(lon, lat, n)
      JOIN plan p ON p.id = ANY(CAST(:ids AS bigint[])) AND p.area IS NOT NULL
                 AND ST_Covers(p.area, ST_SetSRID(ST_MakePoint(e.lon, e.lat), 4326))
    """
)


async def candidates_on_days(session: AsyncSession, *, days: Sequence[date]) -> list[tuple[CandidateRow, list[date]]]:
    """Per plan id and day, the newest version in effect that day: each version once, with the days it serves
    (``in_area`` is left false: see ``areas_covering``)."""
    rows = await session.execute(_IN_EFFECT_ON_DAYS, {"days": sorted(set(days))})
    return [(CandidateRow(*row[:-1]), list(row[-1])) for row in rows]


async def areas_covering(
    session: AsyncSession, *, points: Sequence[tuple[float, float]], plan_ids: Sequence[int]
) -> list[frozenset[int]]:
    """For each point, the ids among ``plan_ids`` whose area covers it."""
    found: list[set[int]] = [set() for _ in points]
    params = {"lons": [p[0] for p in points], "lats": [p[1] for p in points], "ids": list(plan_ids)}
    for n, plan_key in (await session.execute(_AREAS_COVERING, params)).all():
        found[n - 1].add(plan_key)
    return [frozenset(keys) for keys in found]


# ------------------------------------------------------------------------------------------------ activations


async def get_activation(
    session: AsyncSession, *, incident_id: int, plan_id: str, for_update: bool = False
) -> Activation | None:
    stmt = select(Activation).where(Activation.incident_id == incident_id, Activation.plan_id == plan_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt.execution_options(populate_existing=True))).one_or_none()


async def activations_of(session: AsyncSession, *, incident_id: int) -> list[Activation]:
    stmt = select(Activation).where(Activation.incident_id == incident_id).order_by(Activation.id)
    return list(await session.scalars(stmt))


async def tasks_of_activation(session: AsyncSession, activation_id: int) -> list[PlanTask]:
    stmt = select(PlanTask).where(PlanTask.activation_id == activation_id).order_by(PlanTask.due_at, PlanTask.id)
    return list(await session.scalars(stmt))


async def tasks_of_incident(session: AsyncSession, *, incident_id: int, status: str | None = None) -> list[PlanTask]:
    stmt = select(PlanTask).where(PlanTask.incident_id == incident_id)
    if status is not None:
        stmt = stmt.where(PlanTask.status == status)
    return list(await session.scalars(stmt.order_by(PlanTask.due_at, PlanTask.id)))


async def requirements_of(session: AsyncSession, activation_id: int) -> list[Requirement]:
    stmt = select(Requirement).where(Requirement.activation_id == activation_id).order_by(Requirement.id)
    return list(await session.scalars(stmt))


async def notices_of(session: AsyncSession, activation_id: int) -> list[PlanNotice]:
    stmt = select(PlanNotice).where(PlanNotice.activation_id == activation_id).order_by(PlanNotice.id)
    return list(await session.scalars(stmt))


async def add_all(session: AsyncSession, rows: Sequence[object]) -> None:
    session.add_all(rows)
    await session.flush()


# ------------------------------------------------------------------------------------------------ tasks


async def get_task(session: AsyncSession, task_id: int, *, for_update: bool = False) -> PlanTask | None:
    stmt = select(PlanTask).where(PlanTask.id == task_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt.execution_options(populate_existing=True))).one_or_none()


async def overdue_open(session: AsyncSession, *, limit: int, offset: int = 0) -> tuple[list[PlanTask], int]:
    """Tasks the sweep marked overdue and nobody has done yet, of incidents still open, by deadline; and how many."""
    conditions = (
        PlanTask.status != "done",
        PlanTask.overdue_at.is_not(None),
        text("plan_task.incident_id IN (SELECT id FROM incident WHERE status NOT IN ('closed', 'cancelled'))"),
    )
    stmt = select(PlanTask).where(*conditions).order_by(PlanTask.due_at, PlanTask.id).limit(limit).offset(offset)
    total = await session.scalar(select(func.count()).select_from(PlanTask).where(*conditions))
    return list(await session.scalars(stmt)), int(total or 0)


async def lock_overdue(session: AsyncSession, *, now: datetime, limit: int) -> list[PlanTask]:
    """Open tasks past their deadline and not yet marked, locked; rows another sweep holds are skipped."""
    stmt = (
        select(PlanTask)
        .where(PlanTask.status != "done", PlanTask.overdue_at.is_(None), PlanTask.due_at < now)
        .order_by(PlanTask.due_at, PlanTask.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(await session.scalars(stmt.execution_options(populate_existing=True)))


async def requirements_of_incident(session: AsyncSession, *, incident_id: int, resource_type: str) -> list[Requirement]:
    """The incident's requirements of one resource type, oldest first, locked for updating their fill."""
    stmt = (
        select(Requirement)
        .where(Requirement.incident_id == incident_id, Requirement.resource_type == resource_type)
        .order_by(Requirement.id)
        .with_for_update()
    )
    return list(await session.scalars(stmt))


async def unmet_requirements(
    session: AsyncSession, *, incident_id: int | None = None, scope: IncidentScope = EVERY_INCIDENT
) -> list[dict[str, Any]]:
    """Per incident (in ``scope``) and resource type: required, filled and missing counts where something is still
    missing."""
    count = func.sum(Requirement.count)
    filled = func.sum(Requirement.filled)
    stmt = (
        select(Requirement.incident_id, Requirement.resource_type, count, filled)
        .group_by(Requirement.incident_id, Requirement.resource_type)
        .having(count > filled)
        .order_by(Requirement.incident_id, Requirement.resource_type)
        .where(scope.condition(Requirement.incident_id))
    )
    if incident_id is not None:
        stmt = stmt.where(Requirement.incident_id == incident_id)
    return [
        {"incident_id": i, "resource_type": t, "count": int(c), "filled": int(f), "missing": int(c - f)}
        for i, t, c, f in (await session.execute(stmt)).all()
    ]


async def overdue_task_count(session: AsyncSession, *, scope: IncidentScope = EVERY_INCIDENT) -> int:
    stmt = (
        select(func.count())
        .select_from(PlanTask)
        .where(PlanTask.status != "done", PlanTask.overdue_at.is_not(None), scope.condition(PlanTask.incident_id))
    )
    return int(await session.scalar(stmt) or 0)
