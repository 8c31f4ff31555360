"""SQL for dispatches and unit tracks. No rules here: ``command.service`` decides, this reads and writes."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    DateTime,
    Float,
    Interval,
    bindparam,
    delete,
    func,
    literal_column,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from command.models import Dispatch, GatewayUnit, UnitFix
from command.workflow import UnitStatus
from core.events import Event
from core.users import AppUser


async def open_dispatch(session: AsyncSession, *, unit_id: int, lock: bool = True) -> Dispatch | None:
    """The unit's open dispatch (at most one: a partial unique index says so), locked unless ``lock`` is False."""
    stmt = select(Dispatch).where(Dispatch.unit_id == unit_id, Dispatch.closed_at.is_(None))
    if lock:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).one_or_none()


async def open_dispatch_units(session: AsyncSession, *, incident_ids: Sequence[int]) -> list[int]:
    """The units with an open dispatch to one of these incidents, in id order."""
    if not incident_ids:
        return []
    stmt = (
        select(Dispatch.unit_id)
        .where(Dispatch.incident_id.in_(list(incident_ids)), Dispatch.closed_at.is_(None))
        .order_by(Dispatch.unit_id)
    )
    return list(await session.scalars(stmt))


async def get_dispatch(
    session: AsyncSession, *, dispatch_id: int, lock: bool = False, visible: ColumnElement[bool] | None = None
) -> Dispatch | None:
    """The dispatch, if ``visible`` (a condition on dispatches) lets the reader see it."""
    stmt = select(Dispatch).where(Dispatch.id == dispatch_id)
    if visible is not None:
        stmt = stmt.where(visible)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).one_or_none()


async def dispatches_of_incident(
    session: AsyncSession, *, incident_id: int, visible: ColumnElement[bool]
) -> list[Dispatch]:
    stmt = select(Dispatch).where(Dispatch.incident_id == incident_id, visible).order_by(Dispatch.id)
    return list(await session.scalars(stmt))


async def add_dispatches(session: AsyncSession, dispatches: Sequence[Dispatch]) -> None:
    """Insert the dispatches now: their ids and times go into the events the caller queues."""
    session.add_all(dispatches)
    await session.flush()


_FIX_COLUMNS = (
    ("unit_id", BigInteger),
    ("at", DateTime(timezone=True)),
    ("lon", Float),
    ("lat", Float),
    ("speed_kmh", Float),
    ("reported_speed_ms", Float),
    ("heading_deg", Float),
    ("accuracy_m", Float),
    ("trusted", Boolean),
)
_ARRAYS = ", ".join(f":{name}" for name, _ in _FIX_COLUMNS)
_AS = ", ".join(name for name, _ in _FIX_COLUMNS)
# One statement for any number of fixes (arrays bound whole: the text never changes, the plan is cached).
_INSERT_FIXES = text(
    "INSERT INTO unit_fix (unit_id, at, location, speed_kmh, reported_speed_ms, heading_deg, accuracy_m, trusted) "
    "SELECT unit_id, at, ST_SetSRID(ST_MakePoint(lon, lat), 4326), speed_kmh, reported_speed_ms, heading_deg, "
    f"accuracy_m, trusted FROM unnest({_ARRAYS}) AS f({_AS}) RETURNING id, unit_id, at"
).bindparams(*(bindparam(name, type_=ARRAY(type_)) for name, type_ in _FIX_COLUMNS))


async def insert_fixes(session: AsyncSession, *, rows: Sequence[Sequence[Any]]) -> list[tuple[int, int, datetime]]:
    """Store fixes, each a tuple in the order of ``_FIX_COLUMNS`` (unit_id, at, lon, lat, speed_kmh,
    reported_speed_ms, heading_deg, accuracy_m, trusted), in one multi-row insert; each new row's (id, unit_id, at),
    in no promised order (SQL promises none for an insert's RETURNING)."""
    if not rows:
        return []
    columns = list(zip(*rows, strict=True))
    params = {name: list(columns[i]) for i, (name, _) in enumerate(_FIX_COLUMNS)}
    return [(int(i), int(u), at) for i, u, at in (await session.execute(_INSERT_FIXES, params)).all()]


async def gateway_units(session: AsyncSession, *, username: str, unit_ids: Collection[int]) -> set[int]:
    """Those of ``unit_ids`` assigned to the gateway account ``username``."""
    stmt = (
        select(GatewayUnit.unit_id)
        .join(AppUser, AppUser.id == GatewayUnit.user_id)
        .where(AppUser.username == username, GatewayUnit.unit_id.in_(sorted(unit_ids)))
    )
    return set(await session.scalars(stmt))


async def assign_gateway_units(session: AsyncSession, *, user_id: int, unit_ids: Collection[int]) -> None:
    """Make ``unit_ids`` exactly the units the gateway ``user_id`` reports for."""
    await session.execute(delete(GatewayUnit).where(GatewayUnit.user_id == user_id))
    if unit_ids:
        await session.execute(
            pg_insert(GatewayUnit).values([{"user_id": user_id, "unit_id": u} for u in sorted(set(unit_ids))])
        )


async def track(session: AsyncSession, *, unit_id: int, since: datetime, until: datetime, limit: int) -> list[UnitFix]:
    """The unit's fixes observed in [since, until], newest first. The window on ``at`` lets PostgreSQL read only
    the day partitions it spans."""
    stmt = (
        select(UnitFix)
        .where(UnitFix.unit_id == unit_id, UnitFix.at >= since, UnitFix.at <= until)
        .order_by(UnitFix.at.desc(), UnitFix.id.desc())
        .limit(limit)
    )
    return list(await session.scalars(stmt))


