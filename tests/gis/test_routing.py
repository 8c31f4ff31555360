"""Roads on our own river town (tests/gis/fixtures/river_town.osm, always run): the graph build, routes that honour
a one-way (oneway=-1) and the only road bridge, straight-line fallbacks that say so, isochrones, and no graph."""

from __future__ import annotations

import random

import pytest
from shapely.geometry import Point
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, Invalid
from gis.io.osm_import import import_osm
from gis.roads.graph import build_graph, speed_table
from gis.roads.isochrone import isochrone
from gis.roads.road_models import RoadEdge
from gis.roads.routing import route, straight_metres, travel_times
from gis.schemas import OsmReport, RoadPolicy
from tests.gis.conftest import FIXTURES

RIVER_TOWN = FIXTURES / "river_town.osm"


def at(x: float, y: float) -> tuple[float, float]:
    """A place in the river town, in its grid units (0.001 degree) from 100 E, 20 N."""
    return (round(100 + x * 0.001, 7), round(20 + y * 0.001, 7))


@pytest.fixture
async def river_town(session: AsyncSession) -> OsmReport:
    report = await import_osm(session, path=RIVER_TOWN)
    await session.commit()
    return report


async def test_graph_splits_ways_at_shared_nodes_only(session: AsyncSession, river_town: OsmReport) -> None:
    graph = river_town.graph
    assert graph is not None
    # South Avenue is cut at Middle Street and Bridge Road only: the footbridge (a footway) and Works Road
    # (access=no) do not make junctions, and the flyover crosses it without a shared node.
    assert (graph.edges, graph.vertices, graph.components) == (18, 18, 3)
    assert (graph.routable_edges, graph.routable_vertices, graph.largest_component_vertices) == (15, 13, 13)
    assert graph.isolated_count == 2 and [p.vertices for p in graph.isolated] == [3, 2]
    assert graph.left_out == {"not_for_vehicles": 1} and graph.oneway_edges == 3
    near = text(
        "SELECT count(*) FROM road_vertex WHERE ST_DWithin(geom::geography, ST_MakePoint(:x, :y)::geography, 5)"
    )
    assert await session.scalar(near, dict(zip("xy", at(25, 0), strict=True))) == 0
    assert await session.scalar(near, dict(zip("xy", at(20, 0), strict=True))) == 1
    avenue = list(await session.scalars(select(RoadEdge).where(RoadEdge.osm_id == 201).order_by(RoadEdge.id)))
    assert [(e.source, e.target) for e in avenue] == [(1, 3), (3, 4), (4, 5)]
    assert {e.speed_kmh for e in avenue} == {48.0}, "maxspeed=30 mph wins over the primary class speed"
    assert avenue[0].cost_s == pytest.approx(avenue[0].length_m / (48 / 3.6))
    # South Bank Road is drawn eastwards with oneway=-1: only its reverse direction may be driven.
    bank = list(await session.scalars(select(RoadEdge).where(RoadEdge.osm_id == 202)))
    assert bank and all(e.cost_s < 0 < e.reverse_cost_s for e in bank)
    flyover = await session.scalar(select(RoadEdge).where(RoadEdge.osm_id == 213))
    assert flyover is not None and not flyover.routable and flyover.component != avenue[0].component


async def test_rebuild_is_idempotent_and_honours_the_speed_table(session: AsyncSession, river_town: OsmReport) -> None:
    query = text("SELECT id, source, target, cost_s, ST_AsText(geom) FROM road_edge ORDER BY id")
    before = (await session.execute(query)).all()
    again = await build_graph(session)
    assert (await session.execute(query)).all() == before and again.edges == 18
    only_main = await build_graph(session, speeds={"primary": 50, "tertiary": 35})
    # residential (2 ways), trunk (the flyover) and service (3 ways) are not driven with this table
    assert only_main.left_out == {"not_driven": 6}
    assert only_main.edges == 3 + 3 + 3, "Bridge Road is no longer cut where South Bank Road met it"
    assert speed_table({"service": 0, "residential": 20})["residential"] == 20.0
    assert "service" not in speed_table({"service": 0})


