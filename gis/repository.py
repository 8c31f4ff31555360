"""The SQL of the registry and the reference layers. Filters are bound parameters, never strings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from geoalchemy2 import Geography
from geoalchemy2.shape import from_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ColumnElement, Select, cast, func, null, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gis.models import HazardZone, Jurisdiction, Resource, ResourceType

BBox = tuple[float, float, float, float]
LonLat = tuple[float, float]


class ResourceHit(NamedTuple):
    """A resource in a list answer, with its distance in metres (on the spheroid) when the query had a ``near``."""

    resource: Resource
    distance_m: float | None


def point(lon: float, lat: float) -> ColumnElement[Any]:
    return func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)


def envelope(bbox: BBox) -> ColumnElement[Any]:
    return func.ST_MakeEnvelope(bbox[0], bbox[1], bbox[2], bbox[3], 4326)


def _resource_filters(
    *, types: Sequence[str] | None, status: str | None, bbox: BBox | None
) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = []
    if types:
        filters.append(Resource.type.in_(list(types)) if len(types) > 1 else Resource.type == types[0])
    if status is not None:
        filters.append(Resource.status == status)
    if bbox is not None:
        filters.append(Resource.location.intersects(envelope(bbox)))
    return filters


async def select_resources(
    session: AsyncSession,
    *,
    types: Sequence[str] | None,
    status: str | None,
    bbox: BBox | None,
    near: LonLat | None,
    limit: int,
    offset: int,
) -> tuple[list[ResourceHit], int]:
    """One page of resources and the count of all that match. With ``near``: nearest first (KNN on the GiST index)."""
    filters = _resource_filters(types=types, status=status, bbox=bbox)
    # The count rides along as an uncorrelated subquery (computed once): one round trip for page and total.
    total = select(func.count()).select_from(Resource).where(*filters).scalar_subquery()
    query: Select[Resource, Any, int]
    if near is None:
        query = select(Resource, null(), total).where(*filters).order_by(Resource.id)
    else:
        here = point(*near)
        distance = func.ST_Distance(cast(Resource.location, Geography), cast(here, Geography))
        # `<->` orders by the index in degrees; the distance reported is on the spheroid. For a handful of nearest
        # points over a city the two orders agree; the exact one is re-applied below for the page itself.
        query = select(Resource, distance, total).where(*filters).order_by(Resource.location.op("<->")(here))
    rows = (await session.execute(query.limit(limit).offset(offset))).all()
    hits = [ResourceHit(row[0], row[1]) for row in rows]
    if near is not None:
        hits.sort(key=lambda hit: hit.distance_m or 0.0)
    if rows:
        return hits, int(rows[0][2])
    count = await session.scalar(select(func.count()).select_from(Resource).where(*filters))
    return hits, int(count or 0)


async def resource_types(session: AsyncSession) -> dict[str, str]:
    """Every known type key and its kind ('unit' or 'facility')."""
    rows = await session.execute(select(ResourceType.key, ResourceType.kind))
    return {str(row[0]): str(row[1]) for row in rows.all()}


async def select_resources_within(
    session: AsyncSession, *, geometry: BaseGeometry, types: Sequence[str] | None
) -> list[Resource]:
    area = from_shape(geometry, srid=4326)
    filters = _resource_filters(types=types, status=None, bbox=None)
    query = select(Resource).where(func.ST_Intersects(Resource.location, area), *filters).order_by(Resource.id)
    return list(await session.scalars(query))


def _jurisdiction_filters(*, contains: LonLat | None, bbox: BBox | None) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = []
    if contains is not None:
        filters.append(func.ST_Covers(Jurisdiction.geom, point(*contains)))
    if bbox is not None:
        filters.append(Jurisdiction.geom.intersects(envelope(bbox)))
    return filters


async def select_jurisdictions(
    session: AsyncSession, *, contains: LonLat | None, bbox: BBox | None, limit: int, offset: int
) -> tuple[list[Jurisdiction], int]:
    """Jurisdictions, the smallest first (the district before the city that holds it)."""
    filters = _jurisdiction_filters(contains=contains, bbox=bbox)
    query = (
        select(Jurisdiction)
        .where(*filters)
        .order_by(Jurisdiction.area_m2, Jurisdiction.admin_level.desc().nulls_last(), Jurisdiction.id)
    )
    items = list(await session.scalars(query.limit(limit).offset(offset)))
    total = await session.scalar(select(func.count()).select_from(Jurisdiction).where(*filters))
    return items, int(total or 0)


class Place(NamedTuple):
    """A jurisdiction a point lies in, without its boundary."""

    id: int
    name: str
    name_en: str | None
    admin_level: int | None
    code: str | None


# Plain SQL: intake asks this for every incident, and it is cheaper without ORM entities (or the boundary, which
# is large) to build.
_COVERING = text("""
SELECT id, name, name_en, admin_level, code FROM jurisdiction
WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
ORDER BY area_m2, admin_level DESC NULLS LAST, id
LIMIT :limit
""")


async def jurisdictions_covering(session: AsyncSession, *, lon: float, lat: float, limit: int) -> list[Place]:
    """The jurisdictions a point lies in, the smallest first (the district before the city that holds it)."""
    rows = await session.execute(_COVERING, {"lon": lon, "lat": lat, "limit": limit})
    return [Place(*row) for row in rows.all()]


def _zone_filters(*, contains: LonLat | None, bbox: BBox | None, kind: str | None) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = []
    if contains is not None:
        filters.append(func.ST_Intersects(HazardZone.area, point(*contains)))
    if bbox is not None:
        filters.append(HazardZone.area.intersects(envelope(bbox)))
    if kind is not None:
        filters.append(HazardZone.kind == kind)
    return filters


async def select_zones(
    session: AsyncSession,
    *,
    contains: LonLat | None,
    bbox: BBox | None,
    kind: str | None,
    limit: int,
    offset: int,
) -> tuple[list[HazardZone], int]:
    filters = _zone_filters(contains=contains, bbox=bbox, kind=kind)
    items = list(
        await session.scalars(select(HazardZone).where(*filters).order_by(HazardZone.id).limit(limit).offset(offset))
    )
    total = await session.scalar(select(func.count()).select_from(HazardZone).where(*filters))
    return items, int(total or 0)
