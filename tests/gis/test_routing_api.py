"""The road doors over HTTP: /route, /isochrone, /units/nearest and /incidents/{id}/impact, bad input included."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import TokenFor
from tests.gis.test_routing import at, river_town  # noqa: F401 (the fixture, used by name)


def lonlat(x: float, y: float) -> str:
    return "{},{}".format(*at(x, y))


@pytest.mark.usefixtures("river_town")
async def test_route_over_http(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    auth = await token_for("observer")
    a, b = lonlat(5, 7.9), lonlat(25, 7.9)
    east = await client.get("/api/v1/route", params={"from": a, "to": b}, headers=auth)
    west = await client.get("/api/v1/route", params={"from": b, "to": a}, headers=auth)
    assert east.status_code == west.status_code == 200, east.text
    feature = east.json()
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "LineString"
    assert feature["geometry"]["coordinates"][0] == list(at(5, 7.9))
    props, back = feature["properties"], west.json()["properties"]
    assert props["method"] == back["method"] == "road" and props["snap_from_m"] == pytest.approx(11.1, abs=0.5)
    assert props["duration_s"] > 1.5 * back["duration_s"] and props["distance_m"] > 2.5 * back["distance_m"]
    same = await client.get("/api/v1/route", params={"from": a, "to": a}, headers=auth)
    assert same.status_code == 200 and same.json()["properties"]["duration_s"] == 0
    far = await client.get("/api/v1/route", params={"from": a, "to": "100.5,20.5"}, headers=auth)
    assert far.status_code == 200 and far.json()["properties"]["method"] == "straight_line"
    assert "nearest road" in far.json()["properties"]["reason"]


@pytest.mark.usefixtures("river_town")
async def test_route_refuses_bad_input(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    auth = await token_for("duty_officer")
    cases = [
        ({"from": "200,20", "to": lonlat(1, 0)}, "from"),
        ({"from": lonlat(1, 0), "to": "20.0"}, "to"),
        ({"from": "20.0,100.0", "to": lonlat(1, 0)}, "from"),  # swapped: lat 100 is impossible
        ({"from": "a,b", "to": lonlat(1, 0)}, "from"),
    ]
    for params, field in cases:
        answer = await client.get("/api/v1/route", params=params, headers=auth)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"] == "invalid" and answer.json()["field"] == field
    missing = await client.get("/api/v1/route", params={"from": lonlat(1, 0)}, headers=auth)
    assert missing.status_code == 422 and "to" in missing.json()["detail"]
    assert (await client.get("/api/v1/route", params={"from": lonlat(1, 0), "to": lonlat(2, 0)})).status_code == 401


@pytest.mark.usefixtures("river_town")
async def test_isochrone_over_http(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    auth = await token_for("commander")
    found = await client.get("/api/v1/isochrone", params={"at": lonlat(10, 12.1), "minutes": 2}, headers=auth)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["geometry"]["type"] in ("Polygon", "MultiPolygon") and body["properties"]["minutes"] == 2
    for minutes in ("0", "-5", "121", "many"):
        answer = await client.get("/api/v1/isochrone", params={"at": lonlat(10, 12), "minutes": minutes}, headers=auth)
        assert answer.status_code == 422 and answer.json()["error"] == "invalid", (minutes, answer.text)
    off = await client.get("/api/v1/isochrone", params={"at": "100.5,20.5", "minutes": 5}, headers=auth)
    assert off.status_code == 422 and off.json()["field"] == "at" and "nearest road" in off.json()["detail"]


async def test_no_graph_is_a_clear_answer(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    auth = await token_for("observer")
    route = await client.get("/api/v1/route", params={"from": lonlat(0, 0), "to": lonlat(5, 0)}, headers=auth)
    assert route.status_code == 409 and "commandpost import-osm" in route.json()["detail"]
    iso = await client.get("/api/v1/isochrone", params={"at": lonlat(0, 0), "minutes": 5}, headers=auth)
    assert iso.status_code == 409 and iso.json()["error"] == "conflict"
    admin = await token_for("admin")
    unit = {"type": "ambulance", "name": "A1", "location": {"type": "Point", "coordinates": list(at(1, 1))}}
    assert (await client.post("/api/v1/resources", json=unit, headers=admin)).status_code == 201
    near = await client.get("/api/v1/units/nearest", params={"at": lonlat(0, 0), "type": "ambulance"}, headers=auth)
    assert near.status_code == 200 and near.json()["total"] == 1
    item = near.json()["items"][0]
    assert item["method"] == "straight_line" and "no road graph" in item["reason"]


@pytest.mark.usefixtures("river_town")
async def test_nearest_units_over_http(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    admin = await token_for("admin")
    ids = {}
    for label, where in (("across", at(10, 7.7)), ("along", at(35, 12.3))):
        unit = {"type": "fire_engine", "name": label, "location": {"type": "Point", "coordinates": list(where)}}
        made = await client.post("/api/v1/resources", json=unit, headers=admin)
        assert made.status_code == 201, made.text
        ids[label] = made.json()["id"]
    auth = await token_for("observer")
    params = {"at": lonlat(10, 12.3), "type": "fire_engine", "k": 2}
    found = await client.get("/api/v1/units/nearest", params=params, headers=auth)
    assert found.status_code == 200, found.text
    items = found.json()["items"]
    assert [i["unit_id"] for i in items] == [ids["along"], ids["across"]]
    assert {i["method"] for i in items} == {"road"} and all(i["eta_s"] > 0 and i["distance_m"] > 0 for i in items)
    assert items[0]["position_source"] == "last_known" and "reason" in items[0]
    geo = await client.get("/api/v1/units/nearest", params={**params, "format": "geojson"}, headers=auth)
    assert geo.json()["type"] == "FeatureCollection" and geo.json()["features"][0]["id"] == ids["along"]
    for bad in ({"type": "hospital"}, {"type": "starship"}, {"k": 0}, {"k": 51}, {"at": "1,2,3"}):
        answer = await client.get("/api/v1/units/nearest", params={**params, **bad}, headers=auth)
        assert answer.status_code == 422, (bad, answer.text)


@pytest.mark.usefixtures("river_town")
async def test_impact_area_of_an_incident(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    officer = await token_for("duty_officer")
    report = {
        "description": "化工厂储罐危险化学品泄漏，已造成3人死亡",
        "location": {"type": "Point", "coordinates": list(at(20, 4))},
        "category": "accident_disaster",
        "subtype": "hazardous_chemicals",
        "facts": {"deaths": 3},
    }
    created = await client.post("/api/v1/incidents", json=report, headers=officer)
    assert created.status_code == 201, created.text
    incident = created.json()
    assert incident["grade"]["level"] == "III"
    observer = await token_for("observer")
    impact = await client.get(f"/api/v1/incidents/{incident['id']}/impact", headers=observer)
    assert impact.status_code == 200, impact.text
    body = impact.json()
    assert body["geometry"]["type"] == "Polygon"
    props = body["properties"]
    assert (props["radius_m"], props["rule"], props["level"]) == (1000, "hazardous_chemicals:III", "III")
    assert props["counts"] == {"school": 1, "hospital": 1, "shelter": 0}
    assert props["resources"]["hospital"][0]["name_en"] == "River Town Hospital"
    assert props["resources"]["school"][0]["distance_m"] == pytest.approx(399, abs=2)
    stations = await client.get(
        f"/api/v1/incidents/{incident['id']}/impact", params={"type": "fire_station"}, headers=observer
    )
    assert stations.json()["properties"]["counts"] == {"fire_station": 0}
    missing = await client.get("/api/v1/incidents/999999999/impact", headers=observer)
    assert missing.status_code == 404
