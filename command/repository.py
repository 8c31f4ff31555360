"""SQL for dispatches and unit tracks. No rules here: ``command.service`` decides, this reads and writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from command.models import Dispatch, UnitFix
from command.workflow import UnitStatus

TRACK_LENGTH = 500


async def open_dispatch(session: AsyncSession, *, unit_id: int, lock: bool = True) -> Dispatch | None:
    """The unit's open dispatch (at most one: a partial unique index says so), locked unless ``lock`` is False."""
    stmt = select(Dispatch).where(Dispatch.unit_id == unit_id, Dispatch.closed_at.is_(None))
    if lock:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).one_or_none()


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


async def add_fix(session: AsyncSession, fix: UnitFix) -> None:
    """Keep the fix, and only the newest ``TRACK_LENGTH`` fixes of its unit."""
    session.add(fix)
    await session.flush()
    cutoff = (
        select(UnitFix.id)
        .where(UnitFix.unit_id == fix.unit_id)
        .order_by(UnitFix.id.desc())
        .offset(TRACK_LENGTH)
        .limit(1)
        .scalar_subquery()
    )
    await session.execute(delete(UnitFix).where(UnitFix.unit_id == fix.unit_id, UnitFix.id <= cutoff))


async def track(session: AsyncSession, *, unit_id: int, limit: int) -> list[UnitFix]:
    """The unit's newest fixes, newest first."""
    stmt = select(UnitFix).where(UnitFix.unit_id == unit_id).order_by(UnitFix.id.desc()).limit(limit)
    return list(await session.scalars(stmt))


async def lock_unacknowledged(session: AsyncSession, *, created_before: datetime, limit: int) -> list[Dispatch]:
    """Open dispatches neither acknowledged, departed nor escalated, older than ``created_before``, oldest first,
    locked; rows another sweep holds are skipped."""
    stmt = (
        select(Dispatch)
        .where(
            Dispatch.closed_at.is_(None),
            Dispatch.acknowledged_at.is_(None),
            Dispatch.escalated_at.is_(None),
            Dispatch.status == UnitStatus.dispatched.value,
            Dispatch.created_at <= created_before,
        )
        .order_by(Dispatch.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(await session.scalars(stmt))


async def escalated_count(session: AsyncSession) -> int:
    """Open dispatches that were escalated to a commander."""
    stmt = (
        select(func.count())
        .select_from(Dispatch)
        .where(Dispatch.closed_at.is_(None), Dispatch.escalated_at.is_not(None))
    )
    return int(await session.scalar(stmt) or 0)
