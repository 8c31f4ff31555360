"""Large loads into a small table: indexes and foreign keys set aside during the load and made again after it,
the same as before, inside the import's transaction; a busy table falls back to loading row by row."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import Point
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.errors import Invalid
from gis.io import load, resource_rows, transfer
from gis.io.files import ZipLimits
from gis.io.resource_rows import point_ewkb
from gis.io.transfer import import_layer
from gis.schemas import LayerKind

BULK_NOTE = "loaded in bulk"

_SCHEMA = text("""
SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'resource'::regclass
UNION ALL
SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'resource'::regclass
ORDER BY 1
""")


async def _schema(session: AsyncSession) -> list[str]:
    return list((await session.scalars(_SCHEMA)).all())


def _stations(path: Path, count: int, *, name: str = "Station") -> Path:
    frame = gpd.GeoDataFrame(
        {
            "type": ["fire_engine" if i % 2 else "hospital" for i in range(count)],
            "name": [f"{name} {i}" for i in range(count)],
            "external_id": [f"st-{i}" for i in range(count)],
        },
        geometry=[Point(104.0 + i / 1000, 30.6) for i in range(count)],
        crs="EPSG:4326",
    )
    frame.to_file(path, driver="GeoJSON")
    return path


@pytest.fixture
async def empty_registry(session: AsyncSession, monkeypatch: pytest.MonkeyPatch) -> None:
    """No resources (inside the test's transaction), and 'large' meaning 4 rows or more."""
    await session.execute(text("DELETE FROM resource"))
    monkeypatch.setattr(load, "BULK_ROWS", 4)


async def test_bulk_load_rebuilds_the_same_indexes_and_constraints(
    session: AsyncSession, tmp_path: Path, limits: ZipLimits, empty_registry: None
) -> None:
    before = await _schema(session)
    assert any("USING gist" in line for line in before) and any("FOREIGN KEY (type)" in line for line in before)
    report = await import_layer(
        session, path=_stations(tmp_path / "s.geojson", 6), kind=LayerKind.resources, limits=limits
    )
    assert report.imported == 6 and any(BULK_NOTE in note for note in report.notes), report.notes
    assert await _schema(session) == before
    assert await session.scalar(text("SELECT count(*) FROM resource")) == 6
    # The constraints made again still hold: an unknown type and a repeated external id are refused.
    for bad in (
        "INSERT INTO resource (type, name, location) VALUES ('spaceship', 'x', 'SRID=4326;POINT(104 30)')",
        "INSERT INTO resource (type, name, location, source, external_id) "
        "SELECT type, name, location, source, external_id FROM resource LIMIT 1",
    ):
        savepoint = await session.begin_nested()
        with pytest.raises(IntegrityError):
            await session.execute(text(bad))
        await savepoint.rollback()


async def test_bulk_load_rolled_back_leaves_table_and_schema_as_they_were(
    session: AsyncSession, tmp_path: Path, limits: ZipLimits, empty_registry: None
) -> None:
    before = await _schema(session)
    savepoint = await session.begin_nested()
    report = await import_layer(
        session, path=_stations(tmp_path / "s.geojson", 5), kind=LayerKind.resources, limits=limits
    )
    assert any(BULK_NOTE in note for note in report.notes)
    await savepoint.rollback()
    assert await session.scalar(text("SELECT count(*) FROM resource")) == 0
    assert await _schema(session) == before


async def test_reimport_into_a_small_table_updates_in_bulk(
    session: AsyncSession, tmp_path: Path, limits: ZipLimits, empty_registry: None
) -> None:
    path = _stations(tmp_path / "s.geojson", 6)
    await import_layer(session, path=path, kind=LayerKind.resources, limits=limits)
    renamed = _stations(tmp_path / "s2.geojson", 6, name="Renamed")
    report = await import_layer(session, path=renamed, kind=LayerKind.resources, limits=limits, name="s.geojson")
    assert any(BULK_NOTE in note for note in report.notes)
    assert "0 added, 6 updated, 0 unchanged" in report.notes
    names = set((await session.scalars(text("SELECT name FROM resource"))).all())
    assert names == {f"Renamed {i}" for i in range(6)}


async def test_a_busy_table_is_loaded_row_by_row_instead_of_waiting(
    session: AsyncSession,
    engine: AsyncEngine,
    tmp_path: Path,
    limits: ZipLimits,
    empty_registry: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(load, "BULK_LOCK_TIMEOUT_MS", 200)
    async with engine.connect() as reader:
        await reader.execute(text("SELECT count(*) FROM resource"))  # an open read: it holds the table
        report = await import_layer(
            session, path=_stations(tmp_path / "s.geojson", 6), kind=LayerKind.resources, limits=limits
        )
        assert report.imported == 6 and not any(BULK_NOTE in note for note in report.notes)
        assert (await reader.execute(text("SELECT 1"))).scalar() == 1, "the reader was never blocked or broken"
        await reader.rollback()
    assert await session.scalar(text("SELECT count(*) FROM resource")) == 6


def _mixed(path: Path) -> Path:
    """Units and facilities with what a real file has: a sparse extra column, capacity, names, a polygon."""
    frame = gpd.GeoDataFrame(
        {
            "type": ["ambulance", "hospital", "shelter", "ambulance", "fire_engine"],
            "name": ["Amb 1", "华西医院", "Square", "Amb 2", "Engine 7"],
            "name_en": [None, "West China Hospital", None, None, None],
            "status": ["en_route", None, None, None, "available"],
            "beds": [None, 4300, None, None, None],
            "radio": ["ch-3", None, None, "ch-4", None],  # sparse: no null field stored where it is empty
        },
        geometry=[
            Point(104.01, 30.61),
            Point(104.0635, 30.6418),
            Point(104.06, 30.65).buffer(0.001),  # placed at its centroid
            Point(104.02, 30.62),
            Point(104.03, 30.63),
        ],
        crs="EPSG:4326",
    )
    frame.to_file(path, driver="GeoJSON")
    return path


_ROWS = text("""
SELECT type, name, name_zh, name_en, status, capacity, properties, agency, source, external_id, version,
       ST_SRID(location), ST_AsText(location)
FROM resource ORDER BY id
""")


async def test_a_first_load_copied_straight_in_equals_a_staged_load(
    session: AsyncSession, tmp_path: Path, limits: ZipLimits, empty_registry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _mixed(tmp_path / "mixed.geojson")
    direct = await import_layer(session, path=path, kind=LayerKind.resources, limits=limits)
    assert any(BULK_NOTE in note for note in direct.notes) and direct.imported == 5, direct.notes
    copied = (await session.execute(_ROWS)).all()
    # The binary geometry codec set for the COPY did not outlive it: geometry reads back as the driver gives it.
    located = await session.scalar(text("SELECT location FROM resource ORDER BY id LIMIT 1"))
    assert isinstance(located, str) and located.startswith("0101000020E6100000"), located
    await session.execute(text("DELETE FROM resource"))
    monkeypatch.setattr(load, "BULK_ROWS", 1000)  # now the staging table and the INSERT ... SELECT
    staged = await import_layer(session, path=path, kind=LayerKind.resources, limits=limits)
    assert not any(BULK_NOTE in note for note in staged.notes)
    assert (await session.execute(_ROWS)).all() == copied
    assert [row[1] for row in copied] == ["Amb 1", "华西医院", "Square", "Amb 2", "Engine 7"], "ids in file order"
    assert all(row[11] == 4326 for row in copied)
    assert copied[0][6] == {"radio": "ch-3"} and copied[2][6] == {}, "no null fields kept"
    assert copied[1][5] == {"beds": 4300} and copied[0][4] == "en_route"


def test_point_ewkb_is_what_shapely_writes_with_an_srid() -> None:
    points = shapely.points([104.06, -0.5, 179.999999], [30.66, 51.4778, -89.9])
    expected = shapely.to_wkb(shapely.set_srid(points, 4326), include_srid=True, output_dimension=2, byte_order=1)
    assert list(point_ewkb(points)) == list(expected)
    mixed = np.array([shapely.Point(1, 2), shapely.LineString([(0, 0), (1, 1)])], dtype=object)
    assert shapely.get_srid(shapely.from_wkb(point_ewkb(mixed))).tolist() == [4326, 4326]  # the general way


async def test_rows_made_in_chunks_are_judged_as_one_file(
    session: AsyncSession, tmp_path: Path, limits: ZipLimits, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of two rows: a repeat of an earlier chunk's external id, an unknown home station and a bad type in
    later chunks are all reported; the centroid note counts the whole file once; rows load in file order."""
    monkeypatch.setattr(transfer, "CHUNK", 2)
    frame = gpd.GeoDataFrame(
        {
            "type": ["hospital", "fire_engine", "spaceship", "hospital", "ambulance", "shelter", "school"],
            "name": [f"R{i}" for i in range(1, 8)],
            "external_id": ["a", "b", "c", "a", "e", "f", "g"],
            "home_station_id": [None, None, None, None, 999_999_999, None, None],
        },
        geometry=[Point(104.0 + i / 100, 30.6) for i in range(6)] + [Point(104.1, 30.7).buffer(0.001)],
        crs="EPSG:4326",
    )
    path = tmp_path / "chunked.geojson"
    frame.to_file(path, driver="GeoJSON")
    report = await import_layer(session, path=path, kind=LayerKind.resources, limits=limits)
    assert [(p.row, p.reason) for p in report.rejected] == [
        (3, "unknown type 'spaceship'"),
        (4, "external id 'a' repeats row 1"),
        (5, "home station 999999999 does not exist"),
    ]
    assert report.imported == 4 and "1 non-point geometries placed at their centroid" in report.notes
    names = (
        await session.scalars(text("SELECT name FROM resource WHERE source = 'import:chunked.geojson' ORDER BY id"))
    ).all()
    assert list(names) == ["R1", "R2", "R6", "R7"]


async def test_a_refused_file_leaves_nothing_even_if_the_caller_commits(
    session: AsyncSession, tmp_path: Path, limits: ZipLimits, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "CHUNK", 2)
    before = await session.scalar(text("SELECT count(*) FROM resource"))
    path = _stations(tmp_path / "s.geojson", 5)
    frame = gpd.read_file(path)
    frame.loc[4, "type"] = "spaceship"  # the last chunk's row: the first chunks are loaded by then
    frame.to_file(path, driver="GeoJSON")
    with pytest.raises(Invalid, match="nothing was loaded"):
        await import_layer(session, path=path, kind=LayerKind.resources, limits=limits, strict=True)
    await session.commit()
    assert await session.scalar(text("SELECT count(*) FROM resource")) == before


@pytest.mark.parametrize("straight_in", [True, False], ids=["copied-straight-in", "staged"])
async def test_a_failure_while_the_copy_streams_leaves_nothing_and_the_session_usable(
    session: AsyncSession,
    tmp_path: Path,
    limits: ZipLimits,
    monkeypatch: pytest.MonkeyPatch,
    straight_in: bool,
) -> None:
    """The rows stream into one COPY while later chunks are made; a chunk that cannot be made aborts the COPY
    (asyncpg sends CopyFail), the import's savepoint takes back what was sent, and the session goes on."""
    if straight_in:
        await session.execute(text("DELETE FROM resource"))
        monkeypatch.setattr(load, "BULK_ROWS", 4)
    before = await session.scalar(text("SELECT count(*) FROM resource"))
    monkeypatch.setattr(transfer, "CHUNK", 2)
    made = 0
    real = resource_rows._rows

    def failing(*args: object, **kwargs: object) -> object:
        nonlocal made
        made += 1
        if made == 3:
            raise RuntimeError("disk gone while reading the file")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(resource_rows, "_rows", failing)
    path = _stations(tmp_path / "s.geojson", 8)
    with pytest.raises(RuntimeError, match="disk gone"):
        await import_layer(session, path=path, kind=LayerKind.resources, limits=limits)
    assert made == 3
    assert await session.scalar(text("SELECT count(*) FROM resource")) == before
    report = await import_layer(session, path=path, kind=LayerKind.resources, limits=limits)  # the rules mended
    assert report.imported == 8 and await session.scalar(text("SELECT count(*) FROM resource")) == before + 8


async def test_a_file_larger_than_one_gdal_batch_loads_whole_and_in_order(
    session: AsyncSession, tmp_path: Path, limits: ZipLimits
) -> None:
    """GDAL hands a file over in Arrow batches of 65,536 rows, and pandas keeps the columns chunked as read: the
    rules and the COPY must see one file (a chunked column once broke the import where no test looked)."""
    count = 70_000
    await session.execute(text("DELETE FROM resource"))
    frame = gpd.GeoDataFrame(
        {
            "type": ["hospital"] * count,
            "name": [f"H{i}" for i in range(count)],
            "external_id": [f"h-{i}" for i in range(count)],
        },
        geometry=shapely.points(np.linspace(103.9, 104.2, count), np.full(count, 30.6)),
        crs="EPSG:4326",
    )
    path = tmp_path / "large.gpkg"
    frame.to_file(path, driver="GPKG", layer="hospitals")
    report = await import_layer(session, path=path, kind=LayerKind.resources, limits=limits)
    assert report.imported == count and not report.rejected and any(BULK_NOTE in n for n in report.notes)
    first, last, total, ordered = (
        await session.execute(
            text("""SELECT min(name) FILTER (WHERE external_id = 'h-0'),
                    min(name) FILTER (WHERE external_id = 'h-69999'), count(*),
                    bool_and(external_id = 'h-' || (rank - 1))
                FROM (SELECT name, external_id, rank() OVER (ORDER BY id) FROM resource) AS r""")
        )
    ).one()
    assert (first, last, total, ordered) == ("H0", "H69999", count, True)
