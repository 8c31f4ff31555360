"""Geometries survive a round trip through asyncpg and GeoAlchemy2 (GeoAlchemy2's own tests are synchronous only)."""

from __future__ import annotations

import pytest
from geoalchemy2 import Geography, Geometry
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import LineString, Point, Polygon
from sqlalchemy import BigInteger, Column, MetaData, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

# A table that exists only inside each test's rolled-back transaction.
scratch = MetaData()
place = Table(
    "scratch_place",
    scratch,
    Column("id", BigInteger, primary_key=True),
    Column("geom", Geometry("GEOMETRY", srid=4326, spatial_index=False)),
    prefixes=["TEMPORARY"],
)


@pytest.fixture
async def scratch_table(session: AsyncSession) -> None:
    await session.run_sync(lambda s: scratch.create_all(s.connection()))


@pytest.mark.parametrize(
    "shape",
    [
        Point(104.0614, 30.688),
        LineString([(104.04, 30.65), (104.13, 30.72)]),
        Polygon([(104.05, 30.66), (104.07, 30.66), (104.07, 30.68), (104.05, 30.66)]),
    ],
    ids=["point", "line", "polygon"],
)
async def test_round_trip(session: AsyncSession, scratch_table: None, shape: object) -> None:
    await session.execute(insert(place).values(id=1, geom=from_shape(shape, srid=4326)))
    row = (await session.execute(select(place.c.geom, func.ST_SRID(place.c.geom)).where(place.c.id == 1))).one()
    assert row[1] == 4326
    assert to_shape(row[0]).equals_exact(shape, 1e-12)


async def test_distance_is_metric_on_geography(session: AsyncSession) -> None:
    """Tianfu Square to Chengdu East station, about 7.5 km: computed on the spheroid, never in degrees."""
    a = func.ST_GeomFromText("POINT(104.0657 30.6598)", 4326)
    b = func.ST_GeomFromText("POINT(104.1411 30.6306)", 4326)
    metres = await session.scalar(select(func.ST_Distance(func.cast(a, Geography), func.cast(b, Geography))))
    assert metres is not None and 7_500 < metres < 8_200
