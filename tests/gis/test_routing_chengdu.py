"""Roads on the real Chengdu extract (../shared/data; skipped with a reason when it is absent): the graph built by
import-osm, routes both ways, a real one-way street, nearest ambulances by road and an isochrone."""

from __future__ import annotations

import pytest
from shapely.geometry import Point
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gis.io.osm_import import import_osm
from gis.roads.isochrone import isochrone
from gis.roads.reach import nearest_by_road
from gis.roads.routing import route, travel_times
from gis.schemas import OsmReport
from tests.gis.conftest import chengdu_dir

pytestmark = pytest.mark.shared_data

TIANFU_SQUARE = (104.0657, 30.6598)
NORTH_EAST = (104.10, 30.70)


@pytest.fixture
async def chengdu(session: AsyncSession) -> OsmReport:
    report = await import_osm(session, path=chengdu_dir() / "chengdu_core_2018.osm.pbf", demo_units=True)
    await session.commit()
    return report


async def test_chengdu_graph_and_routes(session: AsyncSession, chengdu: OsmReport) -> None:
    graph = chengdu.graph
    assert graph is not None
    # Split at shared nodes only: about 4,600 edges from the extract's 2,081 road ways.
    assert 4_000 < graph.edges < 6_000 and 3_000 < graph.vertices < 4_000 and graph.oneway_edges > 1_000
    assert graph.largest_component_vertices > 0.95 * graph.vertices
    assert graph.isolated_count == graph.components - 1 and all(p.vertices < 10 for p in graph.isolated)
    assert graph.routable_vertices > 0.9 * graph.vertices

    there = await route(session, start=TIANFU_SQUARE, end=NORTH_EAST)
    back = await route(session, start=NORTH_EAST, end=TIANFU_SQUARE)
    for leg in (there, back):
        assert leg.method == "road" and 5_000 < leg.distance_m < 10_000 and 5 * 60 < leg.duration_s < 20 * 60
        assert leg.snap_from_m is not None and leg.snap_from_m < 100
    assert abs(there.duration_s - back.duration_s) > 1, "one-way streets make the two directions differ"
    assert there.coordinates[0] == TIANFU_SQUARE and there.coordinates[-1] == NORTH_EAST


async def test_chengdu_one_way_street(session: AsyncSession, chengdu: OsmReport) -> None:
    # The longest routable one-way edge: along it is direct, against it the route must go round.
    edge = (
        await session.execute(
            text("""
        SELECT ST_X(ST_LineInterpolatePoint(geom, 0.2)) AS x1, ST_Y(ST_LineInterpolatePoint(geom, 0.2)) AS y1,
               ST_X(ST_LineInterpolatePoint(geom, 0.8)) AS x2, ST_Y(ST_LineInterpolatePoint(geom, 0.8)) AS y2,
               length_m
        FROM road_edge WHERE routable AND cost_s > 0 AND reverse_cost_s < 0 ORDER BY length_m DESC LIMIT 1
        """)
        )
    ).one()
    along = await route(session, start=(edge.x1, edge.y1), end=(edge.x2, edge.y2))
    against = await route(session, start=(edge.x2, edge.y2), end=(edge.x1, edge.y1))
    assert along.distance_m == pytest.approx(0.6 * edge.length_m, rel=0.02)
    assert against.distance_m > along.distance_m + 100 and against.duration_s > along.duration_s


async def test_chengdu_nearest_ambulances_and_isochrone(session: AsyncSession, chengdu: OsmReport) -> None:
    found = await nearest_by_road(session, lon=TIANFU_SQUARE[0], lat=TIANFU_SQUARE[1], type="ambulance", k=5)
    assert len(found) == 5 and {r.method for r in found} == {"road"}
    assert [r.eta_s for r in found] == sorted(r.eta_s for r in found)
    # Demo ambulances have never reported a fix: each is taken to be at its hospital.
    assert {r.position_source for r in found} == {"home_station"} and all("home station" in r.reason for r in found)
    legs = await travel_times(
        session, origins=[(r.unit_id, r.lon, r.lat) for r in found], lon=TIANFU_SQUARE[0], lat=TIANFU_SQUARE[1]
    )
    assert [round(leg.eta_s, 1) for leg in legs] == [r.eta_s for r in found]

    ten = await isochrone(session, lon=TIANFU_SQUARE[0], lat=TIANFU_SQUARE[1], minutes=10)
    assert ten.area.contains(Point(*TIANFU_SQUARE))
    assert not ten.area.contains(Point(104.125, 30.725)), "the far corner of the extract is more than 10 min away"
    km2 = ten.area.area * (111.32 * 95.8)  # degrees² to km² near 30.66 N
    assert 2 < km2 < 70