async def test_a_one_way_makes_a_to_b_differ_from_b_to_a(session: AsyncSession, river_town: OsmReport) -> None:
    a, b = at(5, 7.9), at(25, 7.9)
    west = await route(session, start=b, end=a)
    east = await route(session, start=a, end=b)
    assert west.method == east.method == "road"
    # Westwards South Bank Road leads straight there; eastwards it is closed, so the route goes round by the avenue.
    assert 2_000 < west.distance_m < 2_300 and min(lat for _, lat in west.coordinates) > 20.0075
    assert east.distance_m > 5_500 and min(lat for _, lat in east.coordinates) < 20.0005
    assert east.duration_s > 1.5 * west.duration_s
    assert west.snap_from_m == pytest.approx(11.1, abs=0.5) and west.coordinates[0] == b


async def test_the_route_crosses_at_the_road_bridge_not_the_footbridge(
    session: AsyncSession, river_town: OsmReport
) -> None:
    start, end = at(10, 7.9), at(10, 12.1)
    found = await route(session, start=start, end=end)
    assert straight_metres(start, end) < 500
    assert found.method == "road" and found.distance_m > 8_000
    assert any(abs(lon - 100.03) < 1e-6 and 20.0095 <= lat <= 20.0105 for lon, lat in found.coordinates)
    assert not any(abs(lon - 100.01) < 1e-6 and 20.0085 < lat < 20.0115 for lon, lat in found.coordinates)


async def test_points_snap_to_the_connected_network(session: AsyncSession, river_town: OsmReport) -> None:
    # On the flyover, an isolated piece: snapped instead to South Avenue 3 units (333 m) away.
    found = await route(session, start=at(25, -3), end=at(35, -0.1))
    assert found.method == "road" and found.snap_from_m == pytest.approx(333, abs=3)


async def test_far_points_fall_back_to_the_straight_line(session: AsyncSession, river_town: OsmReport) -> None:
    policy = RoadPolicy()
    far = (100.5, 20.5)
    found = await route(session, start=at(10, 0), end=far, policy=policy)
    assert found.method == "straight_line" and "from the nearest road" in found.reason
    # By hand, from (100.010 E, 20.000 N) to (100.5 E, 20.5 N), at the mean latitude 20.25 N: a degree of latitude
    # is 111,132.954 - 559.822 cos 40.5 + 1.175 cos 81 = 110,707.4 m, a degree of longitude
    # 111,412.84 cos 20.25 - 93.5 cos 60.75 + 0.118 cos 101.25 = 104,480.9 m; so 0.49 x 104,480.9 = 51,195.6 m east,
    # 0.5 x 110,707.4 = 55,353.7 m north: sqrt(51,195.6^2 + 55,353.7^2) = 75,399 m. The fallback lengthens it by
    # 1.4 and drives it at 30 km/h (8.333 m/s): 75,399 x 1.4 / 8.333 = 12,667 s.
    assert found.distance_m == pytest.approx(75_399, rel=1e-4)
    assert found.duration_s == pytest.approx(12_667, rel=1e-4)
    assert found.coordinates == [at(10, 0), far]
    same = await route(session, start=at(10, 0), end=at(10, 0))
    assert (same.duration_s, same.distance_m, same.method) == (0.0, 0.0, "road")


