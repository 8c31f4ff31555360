"""The map's doors over HTTP: resources, jurisdictions, hazard zones, uploads (413 included) and exports."""

from __future__ import annotations

import json

import geopandas as gpd
import httpx
import pytest
from shapely.geometry import Point

from core.settings import Settings
from gis import repository
from gis.osm_import import OsmReport
from tests.conftest import TokenFor

HOSPITAL = {
    "type": "hospital",
    "name": "测试医院",
    "name_en": "Test Hospital",
    "location": {"type": "Point", "coordinates": [104.06, 30.66]},
    "capacity": {"beds": 120},
}


async def test_create_get_and_list(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    admin = await token_for("admin")
    created = await client.post("/api/v1/resources", json=HOSPITAL, headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] is None and body["capacity"] == {"beds": 120}
    assert body["location"] == {"type": "Point", "coordinates": [104.06, 30.66]}
    unit = {"type": "ambulance", "name": "Amb 1", "location": {"type": "Point", "coordinates": [104.07, 30.66]},
            "home_station_id": body["id"]}  # fmt: skip
    made = await client.post("/api/v1/resources", json=unit, headers=admin)
    assert made.status_code == 201 and made.json()["status"] == "available"
    observer = await token_for("observer")
    got = await client.get(f"/api/v1/resources/{body['id']}", headers=observer)
    assert got.status_code == 200 and got.json()["name_en"] == "Test Hospital"
    listed = await client.get(
        "/api/v1/resources", params={"type": "hospital,ambulance", "limit": 5000}, headers=observer
    )
    assert listed.status_code == 200 and listed.json()["total"] == 2
    geo = await client.get("/api/v1/resources", params={"format": "geojson"}, headers=observer)
    assert geo.json()["type"] == "FeatureCollection" and len(geo.json()["features"]) == 2
    missing = await client.get("/api/v1/resources/999999999", headers=observer)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


async def test_create_refuses_bad_input_and_wrong_roles(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    admin = await token_for("admin")
    swapped = {**HOSPITAL, "location": {"type": "Point", "coordinates": [30.66, 104.06]}}
    answer = await client.post("/api/v1/resources", json=swapped, headers=admin)
    assert answer.status_code == 422 and "swapped" in answer.json()["detail"]
    unknown = await client.post("/api/v1/resources", json={**HOSPITAL, "type": "spaceship"}, headers=admin)
    assert unknown.status_code == 422 and unknown.json()["field"] == "type"
    status = await client.post("/api/v1/resources", json={**HOSPITAL, "status": "available"}, headers=admin)
    assert status.status_code == 422 and "facility" in status.json()["detail"]
    duty = await token_for("duty_officer")
    assert (await client.post("/api/v1/resources", json=HOSPITAL, headers=duty)).status_code == 403
    assert (await client.get("/api/v1/resources")).status_code == 401
    commander = await token_for("commander")
    assert (await client.post("/api/v1/resources", json=HOSPITAL, headers=commander)).status_code == 201


async def test_near_bbox_and_filters(client: httpx.AsyncClient, token_for: TokenFor, mini_city: OsmReport) -> None:
    user = await token_for("observer")
    near = await client.get(
        "/api/v1/resources", params={"near": "100.0,10.0", "type": "hospital", "limit": 5}, headers=user
    )
    assert near.status_code == 200
    items = near.json()["items"]
    assert [i["name"] for i in items] == ["迷你市总医院", "东区医院"]
    assert 500 < items[0]["distance_m"] < 700 and items[0]["distance_m"] < items[1]["distance_m"]
    box = await client.get("/api/v1/resources", params={"bbox": "100.0,10.0,100.01,10.005"}, headers=user)
    assert {i["name"] for i in box.json()["items"]} >= {"迷你市总医院"}
    assert all(i["location"]["coordinates"][0] <= 100.01 for i in box.json()["items"])
    engines = await client.get("/api/v1/resources", params={"type": "fire_engine", "status": "available"}, headers=user)
    assert engines.json()["total"] == 2
    for params, field in [({"near": "100,200"}, "near"), ({"bbox": "1,2,3"}, "bbox"), ({"status": "asleep"}, "status")]:
        bad = await client.get("/api/v1/resources", params=params, headers=user)
        assert bad.status_code == 422 and bad.json()["field"] == field, bad.text


async def test_list_totals_exact_and_capped_near(
    client: httpx.AsyncClient, token_for: TokenFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await token_for("admin")
    for i in range(7):
        unit = {
            "type": "ambulance",
            "name": f"Amb {i}",
            "location": {"type": "Point", "coordinates": [104.0 + i / 100, 30.6]},
        }
        assert (await client.post("/api/v1/resources", json=unit, headers=admin)).status_code == 201
    ambulances = {"type": "ambulance", "limit": 2}
    page = (await client.get("/api/v1/resources", params=ambulances, headers=admin)).json()
    assert (page["total"], page["total_exact"], len(page["items"])) == (7, True, 2)
    past = (await client.get("/api/v1/resources", params={**ambulances, "offset": 50}, headers=admin)).json()
    assert (past["items"], past["total"], past["total_exact"]) == ([], 7, True), "past the end still counts"
    near = {**ambulances, "near": "104.0,30.6"}
    nearest = (await client.get("/api/v1/resources", params=near, headers=admin)).json()
    assert [i["name"] for i in nearest["items"]] == ["Amb 0", "Amb 1"]
    assert (nearest["total"], nearest["total_exact"]) == (7, True)
    monkeypatch.setattr(repository, "NEAR_COUNT_CAP", 3)  # counted up to 2 + 3: more exist, so it says so
    capped = (await client.get("/api/v1/resources", params=near, headers=admin)).json()
    assert (capped["total"], capped["total_exact"], len(capped["items"])) == (5, False, 2)
    monkeypatch.setattr(repository, "NEAR_COUNT_CAP", 5)  # exactly as many as exist: exact
    exact = (await client.get("/api/v1/resources", params=near, headers=admin)).json()
    assert (exact["total"], exact["total_exact"]) == (7, True)


async def test_jurisdictions_and_hazard_zones(
    client: httpx.AsyncClient, token_for: TokenFor, mini_city: OsmReport
) -> None:
    user = await token_for("observer")
    found = await client.get("/api/v1/jurisdictions", params={"contains": "100.01,10.01"}, headers=user)
    assert found.status_code == 200 and [j["name"] for j in found.json()["items"]] == ["迷你区"]
    etag = found.headers["etag"]
    assert "max-age" in found.headers["cache-control"]
    again = await client.get(
        "/api/v1/jurisdictions", params={"contains": "100.01,10.01"}, headers={**user, "If-None-Match": etag}
    )
    assert again.status_code == 304
    outside = await client.get("/api/v1/jurisdictions", params={"contains": "0,0"}, headers=user)
    assert outside.json() == {"items": [], "total": 0}
    swapped = await client.get("/api/v1/jurisdictions", params={"contains": "10.01,100.01"}, headers=user)
    assert swapped.status_code == 422 and "swapped" in swapped.json()["detail"]
    geo = await client.get("/api/v1/jurisdictions", params={"format": "geojson"}, headers=user)
    assert geo.json()["features"][0]["geometry"]["type"] == "MultiPolygon"
    zones = await client.get("/api/v1/hazard-zones", headers=user)
    assert zones.status_code == 200 and zones.json() == {"items": [], "total": 0}


def _geojson_bytes() -> bytes:
    frame = gpd.GeoDataFrame(
        {"type": ["shelter", "nonsense"], "name": ["Square", "Bad"]},
        geometry=[Point(100.001, 10.001), Point(100.002, 10.002)],
        crs="EPSG:4326",
    )
    return frame.to_json().encode()


async def test_upload_reports_rows_and_exports(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    admin = await token_for("admin")
    files = {"file": ("shelters.geojson", _geojson_bytes(), "application/geo+json")}
    answer = await client.post("/api/v1/resources/import", files=files, headers=admin)
    assert answer.status_code == 201, answer.text
    report = answer.json()
    assert report["imported"] == 1 and report["rejected"] == [{"row": 2, "reason": "unknown type 'nonsense'"}]
    strict = await client.post("/api/v1/resources/import", files=files, data={"strict": "true"}, headers=admin)
    assert strict.status_code == 422 and strict.json()["report"]["rejected"][0]["row"] == 2
    junk = {"file": ("junk.bin", b"\x00\x01\x02", "application/octet-stream")}
    bad = await client.post("/api/v1/layers/jurisdictions/import", files=junk, headers=admin)
    assert bad.status_code == 422 and "unknown format" in bad.json()["detail"]
    observer = await token_for("observer")
    assert (await client.post("/api/v1/resources/import", files=files, headers=observer)).status_code == 403
    exported = await client.get("/api/v1/layers/resources/export", params={"format": "geojson"}, headers=observer)
    assert exported.status_code == 200
    features = json.loads(exported.content)["features"]
    assert [f["properties"]["name"] for f in features] == ["Square"]
    gpkg = await client.get("/api/v1/layers/jurisdictions/export", params={"format": "gpkg"}, headers=observer)
    assert gpkg.status_code == 200 and gpkg.content.startswith(b"SQLite format 3")
    assert gpkg.headers["content-type"] == "application/geopackage+sqlite3"
    unknown = await client.get("/api/v1/layers/secrets/export", headers=observer)
    assert unknown.status_code == 404


async def test_oversize_upload_is_413(
    app: object, client: httpx.AsyncClient, token_for: TokenFor, settings: Settings
) -> None:
    admin = await token_for("admin")
    app.state.settings = settings.model_copy(update={"max_upload_mb": 1})  # type: ignore[attr-defined]
    try:
        big = {"file": ("big.csv", b"type,name,lon,lat\n" + b"x" * 1_200_000, "text/csv")}
        declared = await client.post("/api/v1/resources/import", files=big, headers=admin)
        assert declared.status_code == 413 and declared.json()["error"] == "too_large"

        async def chunks() -> object:  # no Content-Length: counted while streaming
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'
            for _ in range(20):
                yield b"y" * 100_000

        streamed = await client.post(
            "/api/v1/resources/import",
            content=chunks(),  # type: ignore[arg-type]
            headers={**admin, "Content-Type": "multipart/form-data; boundary=b"},
        )
        assert streamed.status_code == 413
    finally:
        app.state.settings = settings  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", ["/api/v1/jurisdictions", "/api/v1/hazard-zones", "/api/v1/resources/1"])
async def test_reads_need_a_token(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 401
