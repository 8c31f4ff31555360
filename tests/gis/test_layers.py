"""Layer import/export: every format, any CRS, bad rows reported one by one, repairs, bad files, zip bombs."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point, Polygon
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid, TooLarge
from core.events import Event
from gis import service
from gis.io.files import ZipLimits
from gis.io.transfer import export_layer, import_layer
from gis.models import HazardZone, Jurisdiction, Resource
from gis.schemas import ExportFormat, Layer, LayerKind
from tests.gis.conftest import chengdu_dir, shared_file


def _resources_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "type": ["hospital", "fire_station", None, "spaceship", "ambulance", "shelter"],
            "name": ["华西医院", "Station 1", "no type", "unknown type", "Ambulance 7", "Park shelter"],
            "name_en": ["West China Hospital", None, None, None, None, "Park shelter"],
            "beds": [4300, None, None, None, None, None],
            "places": [None, None, None, None, None, 1500],
            "ward": ["A", "B", "C", "D", "E", "F"],
        },
        geometry=[Point(104.0614, 30.6425), Point(104.07, 30.66), Point(104.0, 30.6), Point(104.0, 30.6),
                  Point(104.08, 30.67), Point(104.05, 30.70)],
        crs="EPSG:4326",
    )  # fmt: skip


async def _import(session: AsyncSession, path: Path, kind: LayerKind, limits: ZipLimits, **kw: Any) -> Any:
    return await import_layer(session, path=path, kind=kind, limits=limits, **kw)


async def test_geojson_with_bad_rows_reported_row_by_row(
    session: AsyncSession, tmp_path: Path, limits: ZipLimits
) -> None:
    path = tmp_path / "resources.geojson"
    _resources_frame().to_file(path, driver="GeoJSON")
    report = await _import(session, path, LayerKind.resources, limits)
    assert report.imported == 4
    assert [(p.row, p.reason) for p in report.rejected] == [(3, "missing type"), (4, "unknown type 'spaceship'")]
    hits, total, _ = await service.list_resources(session, type="hospital")
    assert total == 1
    hospital = hits[0].resource
    assert hospital["capacity"] == {"beds": 4300} and hospital["name_en"] == "West China Hospital"
    assert hospital["properties"] == {"ward": "A"} and hospital["source"] == "import:resources.geojson"
    ambulance = (await service.list_resources(session, type="ambulance")).hits[0].resource
    assert ambulance["status"] == "available", "a unit without a status starts available"
    await session.commit()  # the unit of work writes its events as it commits
    event = await session.scalar(select(Event).where(Event.type == "layer.imported").order_by(Event.id.desc()))
    assert event is not None and event.data["imported"] == 4 and event.data["rejected"] == 2


async def test_csv_lon_lat_with_swapped_and_out_of_range_rows(
    session: AsyncSession, tmp_path: Path, limits: ZipLimits
) -> None:
    path = tmp_path / "units.csv"
    path.write_text(
        "type,name,lon,lat,status\n"
        "ambulance,A1,104.06,30.66,\n"
        "ambulance,A2,30.66,104.06,\n"  # written lat, lon
        "ambulance,A3,500,30,\n"
        "ambulance,A4,abc,30,\n"
        "ambulance,A5,104.07,30.67,flying\n"
        "fire_station,F1,104.07,30.67,available\n",
        encoding="utf-8",
    )
    report = await _import(session, path, LayerKind.resources, limits)
    assert report.imported == 1
    reasons = {p.row: p.reason for p in report.rejected}
    assert "swapped (lat/lon)" in reasons[2]
    assert "out of range" in reasons[3]
    assert reasons[4] == "missing geometry (no coordinates)"
    assert reasons[5] == "unknown status 'flying'"
    assert "facility and has no status" in reasons[6]


async def test_zipped_shapefile_in_utm_is_reprojected(session: AsyncSession, tmp_path: Path, limits: ZipLimits) -> None:
    frame = _resources_frame().iloc[[0, 1]].to_crs("EPSG:32648")  # UTM zone 48N, metres
    folder = tmp_path / "shp"
    folder.mkdir()
    frame.to_file(folder / "stations.shp")
    archive = tmp_path / "stations.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in folder.iterdir():
            zf.write(part, part.name)
    report = await _import(session, archive, LayerKind.resources, limits)
    assert report.imported == 2 and not report.rejected
    assert any("reprojected from" in note and "32648" in note for note in report.notes)
    hits = (await service.list_resources(session, type="hospital")).hits
    hospital = hits[0].resource
    assert hospital["lon"] == pytest.approx(104.0614, abs=1e-6) and hospital["lat"] == pytest.approx(30.6425, abs=1e-6)


async def test_self_intersecting_polygon_is_repaired_and_reported(
    session: AsyncSession, tmp_path: Path, limits: ZipLimits
) -> None:
    bowtie = Polygon([(100.0, 10.0), (100.02, 10.02), (100.02, 10.0), (100.0, 10.02), (100.0, 10.0)])
    square = Polygon([(99.9, 9.9), (100.1, 9.9), (100.1, 10.1), (99.9, 10.1)])
    frame = gpd.GeoDataFrame(
        {"name": ["Bowtie ward", "Outer county", "A road"], "admin_level": [8, 6, 8]},
        geometry=[bowtie, square, LineString([(100, 10), (100.1, 10.1)])],
        crs="EPSG:4326",
    )
    path = tmp_path / "wards.gpkg"
    frame.to_file(path, driver="GPKG")
    report = await _import(session, path, LayerKind.jurisdictions, limits)
    assert report.imported == 2
    assert [p.row for p in report.repaired] == [1] and "Self-intersection" in report.repaired[0].reason
    assert [(p.row, p.reason) for p in report.rejected] == [(3, "a jurisdiction must be a polygon (got LineString)")]
    # Nested areas: the smaller (the repaired ward) answers for a point inside both.
    inner = await service.jurisdiction_containing(session, lon=100.005, lat=10.01)
    assert inner is not None and inner.name == "Bowtie ward"
    outer = await service.jurisdiction_containing(session, lon=100.05, lat=10.05)
    assert outer is not None and outer.name == "Outer county"


async def test_hazard_zone_lines_need_a_buffer_and_cover_their_band(
    session: AsyncSession, tmp_path: Path, limits: ZipLimits
) -> None:
    fault = LineString([(100.0, 10.0), (100.1, 10.0)])
    path = tmp_path / "faults.geojson"
    gpd.GeoDataFrame({"name": ["F1"]}, geometry=[fault], crs="EPSG:4326").to_file(path, driver="GeoJSON")
    with pytest.raises(Invalid, match="needs buffer_m"):
        await _import(session, path, LayerKind.hazard_zones, limits, zone_kind="active_fault")
    report = await _import(session, path, LayerKind.hazard_zones, limits, zone_kind="active_fault", buffer_m=1000)
    assert report.imported == 1
    near = await service.zones_containing(session, lon=100.05, lat=10.005)  # about 550 m from the trace
    far = await service.zones_containing(session, lon=100.05, lat=10.02)  # about 2.2 km away
    assert [z.kind for z in near] == ["active_fault"] and far == []
    await service.create_resource(session, data=_hospital_at(100.05, 10.003))
    inside = await service.resources_in_zone(session, zone_id=near[0].id, types="hospital")
    assert [r.name for r in inside] == ["Zone hospital"]


def _hospital_at(lon: float, lat: float) -> Any:
    from core.geojson import Point as GeoPoint
    from gis.schemas import ResourceIn

    return ResourceIn(type="hospital", name="Zone hospital", location=GeoPoint.of(lon, lat))


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "empty.geojson", "is empty"),
        (b"\x00\x01binary junk", "junk.bin", "unknown format"),
        (b'{"type": "FeatureCollection", "features": [{"type": "Feat', "cut.geojson", "cannot read"),
        (b"SQLite format 3\x00" + b"\x00" * 50, "cut.gpkg", "cannot read"),
        (b"PK\x03\x04broken", "cut.zip", "not a readable zip"),
        (b"name,value\nx,1\n", "nocoords.csv", "needs lon and lat"),
    ],
)
async def test_bad_files_are_clear_errors_and_load_nothing(
    session: AsyncSession, tmp_path: Path, limits: ZipLimits, content: bytes, name: str, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    before = await _count(session, Resource)
    with pytest.raises(Invalid, match=message):
        await _import(session, path, LayerKind.resources, limits)
    assert await _count(session, Resource) == before


async def test_zip_bomb_is_refused_before_expanding(session: AsyncSession, tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("layer.shp", b"\x00" * 5_000_000)
    with pytest.raises(TooLarge, match="expands"):
        await _import(session, archive, LayerKind.resources, ZipLimits(max_total_bytes=10**9, max_ratio=100))
    with pytest.raises(TooLarge, match="would expand"):
        await _import(session, archive, LayerKind.resources, ZipLimits(max_total_bytes=1_000_000, max_ratio=10**6))


async def test_strict_refuses_the_whole_file(session: AsyncSession, tmp_path: Path, limits: ZipLimits) -> None:
    path = tmp_path / "resources.geojson"
    _resources_frame().to_file(path, driver="GeoJSON")
    before = await _count(session, Resource)
    with pytest.raises(Invalid, match="nothing was loaded") as caught:
        await _import(session, path, LayerKind.resources, limits, strict=True)
    assert len(caught.value.extra["report"]["rejected"]) == 2
    assert await _count(session, Resource) == before


async def _count(session: AsyncSession, model: Any) -> int:
    """Rows of a table as this test's transaction sees them: compared before and after, never to a fixed total."""
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def _comparable(path: Path) -> list[dict[str, Any]]:
    frame = gpd.read_file(path)
    drop = {"id", "created_at", "updated_at", "version", "source", "area_m2"}
    rows = []
    for record, geom in zip(frame.drop(columns="geometry").to_dict("records"), frame.geometry, strict=True):
        clean = {k: v for k, v in record.items() if k not in drop and v is not None and v == v}
        clean["wkt"] = geom.wkt
        rows.append(clean)
    return sorted(rows, key=json.dumps)


