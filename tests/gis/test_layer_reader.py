"""The layer reader process (gis.io.read_process, gis.io.layer_reader) and the checks before GDAL (gis.io.files,
gis.io.geopackage): limits of rows, time and memory; a reader killed, crashed or abandoned; GDAL left with one driver
and no network file system; the same frame pyogrio would have made; zips and GeoPackages that try to escape."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely.geometry import Point, Polygon
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid, TooLarge
from core.settings import Settings
from gis.io.files import LayerFormat, ZipLimits, clean_name, extract_layer, sniff_format
from gis.io.geopackage import feature_table
from gis.io.layers import read_layer
from gis.io.read_process import SERVER, ReadLimits
from gis.io.transfer import import_layer, read_limits
from gis.models import HazardZone
from gis.schemas import ImportLimits, LayerKind
from tests.gis.conftest import reader_pids, wait_for

ROOT = Path(__file__).resolve().parents[2]
SQUARE = Polygon([(104.0, 30.0), (104.01, 30.0), (104.01, 30.01), (104.0, 30.01)])


def _fifo(tmp_path: Path) -> Path:
    """A named pipe no one writes to: a reader that opens it waits for ever (a read that never ends, for sure)."""
    path = tmp_path / "never.geojson"
    os.mkfifo(path)
    return path


async def _import_zones(session: AsyncSession, path: Path, limits: ZipLimits, **kw: object) -> object:
    return await import_layer(session, path=path, kind=LayerKind.hazard_zones, limits=limits, zone_kind="flood", **kw)


async def test_a_read_past_the_time_limit_is_killed_and_a_clear_422(
    session: AsyncSession, tmp_path: Path, limits: ZipLimits
) -> None:
    with pytest.raises(Invalid, match=r"took longer than 0.5 s to read and was stopped"):
        await _import_zones(session, _fifo(tmp_path), limits, read_limits=ReadLimits(max_seconds=0.5))
    await wait_for(lambda: not reader_pids(), what="end of the reader")
    assert await session.scalar(select(func.count()).select_from(HazardZone)) == 0


async def test_a_reader_that_dies_is_a_clear_422(
    session: AsyncSession, tmp_path: Path, limits: ZipLimits, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMMANDPOST_SECRET_KEY", "not-for-readers")
    SERVER.stop()  # started again by the import, from this environment
    importing = asyncio.create_task(_import_zones(session, _fifo(tmp_path), limits))
    (pid,) = await wait_for(reader_pids, what="reader process")
    assert pid != os.getpid()
    assert b"not-for-readers" not in Path(f"/proc/{pid}/environ").read_bytes()
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(Invalid, match="could not be read: the reader stopped without an answer"):
        await importing


async def test_a_cancelled_import_kills_its_reader(session: AsyncSession, tmp_path: Path, limits: ZipLimits) -> None:
    importing = asyncio.create_task(_import_zones(session, _fifo(tmp_path), limits))
    (pid,) = await wait_for(reader_pids, what="reader process")
    importing.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await importing
    await wait_for(lambda: pid not in reader_pids(), what="end of the cancelled import's reader")


async def test_a_reader_past_its_memory_is_a_4xx(tmp_path: Path, limits: ZipLimits) -> None:
    count = 100_000
    frame = gpd.GeoDataFrame(
        {"name": [f"n{i}" for i in range(count)]}, geometry=shapely.points(np.full(count, 104.0), np.full(count, 30.0))
    )
    frame.set_crs("EPSG:4326").to_file(tmp_path / "big.gpkg", driver="GPKG")
    with pytest.raises((TooLarge, Invalid), match="256 MB allowed"):
        await read_layer(tmp_path / "big.gpkg", zip_limits=limits, limits=ReadLimits(max_memory_mb=256))


def _points(count: int) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": [f"Shelter {i}" for i in range(count)], "type": ["shelter"] * count},
        geometry=[Point(104.0, 30.0 + i / 1e4) for i in range(count)],
        crs="EPSG:4326",
    )


def _write(frame: gpd.GeoDataFrame, tmp_path: Path, fmt: str) -> Path:
    if fmt == "csv":
        path = tmp_path / "points.csv"
        table = pd.DataFrame({"name": frame["name"], "lon": frame.geometry.x, "lat": frame.geometry.y})
        table.to_csv(path, index=False)
        return path
    if fmt == "shapefile_zip":
        (tmp_path / "shp").mkdir(exist_ok=True)
        frame.to_file(tmp_path / "shp" / "points.shp")
        path = tmp_path / "points.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for part in (tmp_path / "shp").iterdir():
                archive.write(part, part.name)
        return path
    path = tmp_path / f"points.{fmt}"
    frame.to_file(path, driver="GeoJSON" if fmt == "geojson" else "GPKG")
    return path


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shapefile_zip", "csv"])
async def test_the_row_limit_holds_for_every_format(tmp_path: Path, limits: ZipLimits, fmt: str) -> None:
    path = _write(_points(6), tmp_path, fmt)
    with pytest.raises(TooLarge, match="more than the 5 rows allowed"):
        await read_layer(path, zip_limits=limits, limits=ReadLimits(max_rows=5))
    frame, _ = await read_layer(path, zip_limits=limits, limits=ReadLimits(max_rows=6))
    assert list(frame["name"]) == [f"Shelter {i}" for i in range(6)]


def test_read_limits_default_to_the_settings_defaults() -> None:
    defaults = Settings.model_construct()
    assert ImportLimits.of(defaults) == ImportLimits()
    assert read_limits(ImportLimits.of(defaults)) == ReadLimits()


def _rich() -> gpd.GeoDataFrame:
    """Columns of every kind a layer file has: text, integers and floats with gaps, booleans, dates, times with
    different offsets, mixed geometry with a gap."""
    return gpd.GeoDataFrame(
        {
            "name": ["a", None, "中文"],
            "count": pd.array([1, None, 3], dtype="Int64"),
            "ratio": [1.5, None, 2.0],
            "open": pd.array([True, False, None], dtype="boolean"),
            "day": pd.to_datetime(["2024-01-02", None, "2024-03-02"]).date,
            "when": ["2024-01-01T10:00:00+08:00", "2024-01-01T10:00:00+01:00", None],
        },
        geometry=[Point(104, 30), None, SQUARE],
        crs="EPSG:4326",
    )


@pytest.mark.parametrize("fmt", ["geojson", "gpkg"])
async def test_the_frame_is_the_one_pyogrio_would_make(tmp_path: Path, limits: ZipLimits, fmt: str) -> None:
    path = tmp_path / f"rich.{fmt}"
    frame = _rich()
    frame["when"] = pd.to_datetime(frame["when"], format="ISO8601", utc=True)
    frame.to_file(path, driver="GeoJSON" if fmt == "geojson" else "GPKG")
    if fmt == "geojson":  # nested objects: GDAL gives JSON text, pyogrio makes dicts of it
        data = json.loads(path.read_text())
        data["features"][0]["properties"]["nested"] = {"beds": 4}
        data["features"][0]["properties"]["when"] = "2024-01-01T10:00:00+08:00"
        path.write_text(json.dumps(data))
    ours, _ = await read_layer(path, zip_limits=limits)
    theirs = pyogrio.read_dataframe(path, use_arrow=True)
    pd.testing.assert_frame_equal(pd.DataFrame(ours), pd.DataFrame(theirs))
    assert ours.crs == theirs.crs


async def test_a_zipped_shapefile_reads_as_its_shp(tmp_path: Path, limits: ZipLimits) -> None:
    path = _write(_points(4).to_crs("EPSG:32648"), tmp_path, "shapefile_zip")
    ours, _ = await read_layer(path, zip_limits=limits)
    theirs = pyogrio.read_dataframe(tmp_path / "shp" / "points.shp", use_arrow=True)
    pd.testing.assert_frame_equal(pd.DataFrame(ours), pd.DataFrame(theirs))
    assert ours.crs == theirs.crs


_LOCKED_READ = """
import json, sys
import pyogrio
from gis.io.layer_reader import _gdal, only_driver
keep, good, vrt = json.loads(sys.argv[1])
drivers = only_driver(keep)
rows = pyogrio.read_arrow(good)[1].num_rows
try:
    pyogrio.read_arrow(vrt)
    vrt_read = True
