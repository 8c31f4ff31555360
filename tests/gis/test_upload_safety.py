"""Layer uploads as an attacker sends them, over HTTP as a commander: files that point GDAL at server files or URLs
(an OGR VRT in every disguise), a GeoPackage whose layer is a recursive view, files past the limits, hostile file
names; and the web process's event loop free while a file is read and checked."""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import socket
import sqlite3
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import pyogrio
import pyogrio.raw
import pytest
from shapely.geometry import Polygon
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import AuditEntry
from core.settings import Settings
from gis.io import transfer
from tests.conftest import TokenFor
from web.state import state_of

IMPORT = "/api/v1/layers/hazard_zones/import"
SQUARE = Polygon([(104.0, 30.0), (104.01, 30.0), (104.01, 30.01), (104.0, 30.01)])
SHAPEFILE_CODE = b"\x00\x00\x27\x0a"


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _vrt(source: str) -> bytes:
    """An OGR VRT that reads ``source`` as polygons from a WKT column (what the issue's attack posted)."""
    return f"""<OGRVRTDataSource><OGRVRTLayer name="x">
    <SrcDataSource>{source}</SrcDataSource><SrcLayer>canary</SrcLayer>
    <GeometryType>wkbPolygon</GeometryType><GeometryField encoding="WKT" field="WKT"/>
    </OGRVRTLayer></OGRVRTDataSource>""".encode()


def _disguises(vrt: bytes) -> list[tuple[str, bytes]]:
    """The same VRT under every name and wrapping a layer upload can have."""
    return [
        ("x.zip", _zip({"x.shp": vrt})),
        ("x.zip", _zip({"x.shp": vrt, "x.shx": vrt, "x.dbf": vrt})),
        ("x.zip", _zip({"x.shp": SHAPEFILE_CODE + vrt, "x.shx": SHAPEFILE_CODE + vrt, "x.dbf": vrt})),
        ("x.zip", _zip({"x.geojson": vrt})),
        ("x.zip", _zip({"x.gpkg": vrt})),
        ("x.geojson", vrt),
        ("x.gpkg", vrt),
        ("x.csv", vrt),
        ("x.vrt", vrt),
        ("x.shp", vrt),
        ("x", vrt),
    ]


async def _post(client: httpx.AsyncClient, headers: dict[str, str], name: str, content: bytes) -> httpx.Response:
    files = {"file": (name, content, "application/octet-stream")}
    return await client.post(IMPORT, files=files, data={"zone_kind": "flood"}, headers=headers)


async def _zones(session: AsyncSession) -> int:
    return int(await session.scalar(text("SELECT count(*) FROM hazard_zone")) or 0)


def _zones_geojson(count: int) -> bytes:
    frame = gpd.GeoDataFrame(
        {"name": [f"zone {i}" for i in range(count)], "kind": ["flood"] * count},
        geometry=[SQUARE] * count,
        crs="EPSG:4326",
    )
    return frame.to_json().encode()


async def test_a_vrt_naming_a_server_file_reads_nothing_in_any_disguise(
    client: httpx.AsyncClient, token_for: TokenFor, session: AsyncSession, tmp_path: Path
) -> None:
    commander = await token_for("commander")
    secret = f"CANARY-{secrets.token_hex(8)}"
    canary = tmp_path / "canary.csv"
    canary.write_text(f'name,kind,WKT\n{secret},flood,"POLYGON((104 30,104.1 30,104.1 30.1,104 30.1,104 30))"\n')
    for name, content in _disguises(_vrt(f"CSV:{canary}")):
        answer = await _post(client, commander, name, content)
        assert 400 <= answer.status_code < 500, (name, answer.status_code, answer.text)
        assert answer.json()["error"] in ("invalid", "too_large") and secret not in answer.text, (name, answer.text)
    assert await _zones(session) == 0
    found = text("SELECT count(*) FROM hazard_zone z WHERE z::text LIKE :s")
    leaked = await session.scalar(found, {"s": f"%{secret}%"})
    assert leaked == 0
    observer = await token_for("observer")
    listed = await client.get("/api/v1/hazard-zones", headers=observer)
    assert listed.json()["total"] == 0 and secret not in listed.text