async def lock_ack_due(
    session: AsyncSession, *, now: datetime, escalate_before: datetime, limit: int
) -> list[Dispatch]:
    """Open dispatches neither acknowledged, departed nor escalated whose deadline has passed and that still need
    a step (not yet re-alerted, or due for escalation: deadline before ``escalate_before``), by deadline, locked;
    rows another sweep holds are skipped."""
    stmt = (
        select(Dispatch)
        .where(
            Dispatch.closed_at.is_(None),
            Dispatch.acknowledged_at.is_(None),
            Dispatch.escalated_at.is_(None),
            Dispatch.status == UnitStatus.dispatched.value,
            Dispatch.ack_due_at <= now,
            or_(Dispatch.warned_at.is_(None), Dispatch.ack_due_at <= escalate_before),
        )
        .order_by(Dispatch.ack_due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return list(await session.scalars(stmt))


_SECOND = literal_column("interval '1 second'", type_=Interval())


async def lock_overdue(
    session: AsyncSession, *, now: datetime, factor: float, margin_s: float, limit: int
) -> list[Dispatch]:
    """Open dispatches whose unit has been en route longer than its ETA times ``factor`` plus ``margin_s``
    seconds and was not yet said to be overdue, locked; rows another sweep holds are skipped."""
    allowed = (func.coalesce(Dispatch.eta_s, 0.0) * factor + margin_s) * _SECOND
    stmt = (
        select(Dispatch)
        .where(
            Dispatch.closed_at.is_(None),
            Dispatch.status == UnitStatus.en_route.value,
            Dispatch.overdue_at.is_(None),
            Dispatch.en_route_at + allowed <= now,
        )
        .order_by(Dispatch.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return list(await session.scalars(stmt))


class DispatchTimers(NamedTuple):
    """What the stale sweep reads of an open dispatch before it locks any."""

    id: int
    unit_id: int
    created_at: datetime
    stale_at: datetime | None
    stale_fix_at: datetime | None


async def open_dispatch_timers(session: AsyncSession) -> list[DispatchTimers]:
    """The open dispatches' stale-timer state, unlocked (the stale sweep judges its candidates first). No limit is
    needed: a unit holds one open dispatch at most, so there are never more than units."""
    stmt = select(Dispatch.id, Dispatch.unit_id, Dispatch.created_at, Dispatch.stale_at, Dispatch.stale_fix_at).where(
        Dispatch.closed_at.is_(None)
    )
    return [DispatchTimers(*row) for row in await session.execute(stmt)]


async def lock_open(session: AsyncSession, *, dispatch_ids: Collection[int]) -> list[Dispatch]:
    """Those of the dispatches that are still open, locked, by id; rows another sweep holds are skipped."""
    stmt = (
        select(Dispatch)
        .where(Dispatch.id.in_(sorted(dispatch_ids)), Dispatch.closed_at.is_(None))
        .order_by(Dispatch.id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return list(await session.scalars(stmt))


async def open_escalations(
    session: AsyncSession, *, incident_id: int, unit_type: str, excluding: Collection[int]
) -> list[Dispatch]:
    """The incident's escalations of ``unit_type`` dispatches that no one has handled yet, locked."""
    stmt = (
        select(Dispatch)
        .where(
            Dispatch.incident_id == incident_id,
            Dispatch.unit_type == unit_type,
            Dispatch.escalated_at.is_not(None),
            Dispatch.escalation_handled_at.is_(None),
            Dispatch.id.not_in(sorted(excluding)),
        )
        .order_by(Dispatch.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(await session.scalars(stmt))


async def escalated_dispatches(
    session: AsyncSession, *, limit: int, visible: ColumnElement[bool] | None = None
) -> list[Dispatch]:
    """Escalations no one has handled yet (of those ``visible``), oldest first (the partial index serves this)."""
    stmt = (
        select(Dispatch)
        .where(Dispatch.escalated_at.is_not(None), Dispatch.escalation_handled_at.is_(None))
        .where(visible if visible is not None else true())
        .order_by(Dispatch.escalated_at, Dispatch.id)
        .limit(limit)
    )
    return list(await session.scalars(stmt))


async def escalated_count(session: AsyncSession, *, visible: ColumnElement[bool] | None = None) -> int:
    """Escalations to a commander that no one has handled yet (of those ``visible``)."""
    stmt = (
        select(func.count())
        .select_from(Dispatch)
        .where(Dispatch.escalated_at.is_not(None), Dispatch.escalation_handled_at.is_(None))
        .where(visible if visible is not None else true())
    )
    return int(await session.scalar(stmt) or 0)


async def incidents_of_unit(session: AsyncSession, *, unit_id: int, joined_by: str, up_to: int | None) -> set[int]:
    """The incidents ``unit_id`` has been dispatched to: all (``up_to`` None), or those whose ``joined_by`` event
    (the dispatch's) has an id at most ``up_to`` (the incidents its stream had joined by that event)."""
    if up_to is None:
        return set(await session.scalars(select(Dispatch.incident_id).where(Dispatch.unit_id == unit_id).distinct()))
    stmt = (
        select(Event.incident_id)
        .where(Event.unit_id == unit_id, Event.type == joined_by, Event.id <= up_to, Event.incident_id.is_not(None))
        .distinct()
    )
    return {i for i in await session.scalars(stmt) if i is not None}
