"""Reading warnings: one, a filtered page, those in force over a place, and their areas as GeoJSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from incidents.warning_models import Warning
from incidents.warning_present import IN_FORCE_STATUSES, IN_FORCE_TYPES


def in_force(now: datetime) -> list[object]:
    """The conditions of a warning in force at ``now`` (``warning_present.state_of`` says the same in Python)."""
    return [
        Warning.ended_at.is_(None),
        Warning.superseded_by.is_(None),
        Warning.cancelled_by.is_(None),
        Warning.msg_type.in_(IN_FORCE_TYPES),
        Warning.status.in_(IN_FORCE_STATUSES),
        or_(Warning.expires.is_(None), Warning.expires > now),
    ]


async def get(session: AsyncSession, warning_id: int, *, for_update: bool = False) -> Warning:
    stmt = select(Warning).where(Warning.id == warning_id)
    if for_update:
        stmt = stmt.with_for_update()
    found = (await session.scalars(stmt)).first()
    if found is None:
        raise NotFound(f"warning {warning_id} does not exist")
    return found


def filtered(
    *,
    now: datetime,
    active: bool | None = None,
    colour: str | None = None,
    subtype: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    incident_id: int | None = None,
) -> Select[Any]:
    conditions: list[object] = []
    if active is True:
        conditions += in_force(now)
    elif active is False:
        conditions.append(~and_(*in_force(now)))  # type: ignore[arg-type]
    if colour:
        conditions.append(Warning.colour == colour)
    if subtype:
        conditions.append(Warning.subtype == subtype)
    if bbox is not None:
        conditions.append(func.ST_Intersects(Warning.area, func.ST_MakeEnvelope(*bbox, 4326)))
    if incident_id is not None:
        conditions.append(Warning.incident_id == incident_id)
    return select(Warning).where(*conditions)  # type: ignore[arg-type]


async def page(session: AsyncSession, stmt: Select[Any], *, limit: int, offset: int) -> tuple[list[Warning], int]:
    rows = (
        await session.scalars(stmt.order_by(Warning.sent.desc(), Warning.id.desc()).limit(limit).offset(offset))
    ).all()
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return list(rows), int(total or 0)


async def areas_geojson(session: AsyncSession, ids: list[int]) -> dict[int, str]:
    """Each warning's area as GeoJSON text (coordinates to 6 decimals, about 0.1 m)."""
    if not ids:
        return {}
    rows = await session.execute(
        select(Warning.id, func.ST_AsGeoJSON(Warning.area, 6)).where(Warning.id.in_(ids), Warning.area.is_not(None))
    )
    return {row[0]: row[1] for row in rows}


async def covering(session: AsyncSession, *, lon: float, lat: float, now: datetime) -> list[Warning]:
    """The warnings in force whose area covers the point (an incident inside an active warning's area)."""
    point = func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)
    stmt = (
        select(Warning)
        .where(*in_force(now), Warning.area.is_not(None), func.ST_Intersects(Warning.area, point))  # type: ignore[arg-type]
        .order_by(Warning.sent.desc())
        .limit(100)
    )
    return list((await session.scalars(stmt)).all())


async def point_inside(session: AsyncSession, warning_id: int) -> tuple[float, float] | None:
    """A point inside the warning's area (for an incident opened from it), or None when it has no area."""
    row = (
        await session.execute(
            select(
                func.ST_X(func.ST_PointOnSurface(Warning.area)), func.ST_Y(func.ST_PointOnSurface(Warning.area))
            ).where(Warning.id == warning_id, Warning.area.is_not(None))
        )
    ).first()
    return (float(row[0]), float(row[1])) if row else None