class Listener:
    """A TCP listener on a free local port that counts the connections it is offered (an import must make none)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.05)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def __enter__(self) -> Listener:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.server.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    with Listener() as running:
        yield running


def _network_files(url: str, tmp_path: Path) -> list[tuple[str, bytes]]:
    """Files that would have GDAL fetch ``url``: VRTs over /vsicurl/, CRSs given as links, a GeoPackage whose
    spatial reference is a URL, a Shapefile whose .prj is one."""
    vrt = _vrt(f"/vsicurl/{url}/canary.csv")
    linked = json.loads(_zones_geojson(1))
    linked["crs"] = {"type": "link", "properties": {"href": f"{url}/crs.wkt", "type": "ogcwkt"}}
    named = {**linked, "crs": {"type": "name", "properties": {"name": f"{url}/crs"}}}
    gpkg = tmp_path / "srs.gpkg"
    gpd.read_file(io.BytesIO(_zones_geojson(1))).to_file(gpkg, driver="GPKG", layer="zones")
    with sqlite3.connect(gpkg) as db:
        db.execute("UPDATE gpkg_spatial_ref_sys SET definition = ? WHERE srs_id = 4326", (f"/vsicurl/{url}/srs",))
    folder = tmp_path / "shp"
    folder.mkdir()
    gpd.read_file(io.BytesIO(_zones_geojson(1))).to_file(folder / "zones.shp")
    (folder / "zones.prj").write_text(f"{url}/zones.prj")
    shapefile = {f"zones{part.suffix}": part.read_bytes() for part in folder.iterdir()}
    return [
        *_disguises(vrt),
        ("linked.geojson", json.dumps(linked).encode()),
        ("named.geojson", json.dumps(named).encode()),
        ("zipped.zip", _zip({"linked.geojson": json.dumps(linked).encode()})),
        ("srs.gpkg", gpkg.read_bytes()),
        ("zones.zip", _zip(shapefile)),
        ("url.geojson", f"{url}/zones.geojson".encode()),
    ]


async def test_no_upload_makes_a_network_request(
    client: httpx.AsyncClient, token_for: TokenFor, tmp_path: Path, listener: Listener
) -> None:
    commander = await token_for("commander")
    for name, content in _network_files(f"http://127.0.0.1:{listener.port}", tmp_path):
        answer = await _post(client, commander, name, content)
        assert answer.status_code < 500, (name, answer.status_code, answer.text)
    assert listener.connections == 0, f"an upload made {listener.connections} connection(s) to the listener"


def _recursive_view_gpkg(path: Path, *, rows: int, keep_table: bool) -> Path:
    """A GeoPackage whose listed layer is a recursive view producing ``rows`` copies of one zone (unbounded would
    be as small); ``keep_table``: the real table stays listed too, first."""
    gpd.GeoDataFrame({"name": ["seed"], "kind": ["flood"]}, geometry=[SQUARE], crs="EPSG:4326").to_file(
        path, driver="GPKG", layer="seed"
    )
    with sqlite3.connect(path) as db:
        db.execute(f"""CREATE VIEW zones AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT {rows})
            SELECT i AS fid, 'zone ' || i AS name, 'flood' AS kind, (SELECT geom FROM seed) AS geom FROM n""")
        if keep_table:
            db.execute("""INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id)
                SELECT 'zones', data_type, 'zones', srs_id FROM gpkg_contents WHERE table_name = 'seed'""")
            db.execute("""INSERT INTO gpkg_geometry_columns
                SELECT 'zones', column_name, geometry_type_name, srs_id, z, m FROM gpkg_geometry_columns""")
        else:
            db.execute("UPDATE gpkg_contents SET table_name = 'zones', identifier = 'zones'")
            db.execute("UPDATE gpkg_geometry_columns SET table_name = 'zones'")
    return path


@pytest.mark.parametrize("keep_table", [False, True], ids=["view-alone", "view-beside-a-table"])
async def test_a_geopackage_whose_layer_is_a_view_is_refused(
    client: httpx.AsyncClient, token_for: TokenFor, session: AsyncSession, tmp_path: Path, keep_table: bool
) -> None:
    commander = await token_for("commander")
    gpkg = _recursive_view_gpkg(tmp_path / "zones.gpkg", rows=20_000, keep_table=keep_table)
    answer = await _post(client, commander, "zones.gpkg", gpkg.read_bytes())
    assert answer.status_code == 422, answer.text
    assert "'zones' is a view; only tables are read" in answer.json()["detail"]
    assert await _zones(session) == 0


@pytest.fixture
def limited(app: Any, settings: Settings) -> Iterator[Callable[..., None]]:
    """Set some settings of the running app for one test."""

    def change(**values: Any) -> None:
        state_of(app).settings = settings.model_copy(update=values)

    yield change
    state_of(app).settings = settings


def _shelters(fmt: str, count: int) -> tuple[str, bytes]:
    if fmt == "csv":
        lines = [f"Shelter {i},shelter,104.0,30.{i:04d}" for i in range(count)]
        return "shelters.csv", ("name,type,lon,lat\n" + "\n".join(lines)).encode()
    frame = gpd.GeoDataFrame(
        {"name": [f"Shelter {i}" for i in range(count)], "type": ["shelter"] * count},
        geometry=gpd.points_from_xy([104.0] * count, [30.0 + i / 1e4 for i in range(count)]),
        crs="EPSG:4326",
    )
    return "shelters.geojson", frame.to_json().encode()


@pytest.mark.parametrize("fmt", ["geojson", "csv"])
async def test_more_rows_than_the_limit_is_413_naming_it(
    client: httpx.AsyncClient, token_for: TokenFor, limited: Callable[..., None], fmt: str
) -> None:
    commander = await token_for("commander")
    limited(import_max_rows=100)
    over = await client.post("/api/v1/resources/import", files={"file": _shelters(fmt, 101)}, headers=commander)
    assert over.status_code == 413, over.text
    assert "more than the 100 rows allowed" in over.json()["detail"] and "COMMANDPOST_IMPORT_MAX_ROWS" in over.text
    at = await client.post("/api/v1/resources/import", files={"file": _shelters(fmt, 100)}, headers=commander)
    assert at.status_code == 201 and at.json()["imported"] == 100, at.text


@pytest.mark.parametrize(
    "filename",
    [
        b"..",
        b"../../x.geojson",
        b"..\\..\\x.geojson",
        b"/",
        b"a" * 300 + b".geojson",
        b"x\x00.geojson",
        b"\xff.json",
        b"",
    ],
    ids=["dotdot", "traversal", "backslashes", "slash", "300-chars", "nul", "latin-1", "empty"],
)
async def test_any_upload_name_is_a_name_not_a_path(
    client: httpx.AsyncClient,
    token_for: TokenFor,
    session: AsyncSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    filename: bytes,
) -> None:
    commander = await token_for("commander")
    temp = tmp_path / "tmp" / "deep"
    temp.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    body = (
        b'--cp\r\nContent-Disposition: form-data; name="zone_kind"\r\n\r\nflood\r\n'
        b'--cp\r\nContent-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        b"Content-Type: application/geo+json\r\n\r\n" + _zones_geojson(1) + b"\r\n--cp--\r\n"
    )
    answer = await client.post(
        IMPORT, content=body, headers={**commander, "Content-Type": "multipart/form-data; boundary=cp"}
    )
    assert answer.status_code == 201, answer.text
    shown = answer.json()["file"]
    assert 0 < len(shown) <= 100 and not set(shown) & {"/", "\\", "\x00"} and shown not in (".", ".."), shown
    audited = await session.scalar(select(AuditEntry).where(AuditEntry.action == "layers.import"))
    assert audited is not None and audited.target["file"] == shown
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert left == ["tmp", "tmp/deep"], f"files left or written outside the upload's directory: {left}"


@pytest.mark.parametrize("gated", ["check_geometry", "table_rows"])
async def test_the_loop_answers_while_an_import_works(
    client: httpx.AsyncClient,
    token_for: TokenFor,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    gated: str,
) -> None:
    """The import's CPU work runs in worker threads: held inside it, the import leaves /healthz answering (before,
    the held work held the loop, and /healthz answered only after the import)."""
    commander = await token_for("commander")
    inside, release, held = threading.Event(), threading.Event(), {}
    real = getattr(transfer, gated)

    def gate(*args: Any, **kwargs: Any) -> Any:
        inside.set()
        held["released"] = release.wait(timeout=10)  # bounded: on the loop, this would stall everything for 10 s
        return real(*args, **kwargs)

    monkeypatch.setattr(transfer, gated, gate)
    files = {"file": ("zones.geojson", _zones_geojson(3), "application/geo+json")}
    importing = asyncio.create_task(client.post(IMPORT, files=files, data={"zone_kind": "flood"}, headers=commander))
    assert await asyncio.to_thread(inside.wait, 60), "the import never reached its gated step"
    health = await client.get("/healthz")
    assert health.status_code == 200
    assert not importing.done(), "the import finished before /healthz could answer: its work held the loop"
    release.set()
    answer = await importing
    assert answer.status_code == 201 and answer.json()["imported"] == 3, answer.text
    assert held["released"], "the gated step waited out its bound: the loop was blocked"
    assert await _zones(session) == 3


async def test_the_file_is_read_outside_the_web_process(
    client: httpx.AsyncClient, token_for: TokenFor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GDAL poisoned in this process (the web process of these tests): every format still imports."""
    commander = await token_for("commander")
    frame = gpd.read_file(io.BytesIO(_zones_geojson(2)))
    frame.to_file(tmp_path / "zones.gpkg", driver="GPKG")
    (tmp_path / "shp").mkdir()
    frame.to_file(tmp_path / "shp" / "zones.shp")
    uploads = [
        ("zones.geojson", _zones_geojson(2)),
        ("zones.gpkg", (tmp_path / "zones.gpkg").read_bytes()),
        ("zones.zip", _zip({p.name: p.read_bytes() for p in (tmp_path / "shp").iterdir()})),
    ]

    def poisoned(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("GDAL was used in the web process")

    for module, name in [(pyogrio, "read_dataframe"), (pyogrio, "read_arrow"), (pyogrio, "open_arrow"),
                         (pyogrio.raw, "read_arrow"), (pyogrio.raw, "open_arrow"), (pyogrio.raw, "read")]:  # fmt: skip
        monkeypatch.setattr(module, name, poisoned)
    for name, content in uploads:
        answer = await _post(client, commander, name, content)
        assert answer.status_code == 201 and answer.json()["imported"] == 2, (name, answer.text)
