"""The registry's rules: what may be created, how a unit's status and location change, and the spatial questions
other packages ask (nearest, within, containing). Services flush; the caller's unit of work commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg
from geoalchemy2.shape import from_shape
from shapely import wkb
from shapely.geometry import Point as ShapelyPoint
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import Conflict, Invalid, NotFound
from core.events import queue_event
from core.geojson import check_lon_lat
from gis import repository
from gis.models import HazardZone, Jurisdiction, Resource, ResourceKind, UnitStatus
from gis.repository import BBox, LonLat, Place, ResourceHit, ResourcePage
from gis.schemas import ResourceIn, resource_event_data

__all__ = [
    "Place",
    "ResourceHit",
    "ResourcePage",
    "create_resource",
    "get_resource",
    "jurisdiction_containing",
    "jurisdictions_covering",
    "list_jurisdictions",
    "list_resources",
    "list_zones",
    "resources_within",
    "set_unit_location",
    "set_unit_status",
    "zones_containing",
]


async def get_resource(session: AsyncSession, *, resource_id: int, for_update: bool = False) -> Resource:
    """The resource (unit or facility) with this id; NotFound otherwise. ``for_update`` locks its row."""
    query = select(Resource).where(Resource.id == resource_id)
    if for_update:
        query = query.with_for_update()
    resource = await session.scalar(query)
    if resource is None:
        raise NotFound(f"no resource {resource_id}")
    return resource


def _types(type: str | Sequence[str] | None) -> list[str] | None:
    if type is None:
        return None
    return [type] if isinstance(type, str) else list(type)


async def list_resources(
    db: AsyncSession | asyncpg.Connection,
    *,
    type: str | Sequence[str] | None = None,
    status: str | None = None,
    bbox: BBox | None = None,
    near: LonLat | None = None,
    limit: int = 100,
    offset: int = 0,
) -> ResourcePage:
    """A page of resources and the number matching in all (with ``near``: counted up to a cap, see ResourcePage).

    ``type`` is one key or several; ``bbox`` is (minlon, minlat, maxlon, maxlat); with ``near`` = (lon, lat) the
    nearest come first and each hit carries its distance in metres on the spheroid.
    """
    if status is not None and status not in UnitStatus.__members__:
        raise Invalid(f"unknown status {status!r} (one of: {', '.join(UnitStatus)})", field="status")
    return await repository.select_resources(
        db, types=_types(type), status=status, bbox=bbox, near=near, limit=limit, offset=offset
    )


async def create_resource(session: AsyncSession, *, data: ResourceIn, source: str = "api") -> Resource:
    """Add a unit or facility. A unit starts ``available`` unless told otherwise; a facility has no status."""
    kinds = await repository.resource_types(session)
    kind = kinds.get(data.type)
    if kind is None:
        raise Invalid(f"unknown resource type {data.type!r} (known: {', '.join(sorted(kinds))})", field="type")
    status: str | None = data.status.value if data.status else None
    if kind == ResourceKind.unit:
        status = status or UnitStatus.available.value
    elif status is not None:
        raise Invalid(f"a {data.type} is a facility and has no status", field="status")
    if data.home_station_id is not None:
        await _check_home_station(session, data.home_station_id)
    resource = Resource(
        type=data.type,
        name=data.name,
        name_zh=data.name_zh,
        name_en=data.name_en,
        status=status,
        location=from_shape(ShapelyPoint(data.location.lon, data.location.lat), srid=4326),
        capacity=data.capacity,
        home_station_id=data.home_station_id,
        agency=data.agency,
        source=source,
        external_id=data.external_id,
        properties=data.properties,
    )
    session.add(resource)
    await session.flush()
    await session.refresh(resource)
    queue_event(
        session,
        type="resource.created",
        data=resource_event_data(resource),
        unit_id=resource.id if kind == ResourceKind.unit else None,
    )
    return resource


async def _check_home_station(session: AsyncSession, station_id: int) -> None:
    if await session.scalar(select(Resource.id).where(Resource.id == station_id)) is None:
        raise Invalid(f"home station {station_id} does not exist", field="home_station_id")


async def _unit(session: AsyncSession, unit_id: int) -> Resource:
    resource = await get_resource(session, resource_id=unit_id, for_update=True)
    if resource.status is None:
        raise Conflict(f"resource {unit_id} is a {resource.type}, not a unit: it has no status or live location")
    return resource


def _bump(resource: Resource) -> None:
    resource.version += 1
    resource.updated_at = utcnow()


async def set_unit_status(session: AsyncSession, *, unit_id: int, status: str) -> Resource:
    """Set a unit's status (the workflow rules belong to ``command``; this only checks the label exists)."""
    try:
        new = UnitStatus(status)
    except ValueError:
        raise Invalid(f"unknown status {status!r} (one of: {', '.join(UnitStatus)})", field="status") from None
    unit = await _unit(session, unit_id)
    if unit.status != new.value:
        unit.status = new.value
        _bump(unit)
        await session.flush()
    queue_event(session, type="unit.status", data=resource_event_data(unit), unit_id=unit.id)
    return unit


