"""Nearest by road and impact areas on the river town: where the river or a one-way makes the nearest unit by road
another than the nearest by straight line, the position rule (fresh fix, home station, last known), fallbacks,
and the facilities inside a graded hazmat incident's impact area."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid
from core.geojson import Point
from gis import service
from gis.impact import affected, impact_area
from gis.models import Resource
from gis.roads.reach import nearest_by_road
from gis.schemas import ResourceIn
from tests.gis.test_routing import at, river_town  # noqa: F401 (the fixture, used by name)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


async def add_unit(
    session: AsyncSession,
    type: str,
    where: tuple[float, float],
    *,
    fix_at: datetime | None = None,
    home: int | None = None,
    status: str | None = None,
) -> int:
    """A unit placed at ``where``; with ``fix_at`` that place is a location fix taken then."""
    place = Point(type="Point", coordinates=where)
    data = ResourceIn(type=type, name=f"{type} at {where}", location=place, home_station_id=home)
    unit = await service.create_resource(session, data=data)
    if fix_at is not None:
        await service.set_unit_location(session, unit_id=unit.id, lon=where[0], lat=where[1], at=fix_at)
    if status is not None:
        await service.set_unit_status(session, unit_id=unit.id, status=status)
    return unit.id


async def station(session: AsyncSession, osm_node: int) -> int:
    found = await session.scalar(select(Resource.id).where(Resource.external_id == f"node/{osm_node}"))
    assert found is not None
    return int(found)


@pytest.mark.usefixtures("river_town")
async def test_the_river_makes_the_nearest_by_road_another_unit(session: AsyncSession) -> None:
    fresh = NOW - timedelta(minutes=1)
    across = await add_unit(session, "fire_engine", at(10, 7.7), fix_at=fresh)  # 510 m away, across the river
    along = await add_unit(session, "fire_engine", at(35, 12.3), fix_at=fresh)  # 2.6 km away, same bank
    incident = at(10, 12.3)
    by_line = (await service.list_resources(session, type="fire_engine", near=incident, limit=2)).hits
    assert [hit.resource["id"] for hit in by_line] == [across, along]
    found = await nearest_by_road(session, lon=incident[0], lat=incident[1], type="fire_engine", k=2, now=NOW)
    assert [r.unit_id for r in found] == [along, across]
    assert all(r.method == "road" and r.position_source == "fix" for r in found)
    assert found[0].eta_s < found[1].eta_s and found[0].straight_m > found[1].straight_m
    assert found[1].distance_m > 8_000 and "by road" in found[1].reason and "fix of 1 min ago" in found[1].reason


@pytest.mark.usefixtures("river_town")
async def test_a_one_way_makes_the_nearest_by_road_another_unit(session: AsyncSession) -> None:
    fresh = NOW - timedelta(minutes=2)
    behind = await add_unit(session, "ambulance", at(5, 8.3), fix_at=fresh)  # 1 km west: South Bank Road runs west
    ahead = await add_unit(session, "ambulance", at(28, 8.3), fix_at=fresh)  # 1.4 km east, driving with the flow
    incident = at(15, 8.3)
    found = await nearest_by_road(session, lon=incident[0], lat=incident[1], type="ambulance", k=2, now=NOW)
    assert [r.unit_id for r in found] == [ahead, behind]
    assert found[0].straight_m > found[1].straight_m and found[1].eta_s > 2 * found[0].eta_s


@pytest.mark.usefixtures("river_town")
async def test_position_rule_fix_home_station_last_known(session: AsyncSession) -> None:
    south, north = await station(session, 86), await station(session, 85)
    fresh, stale = NOW - timedelta(minutes=3), NOW - timedelta(hours=1)
    incident = at(5, 1.5)  # beside South Bank Fire Station
    moving = await add_unit(session, "ambulance", at(12, 0.3), fix_at=fresh)
    # A stale fix right at the incident is not trusted: this unit counts as at its home across the river.
    stale_here = await add_unit(session, "ambulance", at(5, 1.6), fix_at=stale, home=north)
    # Registered far away, never fixed: in quarters at the South Bank station.
    in_quarters = await add_unit(session, "ambulance", at(60, 30), home=south)
    homeless = await add_unit(session, "ambulance", at(20, 0.5), fix_at=stale)
    await add_unit(session, "ambulance", at(5, 1.5), fix_at=fresh, status="dispatched")
    await add_unit(session, "fire_engine", at(5, 1.5), fix_at=fresh)

    found = await nearest_by_road(session, lon=incident[0], lat=incident[1], type="ambulance", k=5, now=NOW)
    assert [r.unit_id for r in found] == [in_quarters, moving, homeless, stale_here]
    sources = {r.unit_id: r.position_source for r in found}
    assert sources == {in_quarters: "home_station", moving: "fix", homeless: "last_known", stale_here: "home_station"}
    by_id = {r.unit_id: r for r in found}
    assert "no fix yet" in by_id[in_quarters].reason and "南岸消防站" in by_id[in_quarters].reason
    assert (by_id[stale_here].lon, by_id[stale_here].lat) == at(35, 13)
    assert "stale one is not trusted" in by_id[stale_here].reason
    assert "no home station" in by_id[homeless].reason
    assert by_id[stale_here].eta_s > 3 * by_id[moving].eta_s

    # Two candidates: the index walk meets the stale fix beside the incident (and sends it home) and the station,
    # which brings in the unit in quarters; the plain KNN would offer the stale fix as the nearest.
    (first,) = await nearest_by_road(
        session, lon=incident[0], lat=incident[1], type="ambulance", k=1, candidates=2, now=NOW
    )
    plain = (await service.list_resources(session, type="ambulance", status="available", near=incident, limit=1)).hits
    assert first.unit_id == in_quarters and plain[0].resource["id"] == stale_here
    # Fixes count as fresh for as long as the caller says.
    lenient = await nearest_by_road(
        session, lon=incident[0], lat=incident[1], type="ambulance", k=2, stale_after=timedelta(hours=2), now=NOW
    )
    assert [(r.unit_id, r.position_source) for r in lenient] == [(in_quarters, "home_station"), (stale_here, "fix")]


@pytest.mark.usefixtures("river_town")
async def test_fallbacks_are_stated(session: AsyncSession) -> None:
    await add_unit(session, "rescue_team", at(10, 0.2), fix_at=NOW)
    off = await nearest_by_road(session, lon=100.5, lat=20.5, type="rescue_team", now=NOW)
    assert len(off) == 1 and off[0].method == "straight_line" and "destination is" in off[0].reason
    # By hand, from (100.010 E, 20.0002 N) to (100.5 E, 20.5 N), at the mean latitude 20.2501 N: a degree of latitude
    # is 110,707.4 m and one of longitude 104,480.9 m (the series of test_routing's fallback), so
    # sqrt((0.49 x 104,480.9)^2 + (0.4998 x 110,707.4)^2) = sqrt(51,195.6^2 + 55,331.6^2) = 75,383 m.
    assert off[0].distance_m == pytest.approx(75_383, rel=1e-4)
    assert await nearest_by_road(session, lon=100.0, lat=20.0, type="boat", now=NOW) == []
    with pytest.raises(Invalid, match="not a unit type"):
        await nearest_by_road(session, lon=100.0, lat=20.0, type="hospital", now=NOW)
    with pytest.raises(Invalid, match="k must be"):
        await nearest_by_road(session, lon=100.0, lat=20.0, type="boat", k=0, now=NOW)


async def test_nearest_without_a_graph_is_the_straight_line(session: AsyncSession) -> None:
    near = await add_unit(session, "police_unit", at(1, 0), fix_at=NOW)
    far = await add_unit(session, "police_unit", at(30, 0), fix_at=NOW)
    found = await nearest_by_road(session, lon=100.0, lat=20.0, type="police_unit", now=NOW)
    assert [r.unit_id for r in found] == [near, far]
    assert {r.method for r in found} == {"straight_line"} and all("no road graph" in r.reason for r in found)


def test_impact_area_table() -> None:
    lon, lat = at(20, 4)
    leak = impact_area(subtype="hazardous_chemicals", level="IV", lon=lon, lat=lat)
    assert (leak.radius_m, leak.rule, leak.assumed_level) == (500, "hazardous_chemicals:IV", False)
    # 500 m on the ground, not in degrees: at 20.004 N a degree of latitude is
    # 111,132.954 - 559.822 cos 40.008 + 1.175 cos 80.016 = 110,704.4 m and one of longitude
    # 111,412.84 cos 20.004 - 93.5 cos 60.012 + 0.118 cos 100.02 = 104,644.4 m, so the circle reaches
    # 500 / 110,704.4 = 0.0045165 degree north and south, and 500 / 104,644.4 = 0.0047781 degree east and west.
    west, south, east, north = leak.area.bounds
    assert (north - lat, lat - south) == (pytest.approx(0.0045165, rel=1e-3), pytest.approx(0.0045165, rel=1e-3))
    assert (east - lon, lon - west) == (pytest.approx(0.0047781, rel=1e-3), pytest.approx(0.0047781, rel=1e-3))
    assert impact_area(subtype="earthquake", level="I", lon=lon, lat=lat).radius_m == 100_000
    assert impact_area(subtype="gas_leak", level="II", lon=lon, lat=lat).radius_m == 2_000
    ungraded = impact_area(subtype="volcano", level=None, lon=lon, lat=lat)
    assert (ungraded.radius_m, ungraded.rule, ungraded.assumed_level) == (200, "default:IV", True)
    custom = impact_area(subtype="explosion", level="III", lon=lon, lat=lat, radii={"explosion": [50, 60, 70, 80]})
    assert custom.radius_m == 60
    with pytest.raises(Invalid, match="four rising"):
        impact_area(subtype="explosion", level="I", lon=lon, lat=lat, radii={"explosion": [50, 40, 70, 80]})
    with pytest.raises(Invalid, match="level"):
        impact_area(subtype="explosion", level="V", lon=lon, lat=lat)


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("IV", ["South Bank School"]),
        ("III", ["South Bank School", "River Town Hospital"]),
        ("II", ["South Bank School", "River Town Hospital", "West Square Shelter"]),
        ("I", ["South Bank School", "River Town Hospital", "West Square Shelter", "North Hill School"]),
    ],
)
@pytest.mark.usefixtures("river_town")
async def test_impact_area_of_a_graded_hazmat_leak(session: AsyncSession, level: str, expected: list[str]) -> None:
    lon, lat = at(20, 4)
    impact = impact_area(subtype="hazardous_chemicals", level=level, lon=lon, lat=lat)
    inside = await affected(session, impact=impact, lon=lon, lat=lat)
    assert [a.resource.name_en for a in inside] == expected
    assert all(a.distance_m <= impact.radius_m for a in inside)
    everything = await affected(session, impact=impact, lon=lon, lat=lat, types=None)
    assert len(everything) >= len(inside)