async def test_travel_times_many_to_one(session: AsyncSession, river_town: OsmReport) -> None:
    incident = at(10, 12.3)
    origins = [(1, *at(10, 7.7)), (2, *at(35, 12.3)), (3, 100.5, 20.5), (4, *incident), (5, *at(35, 12.3))]
    legs = await travel_times(session, origins=origins, lon=incident[0], lat=incident[1])
    by_id = {leg.origin_id: leg for leg in legs}
    assert [leg.origin_id for leg in legs] == [1, 2, 3, 4, 5]
    assert by_id[1].method == by_id[2].method == "road"
    assert by_id[2].eta_s < by_id[1].eta_s, "the unit across the river must drive round by the bridge"
    assert by_id[1].distance_m > 8_000 and 2_500 < by_id[2].distance_m < 2_800
    assert by_id[3].method == "straight_line" and "origin is" in by_id[3].reason
    # There already: only the walk to North Bank Road (y = 12) and back. 0.0003 degree of latitude at 20.012 N is
    # 0.0003 x 110,704.4 m = 33.21 m; at the access speed of 15 km/h (4.1667 m/s) that is 7.97 s, twice: 15.94 s.
    assert by_id[4].eta_s == pytest.approx(15.94, abs=0.05), "there already: only the walk to the road"
    assert (by_id[5].eta_s, by_id[5].distance_m) == (by_id[2].eta_s, by_id[2].distance_m)
    off = await travel_times(session, origins=origins[:2], lon=100.5, lat=20.5)
    assert {leg.method for leg in off} == {"straight_line"} and "destination is" in off[0].reason


async def test_isochrone_follows_the_roads(session: AsyncSession, river_town: OsmReport) -> None:
    two = await isochrone(session, lon=at(10, 12.1)[0], lat=at(10, 12.1)[1], minutes=2)
    assert two.area.geom_type in ("Polygon", "MultiPolygon")
    # 2 minutes on North Bank Road at 25 km/h: about 830 m either way; the south bank, 450 m across the river
    # but 8 km by road, is out.
    assert two.area.contains(Point(*at(17, 12))) and two.area.contains(Point(*at(3, 12)))
    assert not two.area.contains(Point(*at(10, 8))) and not two.area.contains(Point(*at(25, 12)))
    eight = await isochrone(session, lon=at(10, 12.1)[0], lat=at(10, 12.1)[1], minutes=8)
    assert eight.area.area > two.area.area and eight.area.contains(Point(*at(30, 9))), "over the bridge by now"
    for minutes in (0, -1, 120.5):
        with pytest.raises(Invalid, match="minutes"):
            await isochrone(session, lon=100.01, lat=20.012, minutes=minutes)
    with pytest.raises(Invalid, match="nearest road"):
        await isochrone(session, lon=100.5, lat=20.5, minutes=5)


async def test_without_a_graph_routes_refuse_and_times_fall_back(session: AsyncSession) -> None:
    assert await session.scalar(select(func.count()).select_from(RoadEdge)) == 0
    with pytest.raises(Conflict, match="no road graph"):
        await route(session, start=at(0, 0), end=at(10, 0))
    with pytest.raises(Conflict, match="no road graph"):
        await isochrone(session, lon=100.0, lat=20.0, minutes=5)
    legs = await travel_times(session, origins=[(7, *at(0, 0))], lon=at(10, 0)[0], lat=at(10, 0)[1])
    assert legs[0].method == "straight_line" and "no road graph" in legs[0].reason


@pytest.mark.parametrize("seed", range(3))
def test_straight_metres_is_the_geodesic_near_and_far(seed: int) -> None:
    from pyproj import Geod

    geodesic = Geod(ellps="WGS84")
    rng = random.Random(seed)
    for _ in range(2_000):
        lat, lon = rng.uniform(-75, 75), rng.uniform(-180, 180)
        span = rng.choice((0.001, 0.05, 0.5, 3.0, 40.0))  # a street, a city, a district's edge, provinces apart
        a = (lon, lat)
        b = (lon + rng.uniform(-span, span), max(-89.0, min(89.0, lat + rng.uniform(-span, span))))
        _, _, expected = geodesic.inv(a[0], a[1], b[0], b[1])
        assert straight_metres(a, b) == pytest.approx(expected, rel=1e-5, abs=0.01)
    # Across the antimeridian the short way round.
    _, _, expected = geodesic.inv(179.9, 10.0, -179.9, 10.0)
    assert straight_metres((179.9, 10.0), (-179.9, 10.0)) == pytest.approx(expected, rel=1e-5)