@pytest.mark.parametrize("fmt", [ExportFormat.geojson, ExportFormat.gpkg])
async def test_export_then_import_round_trip(
    session: AsyncSession, tmp_path: Path, limits: ZipLimits, fmt: ExportFormat
) -> None:
    source = tmp_path / "resources.geojson"
    _resources_frame().to_file(source, driver="GeoJSON")
    await _import(session, source, LayerKind.resources, limits)
    first = await export_layer(session, layer=Layer.resources, format=fmt, directory=tmp_path)
    expected = _comparable(first)
    await session.execute(delete(Resource))
    renamed = first.rename(tmp_path / f"again{first.suffix}")
    await _import(session, renamed, LayerKind.resources, limits)
    (tmp_path / "second").mkdir()
    second = await export_layer(session, layer=Layer.resources, format=fmt, directory=tmp_path / "second")
    assert _comparable(second) == expected and len(expected) == 4


@pytest.mark.shared_data
async def test_chengdu_districts_and_faults(session: AsyncSession, limits: ZipLimits) -> None:
    folder = chengdu_dir()
    faults = shared_file("hazards/gem_faults_chengdu_region.geojson")
    zones_before, districts_before = await _count(session, HazardZone), await _count(session, Jurisdiction)
    districts = await _import(
        session, folder / "chengdu_core_districts_clipped.geojson", LayerKind.jurisdictions, limits
    )
    assert districts.imported == 5 and not districts.rejected
    place = await service.jurisdiction_containing(session, lon=104.0614, lat=30.6880)
    assert place is not None and "金牛区" in place.name
    zones = await _import(session, faults, LayerKind.hazard_zones, limits, zone_kind="active_fault", buffer_m=2000)
    assert zones.imported == 4
    assert await _count(session, HazardZone) == zones_before + 4
    again = await _import(session, folder / "chengdu_core_districts_clipped.geojson", LayerKind.jurisdictions, limits)
    assert again.imported == 5
    assert await _count(session, Jurisdiction) == districts_before + 5, "a re-import updates in place"
