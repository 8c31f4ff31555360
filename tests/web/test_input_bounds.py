"""Bounds on what the schemas take: times (RFC 3339 with a zone, in a window per kind of time), coordinates (numbers,
in range), lists, strings and JSON objects of bounded size; and an OpenAPI document that says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from core.clock import utcnow
from tests.conftest import TokenFor

POINT = {"type": "Point", "coordinates": [104.06, 30.66]}


def assert_422(response: httpx.Response, field: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid" and body["detail"]
    named = {body.get("field") or ""} | {f["field"] for f in body.get("fields") or []}
    assert any(name == field or name.startswith(field + ".") for name in named), body
    return dict(body)


@pytest.fixture
async def officer(token_for: TokenFor) -> dict[str, str]:
    return await token_for("duty_officer")


@pytest.fixture
async def commander(token_for: TokenFor) -> dict[str, str]:
    return await token_for("commander")


# ------------------------------------------------------------------------------------------------ times

BAD_TIMES = {
    "year-1": "0001-01-01T00:00:00Z",
    "year-9999": "9999-12-31T23:59:59Z",
    "naive": "2026-01-05T08:00:00",
    "unix-seconds": 1767225600,
    "date-only": "2026-01-05",
    "before-2000": "1999-12-31T23:59:59Z",
    "next-week": None,  # filled in below: a week from now
}


def _bad_time(name: str) -> Any:
    return (utcnow() + timedelta(days=7)).isoformat() if name == "next-week" else BAD_TIMES[name]


@pytest.mark.parametrize("name", list(BAD_TIMES))
async def test_reported_at_outside_its_window_or_not_rfc3339_is_422(
    client: httpx.AsyncClient, officer: dict[str, str], name: str
) -> None:
    report = {"description": "居民楼火灾", "location": POINT, "reported_at": _bad_time(name)}
    body = assert_422(await client.post("/api/v1/incidents", json=report, headers=officer), "body.reported_at")
    assert "Traceback" not in body["detail"]


async def test_reported_at_in_its_window_is_kept_with_its_zone(
    client: httpx.AsyncClient, officer: dict[str, str]
) -> None:
    report = {"description": "居民楼火灾", "location": POINT, "reported_at": "2024-03-01T08:30:00+08:00"}
    response = await client.post("/api/v1/incidents", json=report, headers=officer)
    assert response.status_code == 201, response.text
    incident = response.json()
    assert datetime.fromisoformat(incident["reported_at"]) == datetime(2024, 3, 1, 0, 30, tzinfo=UTC)
    assert (await client.get(f"/api/v1/incidents/{incident['id']}", headers=officer)).status_code == 200


async def test_a_unit_cannot_get_a_year_1_fix_and_its_later_fixes_keep_working(
    client: httpx.AsyncClient, commander: dict[str, str]
) -> None:
    """The issue's 653 fixes: one year-1 fix was stored as -infinity, read back naive, and broke every later one."""
    unit = await client.post(
        "/api/v1/resources", json={"type": "ambulance", "name": "A9", "location": POINT}, headers=commander
    )
    assert unit.status_code == 201, unit.text
    url = f"/api/v1/units/{unit.json()['id']}/location"
    for name in ("year-1", "year-9999", "naive"):
        fix = {**POINT, "at": _bad_time(name)}
        assert_422(await client.post(url, json=fix, headers=commander), "body.at")
    start = utcnow() - timedelta(minutes=20)
    for minute in range(20):
        fix = {
            "type": "Point",
            "coordinates": [104.06 + minute * 1e-4, 30.66],
            "at": (start + timedelta(minutes=minute)).isoformat(),
        }
        response = await client.post(url, json=fix, headers=commander)
        assert response.status_code == 200, response.text
    track = await client.get(url.removesuffix("location") + "track", headers=commander)
    assert track.status_code == 200 and track.json()["total"] == 20
    found = await client.get(f"/api/v1/resources/{unit.json()['id']}", headers=commander)
    assert found.status_code == 200 and found.json()["last_fix_at"] is not None


async def test_a_dry_run_time_has_its_own_window(client: httpx.AsyncClient, commander: dict[str, str]) -> None:
    example = {"location": [104.06, 30.66], "category": "accident_disaster"}
    for at in ("0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z", "2026-02-01T10:00:00"):
        response = await client.post(
            "/api/v1/plans/check", json={"incidents": [{**example, "at": at}]}, headers=commander
        )
        assert response.status_code == 422, response.text
    future = {**example, "at": "2031-02-01T10:00:00+08:00"}  # imagining next decade's festival is fine
    response = await client.post("/api/v1/plans/check", json={"incidents": [future]}, headers=commander)
    assert response.status_code == 200, response.text


