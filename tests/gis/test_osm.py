"""import-osm: facilities, boundaries (complete ones kept, incomplete ones named), roads, demo units; idempotent."""

from __future__ import annotations

import bz2
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid
from core.events import Event
from gis import service
from gis.io.osm import maxspeed_kmh, oneway, read_extract
from gis.io.osm_import import import_osm
from gis.models import Jurisdiction, Resource, RoadWay
from gis.schemas import OsmReport
from tests.gis.conftest import MINI_CITY, chengdu_dir


def test_reads_the_mini_city() -> None:
    extract = read_extract(MINI_CITY)
    by_id = {f.osm_id: f for f in extract.facilities}
    assert {f.type for f in extract.facilities} == {"hospital", "fire_station", "police_station", "school", "shelter"}
    assert "node/39" not in by_id, "a bus shelter is not an emergency shelter"
    shelter = by_id["node/38"]
    assert (shelter.name_zh, shelter.name_en, shelter.capacity) == (
        "中央广场避难场所",
        "Central Square Shelter",
        {"places": 2000},
    )
    building = by_id["way/16"]  # a hospital drawn as a closed way sits at its centroid
    assert (
        building.type == "hospital" and building.lon == pytest.approx(100.013) and building.lat == pytest.approx(10.013)
    )
    roads = {r.osm_id: r for r in extract.roads}
    assert set(roads) == {10, 11, 12, 13, 14}, "footways and rivers are not roads"
    assert roads[11].oneway == 1 and roads[10].oneway == 0
    assert roads[13].tags["bridge"] == "yes" and roads[13].maxspeed == 48
    assert [b.name for b in extract.boundaries] == ["迷你区"]
    assert len(extract.incomplete) == 1 and "缺失街道" in extract.incomplete[0] and "missing" in extract.incomplete[0]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [({"oneway": "yes"}, 1), ({"oneway": "-1"}, -1), ({"junction": "roundabout"}, 1), ({"highway": "motorway"}, 1),
     ({"highway": "motorway", "oneway": "no"}, 0), ({}, 0)],
)  # fmt: skip
def test_oneway(tags: dict[str, str], expected: int) -> None:
    assert oneway(tags) == expected


def test_maxspeed() -> None:
    assert [maxspeed_kmh(v) for v in ("60", "50 km/h", "30 mph", "signals", None)] == [60, 50, 48, None, None]


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.osm.pbf"
    broken.write_bytes(MINI_CITY.read_bytes()[:10])
    with pytest.raises(Invalid, match="cannot read"):
        read_extract(broken)
    with pytest.raises(Invalid, match="no such file"):
        read_extract(tmp_path / "absent.osm")


async def test_import_is_idempotent_and_places_demo_units(session: AsyncSession, mini_city: OsmReport) -> None:
    assert mini_city.facilities == {"hospital": 2, "fire_station": 1, "police_station": 1, "school": 1, "shelter": 1}
    assert mini_city.jurisdictions == 1 and mini_city.roads == 5
    # 2 engines + 1 ladder + 1 rescue + 1 hazmat; 2 ambulances + 1 medical team x 2 hospitals; 2 police + 1 swat.
    assert mini_city.demo_units == 5 + 6 + 3
    before = await session.scalar(select(func.count()).select_from(Resource))
    again = await import_osm(session, path=MINI_CITY, demo_units=True)
    assert again.demo_units == mini_city.demo_units
    assert await session.scalar(select(func.count()).select_from(Resource)) == before
    assert await session.scalar(select(func.max(Resource.version))) == 1, "an unchanged re-import changes nothing"
    engine = await session.scalar(select(Resource).where(Resource.type == "fire_engine").limit(1))
    assert engine is not None and engine.status == "available" and engine.source == "demo"
    assert engine.name_zh is not None and "演示" in engine.name_zh and "DEMO" in engine.name
    station = await service.get_resource(session, resource_id=engine.home_station_id or 0)
    assert station.type == "fire_station" and station.name_en == "Mini Fire Station"
    place = await service.jurisdiction_containing(session, lon=100.01, lat=10.01)
    assert place is not None and place.name == "迷你区" and place.admin_level == 6
    bridge = await session.get(RoadWay, 13)
    assert bridge is not None and bridge.tags["bridge"] == "yes"
    await session.commit()  # the unit of work writes its events as it commits
    events = await session.scalar(select(func.count()).select_from(Event).where(Event.type == "layer.imported"))
    assert events == 2


@pytest.mark.shared_data
async def test_chengdu_extract_pbf_and_bz2(session: AsyncSession, tmp_path: Path) -> None:
    folder = chengdu_dir()
    report = await import_osm(session, path=folder / "chengdu_core_2018.osm.pbf")
    counts = dict((await session.execute(select(Resource.type, func.count()).group_by(Resource.type))).all())
    assert counts["hospital"] >= 20 and counts["fire_station"] >= 3 and counts["police_station"] >= 9
    assert report.roads > 1800
    # The extract's district boundaries are truncated: every one is reported by name and none is loaded.
    assert any("金牛区" in line for line in report.incomplete_boundaries)
    assert await session.scalar(select(func.count()).select_from(Jurisdiction)) == 0
    # The same data as OSM XML compressed with bzip2 updates the same rows instead of adding copies.
    plain = tmp_path / "chengdu.osm.bz2"
    shutil.copy(folder / "chengdu_core_2018.osm.bz2", plain)
    with bz2.open(plain) as fh:
        assert fh.read(5) == b"<?xml"
    again = await import_osm(session, path=plain)
    assert again.facilities == report.facilities
    total = await session.scalar(select(func.count()).select_from(Resource))
    assert total == sum(report.facilities.values())
