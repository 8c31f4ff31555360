"""SQL for the incident record. No rules here: the service decides, this reads and writes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from incidents.lifecycle import Status
from incidents.models import IdempotencyKey, Incident, TimelineEntry
from incidents.scope import EVERY_INCIDENT, IncidentScope


async def get(
    session: AsyncSession, incident_id: int, *, for_update: bool = False, scope: IncidentScope = EVERY_INCIDENT
) -> Incident | None:
    """One incident, if ``scope`` lets the reader see it; ``for_update`` locks its row until the transaction ends
    (edits serialise on it). The lock is ``FOR NO KEY UPDATE``: it does not block the key-share lock that a new row
    referring to the incident takes (a timeline entry, a dispatch), so a unit of work holding the incident never
    deadlocks against one that holds a unit and writes on the incident's timeline (tests/command)."""
    stmt = select(Incident).where(Incident.id == incident_id, scope.condition(Incident.id))
    if for_update:
        stmt = stmt.with_for_update(key_share=True)
    return (await session.scalars(stmt.execution_options(populate_existing=True))).one_or_none()


def filtered(
    *,
    statuses: list[str] | None = None,
    category: str | None = None,
    subtype: str | None = None,
    level: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    scope: IncidentScope = EVERY_INCIDENT,
) -> Select[Incident]:
    """The incidents in ``scope`` matching every given filter (the grade in force is the override, else the
    computed one)."""
    stmt = select(Incident).where(scope.condition(Incident.id))
    if statuses:
        stmt = stmt.where(Incident.status.in_(statuses))
    if category:
        stmt = stmt.where(Incident.category == category)
    if subtype:
        stmt = stmt.where(Incident.subtype == subtype)
    if level:
        stmt = stmt.where(func.coalesce(Incident.override_level, Incident.grade_level) == level)
    if bbox:
        stmt = stmt.where(Incident.location.intersects(func.ST_MakeEnvelope(*bbox, 4326)))
    return stmt


async def page(session: AsyncSession, stmt: Select[Incident], *, limit: int, offset: int) -> list[Incident]:
    ordered = stmt.order_by(Incident.created_at.desc(), Incident.id.desc()).limit(limit).offset(offset)
    return list(await session.scalars(ordered))


async def count(session: AsyncSession, stmt: Select[Incident]) -> int:
    total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
    return int(total or 0)


# Plain SQL (asked for every incident with a subtype): the id of the open incident of the same subtype within
# :radius_m metres and :window of time; an original before one already flagged as a duplicate itself, then the
# nearest, then the oldest. The box (a little wider than the circle: 110 km a degree, less than any degree of
# latitude) lets the GiST index on location pick the candidates; the geography test alone cannot use it and read
# every incident of the subtype in the window (bench/intake.py: 1.45 → 0.27 ms on 2,400 incidents).
_DUPLICATE = text("""
SELECT id FROM incident
WHERE subtype = :subtype AND status = ANY(CAST(:open AS text[]))
  AND reported_at BETWEEN CAST(:reported_at AS timestamptz) - CAST(:window AS interval)
                      AND CAST(:reported_at AS timestamptz) + CAST(:window AS interval)
  AND location && ST_Expand(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326),
                            CAST(:radius_m AS float8) / (110000 * greatest(cos(radians(:lat)), 0.01)),
                            CAST(:radius_m AS float8) / 110000)
  AND ST_DWithin(location::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, :radius_m)
  AND id <> coalesce(CAST(:exclude_id AS bigint), -1)
  AND exercise = CAST(:exercise AS boolean)
ORDER BY possible_duplicate_of IS NOT NULL,
         ST_Distance(location::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography), id
LIMIT 1
""")


async def find_duplicate(
    session: AsyncSession,
    *,
    subtype: str,
    lon: float,
    lat: float,
    reported_at: datetime,
    radius_m: float,
    window: timedelta,
    exclude_id: int | None = None,
    exercise: bool = False,
) -> int | None:
    """The id of the open incident of the same subtype within ``radius_m`` metres and ``window`` of time that a new
    report most likely repeats: an original before one already flagged as a duplicate itself, then the nearest."""
    params = {
        "subtype": subtype,
        "reported_at": reported_at,
        "window": window,
        "lon": lon,
        "lat": lat,
        "radius_m": radius_m,
        "exclude_id": exclude_id,
        "exercise": exercise,
        "open": [s.value for s in (Status.reported, Status.verified, Status.responding)],
    }
    found = await session.scalar(_DUPLICATE, params)
    return int(found) if found is not None else None


async def claim_idempotency_key(session: AsyncSession, *, actor: str, key: str, request_hash: str) -> bool:
    """Insert the key; True when this transaction owns it. A concurrent holder makes this wait for its commit."""
    stmt = (
        pg_insert(IdempotencyKey)
        .values(actor=actor, key=key, request_hash=request_hash)
        .on_conflict_do_nothing(index_elements=["actor", "key"])
        .returning(IdempotencyKey.key)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def get_idempotency_key(session: AsyncSession, *, actor: str, key: str) -> IdempotencyKey | None:
    stmt = select(IdempotencyKey).where(and_(IdempotencyKey.actor == actor, IdempotencyKey.key == key))
    return (await session.scalars(stmt.execution_options(populate_existing=True))).one_or_none()


def add_timeline(
    session: AsyncSession, *, incident_id: int, kind: str, actor: str | None, data: dict[str, Any] | None = None
) -> TimelineEntry:
    """A timeline entry, written with the unit of work's next flush (entries keep the order they were added in)."""
    entry = TimelineEntry(incident_id=incident_id, kind=kind, actor=actor, data=data or {})
    session.add(entry)
    return entry


async def open_incidents(session: AsyncSession, *, after_id: int, limit: int) -> list[Incident]:
    stmt = (
        select(Incident)
        .where(Incident.status.not_in([Status.closed.value, Status.cancelled.value]), Incident.id > after_id)
        .order_by(Incident.id)
        .limit(limit)
        .with_for_update(key_share=True)
    )
    return list(await session.scalars(stmt.execution_options(populate_existing=True)))


async def timeline(session: AsyncSession, incident_id: int) -> list[TimelineEntry]:
    stmt = select(TimelineEntry).where(TimelineEntry.incident_id == incident_id).order_by(TimelineEntry.id)
    return list(await session.scalars(stmt))


async def open_exercise_ids(session: AsyncSession, *, scope: IncidentScope = EVERY_INCIDENT) -> list[int]:
    """The open incidents a drill logged (of those in ``scope``), in id order."""
    stmt = (
        select(Incident.id)
        .where(Incident.exercise.is_(True), Incident.status.not_in([Status.closed.value, Status.cancelled.value]))
        .where(scope.condition(Incident.id))
        .order_by(Incident.id)
    )
    return list(await session.scalars(stmt))


async def open_counts(
    session: AsyncSession, *, scope: IncidentScope = EVERY_INCIDENT
) -> list[tuple[str | None, str | None, int]]:
    level = func.coalesce(Incident.override_level, Incident.grade_level)
    stmt = (
        select(Incident.category, level, func.count())
        .where(Incident.status.not_in([Status.closed.value, Status.cancelled.value]), Incident.exercise.is_(False))
        .where(scope.condition(Incident.id))
        .group_by(Incident.category, level)
        .order_by(Incident.category, level)
    )
    return [(c, lv, int(n)) for c, lv, n in (await session.execute(stmt)).all()]