# ------------------------------------------------------------------------------------------------ coordinates


@pytest.mark.parametrize(
    "coordinates", [["104", "30"], [True, False], [104.06], [104.06, 30.66, 1, 2], [181, 30], [104, None]]
)
async def test_coordinates_are_numbers_in_range(
    client: httpx.AsyncClient, officer: dict[str, str], commander: dict[str, str], coordinates: list[Any]
) -> None:
    point = {"type": "Point", "coordinates": coordinates}
    response = await client.post("/api/v1/incidents", json={"description": "火灾", "location": point}, headers=officer)
    assert_422(response, "body.location.coordinates")
    resource = {"type": "ambulance", "name": "A1", "location": point}
    assert (await client.post("/api/v1/resources", json=resource, headers=commander)).status_code == 422
    example = {"incidents": [{"location": coordinates[:2], "category": "accident_disaster"}]}
    if len(coordinates) == 2:  # [lon, lat] of a dry-run example: the same rule
        assert (await client.post("/api/v1/plans/check", json=example, headers=commander)).status_code == 422


# ------------------------------------------------------------------------------------------------ sizes


async def test_lists_strings_and_json_objects_have_maximums(
    client: httpx.AsyncClient, officer: dict[str, str], commander: dict[str, str]
) -> None:
    # facts.lower_bounds took 5 million items; it names facts, of which there are nine.
    facts = {"deaths": 3, "lower_bounds": ["deaths"] * 1000}
    assert_422(
        await client.post("/api/v1/classify", json={"text": "火灾", "facts": facts}, headers=officer),
        "body.facts.lower_bounds",
    )
    # A resource's capacity and properties are JSONB: bounded in size and depth.
    big = {"type": "ambulance", "name": "A1", "location": POINT, "properties": {"note": "x" * 20_000}}
    assert_422(await client.post("/api/v1/resources", json=big, headers=commander), "body.properties")
    deep: dict[str, Any] = {"v": 1}
    for _ in range(10):
        deep = {"v": deep}
    nested = {"type": "ambulance", "name": "A1", "location": POINT, "capacity": deep}
    assert_422(await client.post("/api/v1/resources", json=nested, headers=commander), "body.capacity")
    # Versions are PostgreSQL integers (32 bits).
    response = await client.post(
        "/api/v1/incidents/1/transition", json={"to": "verified", "version": 2**31}, headers=commander
    )
    assert_422(response, "body.version")
    # Query strings have theirs.
    assert_422(await client.get("/api/v1/incidents?bbox=" + "1," * 200, headers=officer), "query.bbox")


# ------------------------------------------------------------------------------------------------ OpenAPI


async def test_the_openapi_document_declares_the_error_shape_we_send(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert set(schemas["ErrorOut"]["required"]) == {"error", "detail"}
    assert {"field", "fields"} <= set(schemas["ErrorOut"]["properties"])
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "default" in responses, (method, path)
            for status, response in responses.items():
                if status == "default" or status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, status)
            if operation.get("parameters") or operation.get("requestBody"):
                assert "422" in responses, (method, path)


async def test_the_openapi_document_declares_the_hand_read_bodies(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/api/v1/resources/import", "/api/v1/layers/{kind}/import"):
        body = paths[path]["post"]["requestBody"]
        form = body["content"]["multipart/form-data"]["schema"]
        assert body["required"] and form["required"] == ["file"] and form["properties"]["file"]["format"] == "binary"
        assert {"crs", "zone_kind", "buffer_m", "strict"} <= set(form["properties"])
        assert paths[path]["post"]["x-max-body-bytes"] == 200 * 1_000_000
    assert (
        "kind"
        in paths["/api/v1/resources/import"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"][
            "properties"
        ]
    )
    plans = paths["/api/v1/plans"]["post"]["requestBody"]
    assert plans["required"] and {"application/json", "application/yaml"} <= set(plans["content"])
    assert plans["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/PlanDocument"}
    check = paths["/api/v1/plans/check"]["post"]["requestBody"]
    assert not check["required"] and check["content"]["application/json"]["schema"]["$ref"].endswith("/CheckIn")
    assert paths["/api/v1/classify"]["post"]["x-max-body-bytes"] == 1024 * 1024
    incident_id = next(p for p in paths["/api/v1/incidents/{incident_id}"]["get"]["parameters"] if p["in"] == "path")
    assert incident_id["schema"]["maximum"] == 2**63 - 1
