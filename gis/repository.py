"""The SQL of the registry and the reference layers, through SQLAlchemy on the caller's session. Filters are bound
parameters, never strings."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from geoalchemy2 import Geography
from geoalchemy2.shape import from_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Float,
    Integer,
    Select,
    String,
    Text,
    any_,
    bindparam,
    cast,
    func,
    literal_column,
    null,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from gis.models import HazardZone, Jurisdiction, Resource, ResourceType
from gis.schemas import BBox, LonLat, Place, ResourceHit, ResourcePage

_RESOURCE = Resource.__table__
# A listed row: every column but the geometry, which comes as lon and lat.
_LISTED = (
    *(c for c in _RESOURCE.c if c.name != "location"),
    func.ST_X(_RESOURCE.c.location).label("lon"),
    func.ST_Y(_RESOURCE.c.location).label("lat"),
)


# Written into the statement, as the column's own SRID (a constant of ours, not a value from a request).
_WGS84: ColumnElement[int] = literal_column("4326")
# ``::geography``, with no type modifier: geoalchemy2's Geography() would cast to geography(GEOMETRY,-1).
_GEOGRAPHY = Geography(geometry_type=None)


def point(lon: float, lat: float) -> ColumnElement[Any]:
    return func.ST_SetSRID(func.ST_MakePoint(lon, lat), _WGS84)


def envelope(bbox: BBox) -> ColumnElement[Any]:
    return func.ST_MakeEnvelope(bbox[0], bbox[1], bbox[2], bbox[3], _WGS84)


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


# A nearest-first search is about its first few answers: its total is counted up to this many past the page, and
# flagged when it stops there. Counting every match (12,000 ambulances among 100,000 resources) cost 1.6 ms, six
# times the search itself; counting to 1,000 still doubled it; to 100 it adds a tenth.
NEAR_COUNT_CAP = 100


def _written_in(name: str) -> BindParameter[int]:
    """An integer of ours (a page size, an offset, a cap) written into the statement's text when it runs, not sent
    as a parameter: a prepared statement's generic plan that does not know its LIMIT may sort the whole table
    instead of walking the KNN index (40 ms instead of 0.5 when this was measured). SQLAlchemy still caches the
    compiled statement; only the integer is filled in, and ``select_resources`` makes it with ``int()``."""
    return bindparam(name, type_=Integer, literal_execute=True)


def _value(name: str, type_: TypeEngine[Any]) -> BindParameter[Any]:
    return bindparam(name, type_=type_)


@functools.lru_cache(maxsize=32)
def _list_statement(*, types: int, status: bool, bbox: bool, near: bool, capped: bool) -> Select[Any]:
    """One page of resources and, on each row, the number matching (up to ``:cap`` when ``capped``): one round
    trip. One statement object per combination of filters (``types``: 0, 1 or 2 for several), built once: building
    and keying it cost more than the KNN search itself. Every value arrives as a bound parameter by name at
    execution; the page's integers are written in (``_written_in``)."""
    matching: list[ColumnElement[bool]] = []
    if types == 1:
        matching.append(_RESOURCE.c.type == _value("type", String()))
    elif types > 1:  # one statement text for any number of types (IN would render one parameter per type)
        matching.append(_RESOURCE.c.type == any_(_value("types", ARRAY(Text))))
    if status:
        matching.append(_RESOURCE.c.status == _value("status", String()))
    if bbox:
        corners = (_value(name, Float()) for name in ("minlon", "minlat", "maxlon", "maxlat"))
        matching.append(func.ST_Intersects(_RESOURCE.c.location, func.ST_MakeEnvelope(*corners, _WGS84)))
    counted: Select[Any] = select(literal_column("1")).select_from(_RESOURCE).where(*matching)
    if capped:
        counted = counted.limit(_written_in("cap"))
    # The count rides along as an uncorrelated subquery (computed once): one round trip for page and total.
    total = select(func.count()).select_from(counted.subquery("counted")).scalar_subquery()
    if near:
        here = func.ST_SetSRID(func.ST_MakePoint(_value("lon", Float()), _value("lat", Float())), _WGS84)
        # `<->` orders by the GiST index in degrees; the distance reported is on the spheroid.
        distance: ColumnElement[Any] = func.ST_Distance(cast(_RESOURCE.c.location, _GEOGRAPHY), cast(here, _GEOGRAPHY))
        order: ColumnElement[Any] = _RESOURCE.c.location.op("<->")(here)
    else:
        distance, order = null(), _RESOURCE.c.id
    return (
        select(distance.label("distance_m"), total.label("total"), *_LISTED)
        .where(*matching)
        .order_by(order)
        .limit(_written_in("limit"))
        .offset(_written_in("offset"))
    )


async def select_resources(
    session: AsyncSession,
    *,
    types: Sequence[str] | None,
    status: str | None,
    bbox: BBox | None,
    near: LonLat | None,
    limit: int,
    offset: int,
) -> ResourcePage:
    """One page of resources and the count of those that match. With ``near``: nearest first (KNN on the GiST
    index), and the count stops ``NEAR_COUNT_CAP`` past the page."""
    types = list(types or [])
    cap = offset + limit + NEAR_COUNT_CAP if near is not None else None
    statement = _list_statement(
        types=min(len(types), 2), status=status is not None, bbox=bbox is not None, near=near is not None,
        capped=cap is not None,
    )  # fmt: skip
    values: dict[str, Any] = {"type": types[0] if types else None, "types": types, "status": status}
    values["cap"] = None if cap is None else int(cap) + 1  # one more: "more than the cap" can be told apart
    if bbox is not None:
        values.update(zip(("minlon", "minlat", "maxlon", "maxlat"), bbox, strict=True))
    if near is not None:
        values.update(lon=near[0], lat=near[1])
    page = {"limit": int(limit), "offset": int(offset)}
    rows = (await session.execute(statement, {**values, **page})).mappings().all()
    if not rows and offset:  # past the end: the first row still carries the total
        first = (await session.execute(statement, {**values, "limit": 1, "offset": 0})).mappings().all()
        count = int(first[0]["total"]) if first else 0
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