async def set_unit_location(session: AsyncSession, *, unit_id: int, lon: float, lat: float, at: datetime) -> Resource:
    """Record a unit's location fix. A fix older than the one already held is ignored (they can arrive late)."""
    try:
        check_lon_lat(lon, lat)
    except ValueError as exc:
        raise Invalid(str(exc), field="location") from None
    if at.tzinfo is None:
        raise Invalid("the fix time must carry a time zone", field="at")
    unit = await _unit(session, unit_id)
    if unit.last_fix_at is not None and at < unit.last_fix_at:
        return unit
    unit.location = from_shape(ShapelyPoint(lon, lat), srid=4326)
    unit.last_fix_at = at
    _bump(unit)
    await session.flush()
    await session.refresh(unit, ["location"])
    queue_event(session, type="unit.location", data=resource_event_data(unit), unit_id=unit.id)
    return unit


async def resources_within(
    session: AsyncSession, *, geometry: BaseGeometry, types: str | Sequence[str] | None = None
) -> list[Resource]:
    """Resources lying inside (or on the edge of) an area given in lon/lat, e.g. a hazard zone or a drawn polygon."""
    if geometry.is_empty:
        return []
    if not geometry.is_valid:
        raise Invalid("the area is not a valid geometry", field="geometry")
    return await repository.select_resources_within(session, geometry=geometry, types=_types(types))


async def jurisdiction_containing(session: AsyncSession, *, lon: float, lat: float) -> Place | None:
    """The jurisdiction a point lies in; when several nest (district in city), the smallest one. Its boundary is
    not loaded."""
    items = await repository.jurisdictions_covering(session, lon=lon, lat=lat, limit=1)
    return items[0] if items else None


async def jurisdictions_covering(session: AsyncSession, *, lon: float, lat: float, limit: int = 50) -> list[Place]:
    """Every jurisdiction a point lies in (district, city, province …), the smallest first, boundaries not loaded."""
    return await repository.jurisdictions_covering(session, lon=lon, lat=lat, limit=limit)


async def jurisdiction_names_covering(session: AsyncSession, *, points: Sequence[LonLat]) -> list[list[str]]:
    """For each point, the names (and English names) of every jurisdiction it lies in, in one statement."""
    return await repository.jurisdiction_names_covering(session, points=points)


async def list_jurisdictions(
    session: AsyncSession,
    *,
    contains: LonLat | None = None,
    bbox: BBox | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Jurisdiction], int]:
    """Jurisdictions (those containing a point, or touching a box), the smallest first."""
    return await repository.select_jurisdictions(session, contains=contains, bbox=bbox, limit=limit, offset=offset)


async def zones_containing(session: AsyncSession, *, lon: float, lat: float) -> list[HazardZone]:
    """Every hazard zone whose area (geometry widened by its buffer) covers the point."""
    items, _ = await repository.select_zones(session, contains=(lon, lat), bbox=None, kind=None, limit=1000, offset=0)
    return items


async def list_zones(
    session: AsyncSession,
    *,
    contains: LonLat | None = None,
    bbox: BBox | None = None,
    kind: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[HazardZone], int]:
    """Hazard zones, optionally those covering a point, touching a box or of one kind."""
    return await repository.select_zones(session, contains=contains, bbox=bbox, kind=kind, limit=limit, offset=offset)


async def resources_in_zone(
    session: AsyncSession, *, zone_id: int, types: str | Sequence[str] | None = None
) -> list[Resource]:
    """Resources inside a hazard zone's area (e.g. hospitals within the buffer of an active fault)."""
    zone_area = await session.scalar(select(func.ST_AsBinary(HazardZone.area)).where(HazardZone.id == zone_id))
    if zone_area is None:
        raise NotFound(f"no hazard zone {zone_id}")
    return await resources_within(session, geometry=wkb.loads(bytes(zone_area)), types=types)


async def unit_counts(session: AsyncSession) -> list[tuple[str, str, int]]:
    """How many units there are of each type in each status: ``(type, status, count)``."""
    stmt = (
        select(Resource.type, Resource.status, func.count())
        .where(Resource.status.is_not(None))
        .group_by(Resource.type, Resource.status)
        .order_by(Resource.type, Resource.status)
    )
    return [(t, s or "", int(n)) for t, s, n in (await session.execute(stmt)).all()]
