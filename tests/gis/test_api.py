"""The map's doors over HTTP: resources, jurisdictions, hazard zones, uploads (413 included) and exports."""

from __future__ import annotations

import json

import geopandas as gpd
import httpx
import pytest
from fastapi import FastAPI
from shapely.geometry import Point

from core.settings import Settings
from gis import repository
from gis.schemas import OsmReport
from tests.conftest import TokenFor
from web.state import state_of

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
    app: FastAPI, client: httpx.AsyncClient, token_for: TokenFor, settings: Settings
) -> None:
    admin = await token_for("admin")
    state_of(app).settings = settings.model_copy(update={"max_upload_mb": 1})
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
        state_of(app).settings = settings


@pytest.mark.parametrize("path", ["/api/v1/jurisdictions", "/api/v1/hazard-zones", "/api/v1/resources/1"])
async def test_reads_need_a_token(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 401


def _layer(features: list[dict[str, object]]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def _square(x0: float, y0: float, side: float) -> dict[str, object]:
    ring = [[x0, y0], [x0 + side, y0], [x0 + side, y0 + side], [x0, y0 + side], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


ZONES = _layer(
    [
        {
            "type": "Feature",
            "properties": {"name": "低洼区 Low Ground", "kind": "flood"},
            "geometry": _square(100.000, 10.000, 0.010),
        },
        {
            "type": "Feature",
            "properties": {"name": "Test Fault", "kind": "active_fault", "buffer_m": 500},
            "geometry": {"type": "LineString", "coordinates": [[100.020, 10.000], [100.020, 10.010]]},
        },
    ]
)
DISTRICT = _layer(
    [
        {
            "type": "Feature",
            "properties": {"name": "测试区", "name_en": "Test District", "admin_level": 6, "code": "510199"},
            "geometry": _square(100.000, 10.000, 0.050),
        }
    ]
)


async def _upload(client: httpx.AsyncClient, auth: dict[str, str], kind: str, name: str, body: bytes) -> httpx.Response:
    files = {"file": (name, body, "application/geo+json")}
    return await client.post(f"/api/v1/layers/{kind}/import", files=files, headers=auth)


async def test_imported_layers_are_read_back_by_id_and_by_what_lies_inside(
    client: httpx.AsyncClient, token_for: TokenFor
) -> None:
    commander, observer = await token_for("commander"), await token_for("observer")
    assert (await _upload(client, observer, "hazard_zones", "zones.geojson", ZONES)).status_code == 403
    assert (await _upload(client, commander, "volcanoes", "zones.geojson", ZONES)).status_code == 404
    zones_report = await _upload(client, commander, "hazard_zones", "zones.geojson", ZONES)
    assert zones_report.status_code == 201, zones_report.text
    assert (zones_report.json()["kind"], zones_report.json()["imported"], zones_report.json()["rejected"]) == (
        "hazard_zones",
        2,
        [],
    )
    district_report = await _upload(client, commander, "jurisdictions", "district.geojson", DISTRICT)
    assert district_report.status_code == 201 and district_report.json()["imported"] == 1

    # The list, by what covers a point, and by kind.
    listed = (await client.get("/api/v1/hazard-zones", headers=observer)).json()
    by_name = {z["name"]: z for z in listed["items"]}
    assert {"低洼区 Low Ground", "Test Fault"} <= set(by_name) and listed["total"] == len(listed["items"])
    flood, fault = by_name["低洼区 Low Ground"], by_name["Test Fault"]
    assert (flood["kind"], flood["buffer_m"], fault["kind"], fault["buffer_m"]) == ("flood", 0, "active_fault", 500)
    covering = await client.get("/api/v1/hazard-zones", params={"contains": "100.005,10.005"}, headers=observer)
    assert [z["id"] for z in covering.json()["items"]] == [flood["id"]]
    faults = await client.get("/api/v1/hazard-zones", params={"kind": "active_fault"}, headers=observer)
    assert fault["id"] in [z["id"] for z in faults.json()["items"]]
    assert flood["id"] not in [z["id"] for z in faults.json()["items"]]

    # One zone by id: its own geometry (the fault's line, not its buffer), cached by ETag; an unknown id is 404.
    one = await client.get(f"/api/v1/hazard-zones/{fault['id']}", headers=observer)
    assert one.status_code == 200 and one.json()["geometry"]["type"] == "LineString"
    assert one.json()["geometry"]["coordinates"] == [[100.02, 10.0], [100.02, 10.01]]
    cached = await client.get(
        f"/api/v1/hazard-zones/{fault['id']}", headers={**observer, "If-None-Match": one.headers["etag"]}
    )
    assert cached.status_code == 304
    missing = await client.get("/api/v1/hazard-zones/999999999", headers=observer)
    assert missing.status_code == 404 and set(missing.json()) == {"error", "detail"}

    # What lies inside. 1 degree of longitude at 10.005 N is 111,320 m x cos(10.005 deg) = 109,627 m, so from the
    # fault's line at 100.020 E: 100.0235 E is 0.0035 x 109,627 = 384 m (inside its 500 m), 100.0260 E is 658 m.
    async def place(type: str, name: str, lon: float, lat: float) -> int:
        body = {"type": type, "name": name, "location": {"type": "Point", "coordinates": [lon, lat]}}
        made = await client.post("/api/v1/resources", json=body, headers=commander)
        assert made.status_code == 201, made.text
        return int(made.json()["id"])

    shelter = await place("shelter", "low shelter", 100.005, 10.005)
    ambulance = await place("ambulance", "low ambulance", 100.004, 10.004)
    near_fault = await place("hospital", "fault hospital", 100.0235, 10.005)
    await place("hospital", "safe hospital", 100.0260, 10.005)
    inside = (await client.get(f"/api/v1/hazard-zones/{flood['id']}/resources", headers=observer)).json()
    assert sorted(r["id"] for r in inside["items"]) == sorted([shelter, ambulance]) and inside["total"] == 2
    shelters = await client.get(
        f"/api/v1/hazard-zones/{flood['id']}/resources", params={"type": "shelter"}, headers=observer
    )
    assert [r["id"] for r in shelters.json()["items"]] == [shelter]
    on_fault = (await client.get(f"/api/v1/hazard-zones/{fault['id']}/resources", headers=observer)).json()
    assert [r["id"] for r in on_fault["items"]] == [near_fault]
    assert (await client.get("/api/v1/hazard-zones/999999999/resources", headers=observer)).status_code == 404

    # The district by id. 0.05 deg of latitude near 10.025 N is 0.05 x 110,604 m = 5,530 m; 0.05 deg of longitude is
    # 0.05 x 111,320 m x cos(10.025 deg) = 5,481 m; the square is 5,530 x 5,481 m = 30.31 km2.
    [district] = (
        await client.get("/api/v1/jurisdictions", params={"contains": "100.025,10.025"}, headers=observer)
    ).json()["items"]
    got = await client.get(f"/api/v1/jurisdictions/{district['id']}", headers=observer)
    assert got.status_code == 200
    body = got.json()
    assert (body["name"], body["name_en"], body["admin_level"], body["code"]) == (
        "测试区",
        "Test District",
        6,
        "510199",
    )
    assert body["area_km2"] == pytest.approx(30.31, rel=0.005)
    assert body["geometry"]["type"] in ("Polygon", "MultiPolygon")
    missing = await client.get("/api/v1/jurisdictions/999999999", headers=observer)
    assert missing.status_code == 404 and set(missing.json()) == {"error", "detail"}
