"""The SQL of the registry and the reference layers. Filters are bound parameters, never strings."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import asyncpg
from geoalchemy2.shape import from_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import driver_connection
from gis.models import HazardZone, Jurisdiction, Resource, ResourceType

BBox = tuple[float, float, float, float]
LonLat = tuple[float, float]


class ResourceHit(NamedTuple):
    """A resource in a list answer, with its distance in metres (on the spheroid) when the query had a ``near``.

    ``resource`` is a row (by column name) of every column of ``resource`` but the geometry, which comes as ``lon``
    and ``lat``: lists read rows, not ORM objects, since a list is read, never changed, and this is the registry's
    hot read.
    """

    resource: Mapping[str, Any]
    distance_m: float | None


_LISTED = ", ".join(c.name for c in Resource.__table__.c if c.name != "location")
_LISTED += ", ST_X(location) AS lon, ST_Y(location) AS lat"


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


class ResourcePage(NamedTuple):
    """A page of resources, how many match in all, and whether that number is exact (see NEAR_COUNT_CAP)."""

    hits: list[ResourceHit]
    total: int
    total_exact: bool


# A nearest-first search is about its first few answers: its total is counted up to this many past the page, and
# flagged when it stops there. Counting every match (12,000 ambulances among 100,000 resources) cost 1.6 ms, six
# times the search itself; counting to 1,000 still doubled it; to 100 it adds a tenth.
NEAR_COUNT_CAP = 100


@functools.lru_cache(maxsize=256)
def _list_sql(
    *, types: int, status: bool, bbox: bool, near: bool, limit: int, offset: int, cap: int | None
) -> tuple[str, tuple[str, ...]]:
    """The list statement for one combination of filters and page size, and the names of its ``$n`` parameters
    in order. Fixed SQL text: every value from the request is a parameter but the page's integers, which are
    written in (a prepared statement's generic plan that does not know its LIMIT may sort the whole table instead
    of walking the KNN index: 40 ms instead of 0.5).

    Plain SQL on the driver, built once per combination: this is the registry's hot read, and going through the
    ORM or even SQLAlchemy Core cost more than the KNN search itself.
    """
    names: list[str] = []

    def param(name: str, cast: str = "") -> str:
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}{cast}"

    where = ["TRUE"]
    if types:
        where.append(f"type = {param('type')}" if types == 1 else f"type = ANY({param('types', '::text[]')})")
    if status:
        where.append(f"status = {param('status')}")
    if bbox:
        box = ", ".join(param(n, "::float8") for n in ("minlon", "minlat", "maxlon", "maxlat"))
        where.append(f"ST_Intersects(location, ST_MakeEnvelope({box}, 4326))")
    matching = " AND ".join(where)
    here = f"ST_SetSRID(ST_MakePoint({param('lon', '::float8')}, {param('lat', '::float8')}), 4326)" if near else ""
    # `<->` orders by the GiST index in degrees; the distance reported is on the spheroid.
    distance = f"ST_Distance(location::geography, {here}::geography)" if near else "NULL::float8"
    order = f"location <-> {here}" if near else "id"
    # The count rides along as an uncorrelated subquery (computed once): one round trip for page and total.
    sql = f"""SELECT {distance} AS distance_m,
        (SELECT count(*) FROM (SELECT 1 FROM resource WHERE {matching} LIMIT {"ALL" if cap is None else int(cap)})
         AS counted) AS total, {_LISTED}
    FROM resource WHERE {matching} ORDER BY {order} LIMIT {int(limit)} OFFSET {int(offset)}"""
    return sql, tuple(names)


async def select_resources(
    db: AsyncSession | asyncpg.Connection,
    *,
    types: Sequence[str] | None,
    status: str | None,
    bbox: BBox | None,
    near: LonLat | None,
    limit: int,
    offset: int,
) -> ResourcePage:
    """One page of resources and the count of those that match. With ``near``: nearest first (KNN on the GiST
    index), and the count stops ``NEAR_COUNT_CAP`` past the page. ``db``: a session, or a plain asyncpg connection
    (the fast read path's)."""
    types = list(types or [])
    cap = offset + limit + NEAR_COUNT_CAP if near is not None else None
    shape = {
        "types": min(len(types), 2),
        "status": status is not None,
        "bbox": bbox is not None,
        "near": near is not None,
        "cap": None if cap is None else cap + 1,  # one more than the cap: "more than the cap" can be told apart
    }
    values: dict[str, Any] = {"type": types[0] if types else None, "types": types, "status": status}
    if bbox is not None:
        values.update(zip(("minlon", "minlat", "maxlon", "maxlat"), bbox, strict=True))
    if near is not None:
        values.update(lon=near[0], lat=near[1])
    driver = await driver_connection(db) if isinstance(db, AsyncSession) else db
    sql, names = _list_sql(**shape, limit=limit, offset=offset)
    rows = await driver.fetch(sql, *(values[name] for name in names))
    if not rows and offset:  # past the end: the first row still carries the total
        sql, names = _list_sql(**shape, limit=1, offset=0)
        rows = await driver.fetch(sql, *(values[name] for name in names))
        count, rows = (int(rows[0]["total"]) if rows else 0), []
    else:
        count = int(rows[0]["total"]) if rows else 0
    hits = [ResourceHit(row, row["distance_m"]) for row in rows]
    if near is not None:  # the exact order on the spheroid, for the page itself
        hits.sort(key=lambda hit: hit.distance_m or 0.0)
    if cap is not None and count > cap:
        return ResourcePage(hits, cap, total_exact=False)
    return ResourcePage(hits, count, total_exact=True)


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


_NAMES_COVERING = text("""
SELECT e.n, j.name, j.name_en
FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY AS e(lon, lat, n)
JOIN jurisdiction j ON ST_Covers(j.geom, ST_SetSRID(ST_MakePoint(e.lon, e.lat), 4326))
""")


async def jurisdiction_names_covering(session: AsyncSession, *, points: Sequence[LonLat]) -> list[list[str]]:
    """For each point, the names (and English names) of the jurisdictions it lies in: one statement for them all."""
    names: list[list[str]] = [[] for _ in points]
    params = {"lons": [p[0] for p in points], "lats": [p[1] for p in points]}
    for n, name, name_en in (await session.execute(_NAMES_COVERING, params)).all():
        names[n - 1] += [name] if name_en is None else [name, name_en]
    return names


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