except pyogrio.errors.DataSourceError:
    vrt_read = False
prefixes, found = _gdal().VSIGetFileSystemsPrefixes(), []
while prefixes[len(found)]:
    found.append(prefixes[len(found)].decode())
print(json.dumps([drivers, rows, vrt_read, pyogrio.list_drivers(), found]))
"""


@pytest.mark.parametrize(("keep", "suffix"), [("GPKG", "gpkg"), ("GeoJSON", "geojson"), ("ESRI Shapefile", "shp")])
def test_gdal_is_left_one_driver_and_no_network_file_system(tmp_path: Path, keep: str, suffix: str) -> None:
    """In a fresh process as in a reader: after the lock-down GDAL reads the one format, and a VRT not even after
    reading it, however the VRT is named; no virtual file system is left but /vsimem/."""
    good = tmp_path / f"good.{suffix}"
    _points(2).to_file(good)
    (tmp_path / "canary.csv").write_text("name,WKT\nsecret,POINT (1 2)\n")
    vrt = tmp_path / f"x.{suffix}" if suffix != "shp" else tmp_path / "x.vrt"
    vrt.write_text(f"<OGRVRTDataSource><OGRVRTLayer name='x'><SrcDataSource>{tmp_path / 'canary.csv'}"
                   "</SrcDataSource><SrcLayer>canary</SrcLayer></OGRVRTLayer></OGRVRTDataSource>")  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", _LOCKED_READ, json.dumps([keep, str(good), str(vrt)])],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
    )
    assert done.returncode == 0, done.stderr.decode()
    drivers, rows, vrt_read, listed, file_systems = json.loads(done.stdout)
    assert (drivers, rows, vrt_read, file_systems) == ([keep], 2, False, ["/vsimem/"])
    assert list(listed) == [keep], "a driver came back after a read"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("..", "upload"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\zones.geojson", "zones.geojson"),
        ("a\x00b\x1b.csv", "ab.csv"),
        ("", "upload"),
        (None, "upload"),
        ("x" * 300 + ".geojson", "x" * 92 + ".geojson"),
        ("区划.gpkg", "区划.gpkg"),
    ],
)
def test_clean_name(raw: str | None, shown: str) -> None:
    assert clean_name(raw) == shown


def test_a_zip_is_taken_out_under_our_names_only(tmp_path: Path, limits: ZipLimits) -> None:
    (tmp_path / "shp").mkdir()
    _points(2).to_file(tmp_path / "shp" / "x.shp")
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in (tmp_path / "shp").iterdir():
            zf.write(part, f"../../escape/{part.name}")
        zf.writestr("/abs/readme.txt", "ignored")
    into = tmp_path / "a" / "b" / "into"
    into.mkdir(parents=True)
    path, fmt = extract_layer(archive, into=into, limits=limits, name="evil.zip")
    assert (path, fmt) == (into / "layer.shp", LayerFormat.shapefile)
    assert sorted(p.name for p in into.iterdir()) == ["layer.cpg", "layer.dbf", "layer.prj", "layer.shp", "layer.shx"]
    assert not list(tmp_path.rglob("escape")) and not list(tmp_path.rglob("readme.txt"))


def test_a_zip_that_lies_about_its_sizes_is_refused(tmp_path: Path, limits: ZipLimits) -> None:
    (tmp_path / "shp").mkdir()
    _points(50).to_file(tmp_path / "shp" / "x.shp")
    archive = tmp_path / "liar.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in sorted((tmp_path / "shp").iterdir()):
            zf.write(part, part.name)
    data = bytearray(archive.read_bytes())
    for signature, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):  # every entry says it holds 10 bytes
        at = data.find(signature)
        while at != -1:
            data[at + offset : at + offset + 4] = (10).to_bytes(4, "little")
            at = data.find(signature, at + 4)
    archive.write_bytes(bytes(data))
    into = tmp_path / "into"
    into.mkdir()
    with pytest.raises(Invalid, match="cannot take .* out of the zip"):
        extract_layer(archive, into=into, limits=limits, name="liar.zip")


def test_a_sqlite_file_that_is_no_geopackage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.gpkg"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(Invalid, match="not a GeoPackage"):
        sniff_format(path)


def _gpkg(tmp_path: Path, *statements: str) -> Path:
    path = tmp_path / "layers.gpkg"
    gpd.GeoDataFrame({"name": ["a"]}, geometry=[SQUARE], crs="EPSG:4326").to_file(path, driver="GPKG", layer="zones")
    with sqlite3.connect(path) as db:
        for statement in statements:
            db.execute(statement)
    return path


LIST_LAYER = """INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id)
    VALUES ('{0}', 'attributes', '{0}', 0)"""


@pytest.mark.parametrize(
    ("statements", "refused"),
    [
        (["CREATE VIEW v AS SELECT * FROM zones", LIST_LAYER.format("v")], "layer 'v' is a view"),
        (
            [
                "PRAGMA writable_schema = ON",
                "INSERT INTO sqlite_master (type, name, tbl_name, rootpage, sql) VALUES ('table', 'passwd', "
                "'passwd', 0, 'CREATE VIRTUAL TABLE passwd USING VirtualOGR(''/etc/passwd'')')",
                LIST_LAYER.format("passwd"),
            ],
            "passwd is a virtual table using virtualogr",
        ),
        (
            ["ALTER TABLE gpkg_contents RENAME TO real_contents",
             "CREATE VIEW gpkg_contents AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
             "SELECT 'zones' AS table_name, 'features' AS data_type FROM n"],
            "gpkg_contents is a view",
        ),
        (
            ["CREATE TABLE g (fid INTEGER PRIMARY KEY, x, y AS (x || x))", LIST_LAYER.format("g"),
             "DELETE FROM gpkg_contents WHERE table_name = 'zones'"],
            "layer 'g' has generated columns",
        ),
        (["DELETE FROM gpkg_contents"], "lists no vector layer"),
    ],
    ids=["view", "virtual-table", "contents-view", "generated-column", "no-layer"],
)  # fmt: skip
def test_a_geopackage_that_computes_its_rows_is_refused(tmp_path: Path, statements: list[str], refused: str) -> None:
    with pytest.raises(Invalid, match=refused):
        feature_table(_gpkg(tmp_path, *statements), name="layers.gpkg")


def test_a_geopackage_with_several_tables_reads_the_first_feature_table(tmp_path: Path) -> None:
    path = _gpkg(tmp_path, "CREATE TABLE extra (fid INTEGER PRIMARY KEY, x)", LIST_LAYER.format("extra"))
    gpd.GeoDataFrame({"name": ["b"]}, geometry=[SQUARE], crs="EPSG:4326").to_file(path, driver="GPKG", layer="more")
    layer, notes = feature_table(path, name="layers.gpkg")
    assert layer == "zones" and notes == ["layers.gpkg holds 3 layers: the first, 'zones', was read"]
