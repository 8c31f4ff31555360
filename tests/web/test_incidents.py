"""The incident record over HTTP: intake, idempotency, lifecycle, versions, filters, duplicates, roles, bad input."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from pyproj import Geod
from sqlalchemy import func, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.events import Event
from tests.conftest import TokenFor

WUHOU = (104.0430, 30.6420)
FIRE = "成都市武侯区一居民楼发生火灾，造成3人死亡，5人受伤。"
_geod = Geod(ellps="WGS84")


def offset(lon: float, lat: float, metres: float, azimuth: float = 90.0) -> tuple[float, float]:
    """The point ``metres`` away on the WGS84 ellipsoid (what PostGIS geography measures)."""
    lon2, lat2, _ = _geod.fwd(lon, lat, azimuth, metres)
    return lon2, lat2


def body(description: str = FIRE, lon: float = WUHOU[0], lat: float = WUHOU[1], **extra: Any) -> dict[str, Any]:
    return {"description": description, "location": {"type": "Point", "coordinates": [lon, lat]}, **extra}


@pytest.fixture
async def officer(token_for: TokenFor) -> dict[str, str]:
    return await token_for("duty_officer", username="officer.wang")


@pytest.fixture
async def commander(token_for: TokenFor) -> dict[str, str]:
    return await token_for("commander", username="commander.li")


async def create(client: httpx.AsyncClient, auth: dict[str, str], payload: dict[str, Any], **kw: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/incidents", json=payload, headers=auth, **kw)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _count(session: AsyncSession, name: str) -> int:
    """Rows of a table as this test's transaction sees them: compared before and after, never to a fixed total."""
    return int(await session.scalar(select(func.count()).select_from(table(name))) or 0)


async def _incident_events(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).where(Event.type.like("incident.%"))) or 0)


async def test_intake_classifies_grades_and_records(
    client: httpx.AsyncClient, officer: dict[str, str], session: AsyncSession
) -> None:
    incident = await create(client, officer, body(source="phone"))
    assert (incident["category"], incident["subtype"]) == ("accident_disaster", "building_fire")
    assert incident["facts"]["deaths"] == 3 and incident["fact_sources"]["deaths"] == "extracted"
    assert incident["grade"]["level"] == "III" and incident["grade"]["rule_id"] == "CN-Decree493-2007"
    assert incident["status"] == "reported" and incident["version"] == 1
    assert incident["location"] == {"type": "Point", "coordinates": list(WUHOU)}
    assert incident["created_by"] == "officer.wang"
    assert incident["title"]

    events = list(await session.scalars(select(Event).where(Event.incident_id == incident["id"])))
    assert [e.type for e in events] == ["incident.created"]
    assert events[0].data["id"] == incident["id"] and events[0].data["grade"]["level"] == "III"
    timeline = (await client.get(f"/api/v1/incidents/{incident['id']}/timeline", headers=officer)).json()
    assert [e["kind"] for e in timeline["items"]] == ["created"]
    fetched = (await client.get(f"/api/v1/incidents/{incident['id']}", headers=officer)).json()
    assert fetched == incident


async def test_given_facts_and_classification_win(client: httpx.AsyncClient, officer: dict[str, str]) -> None:
    incident = await create(client, officer, body(facts={"deaths": 12}))
    assert incident["facts"]["deaths"] == 12 and incident["fact_sources"]["deaths"] == "given"
    assert incident["grade"]["level"] == "II"
    forced = await create(client, officer, body(category="accident_disaster", subtype="explosion"))
    assert forced["subtype"] == "explosion"


async def test_idempotent_retry_returns_the_same_incident(
    client: httpx.AsyncClient, officer: dict[str, str], session: AsyncSession
) -> None:
    key = {"Idempotency-Key": "call-2026-11-28-0001"}
    incidents_before, events_before = await _count(session, "incident"), await _incident_events(session)
    first = await client.post("/api/v1/incidents", json=body(), headers={**officer, **key})
    again = await client.post("/api/v1/incidents", json=body(), headers={**officer, **key})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    changed = await client.post("/api/v1/incidents", json=body("另一起事件：仓库起火"), headers={**officer, **key})
    assert changed.status_code == 409 and changed.json()["error"] == "conflict"
    assert await _count(session, "incident") == incidents_before + 1
    assert await _incident_events(session) == events_before + 1


async def test_lifecycle_and_stale_versions(
    client: httpx.AsyncClient, officer: dict[str, str], commander: dict[str, str]
) -> None:
    incident = await create(client, officer, body())
    url = f"/api/v1/incidents/{incident['id']}/transition"
    illegal = await client.post(url, json={"to": "closed"}, headers=commander)
    assert illegal.status_code == 409 and "reported" in illegal.json()["detail"]
    verified = await client.post(url, json={"to": "verified", "version": 1}, headers=commander)
    assert verified.status_code == 200 and verified.json()["version"] == 2
    stale = await client.post(url, json={"to": "responding", "version": 1}, headers=commander)
    assert stale.status_code == 409 and "changed since you read it" in stale.json()["detail"]
    stale_header = await client.post(url, json={"to": "responding"}, headers={**commander, "If-Match": '"1"'})
    assert stale_header.status_code == 409
    for step in ("responding", "contained", "closed"):
        moved = await client.post(url, json={"to": step, "reason": f"now {step}"}, headers=commander)
        assert moved.status_code == 200 and moved.json()["status"] == step
    final = await client.post(url, json={"to": "responding"}, headers=commander)
    assert final.status_code == 409
    unknown = await client.post(url, json={"to": "exploded"}, headers=commander)
    assert unknown.status_code == 422 and "to" in unknown.json()["detail"]
    kinds = [
        e["kind"]
        for e in (await client.get(f"/api/v1/incidents/{incident['id']}/timeline", headers=officer)).json()["items"]
    ]
    assert kinds == ["created"] + ["transition"] * 4


async def test_filters_bbox_and_geojson(
    client: httpx.AsyncClient, officer: dict[str, str], commander: dict[str, str]
) -> None:
    fire = await create(client, officer, body())
    far = await create(client, officer, body("高速公路上两车相撞，1人死亡", 103.5, 30.2))
    flood = await create(client, officer, body("暴雨导致城区内涝，转移群众2000人", 104.06, 30.67))
    await client.post(f"/api/v1/incidents/{fire['id']}/transition", json={"to": "verified"}, headers=commander)

    async def ids(**params: Any) -> set[int]:
        response = await client.get("/api/v1/incidents", params=params, headers=officer)
        assert response.status_code == 200, response.text
        assert response.json()["total"] == len(response.json()["items"])
        return {i["id"] for i in response.json()["items"]}

    assert await ids() == {fire["id"], far["id"], flood["id"]}
    assert await ids(bbox="104.0,30.6,104.1,30.7") == {fire["id"], flood["id"]}
    assert await ids(status="verified") == {fire["id"]}
    assert await ids(category="natural_disaster") == {flood["id"]}
    assert await ids(grade="III") == {fire["id"]}
    assert len(await ids(limit=5000)) == 3  # clamped, not refused
    geo = (await client.get("/api/v1/incidents", params={"format": "geojson"}, headers=officer)).json()
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 3
    assert geo["features"][0]["geometry"]["type"] == "Point" and "id" in geo["features"][0]["properties"]
    for bad in ({"bbox": "1,2,3"}, {"status": "burning"}, {"category": "alien_invasion"}, {"grade": "V"}):
        response = await client.get("/api/v1/incidents", params=bad, headers=officer)
        assert response.status_code == 422, bad


@pytest.mark.parametrize(
    ("metres", "minutes", "subtype_text", "flagged", "azimuth"),
    [
        (499, 10, FIRE, True, 90.0),
        (501, 10, FIRE, False, 90.0),
        (499, 10, FIRE, True, 0.0),  # north, and diagonally: the index's box never cuts the circle
        (499, 10, FIRE, True, 225.0),
        (501, 10, FIRE, False, 180.0),
        (100, 119, FIRE, True, 90.0),
        (100, 121, FIRE, False, 90.0),
        (100, 10, "成都市武侯区发生3.1级地震，无人员伤亡", False, 90.0),
    ],
    ids=[
        "499m",
        "501m",
        "499m-north",
        "499m-southwest",
        "501m-south",
        "inside-window",
        "outside-window",
        "other-subtype",
    ],
)
async def test_possible_duplicate(
    client: httpx.AsyncClient,
    officer: dict[str, str],
    metres: float,
    minutes: int,
    subtype_text: str,
    flagged: bool,
    azimuth: float,
) -> None:
    start = utcnow() - timedelta(hours=3)
    first = await create(client, officer, body(reported_at=start.isoformat()))
    lon, lat = offset(*WUHOU, metres, azimuth)
    later = (start + timedelta(minutes=minutes)).isoformat()
    second = await create(client, officer, body(subtype_text, lon, lat, reported_at=later))
    assert second["possible_duplicate_of"] == (first["id"] if flagged else None)
    assert second["duplicate_status"] == ("suspected" if flagged else None)


async def test_confirm_merges_and_dismiss_clears(
    client: httpx.AsyncClient, officer: dict[str, str], session: AsyncSession
) -> None:
    original = await create(client, officer, body())
    dup = await create(client, officer, body("武侯区居民楼着火，有人员被困", *offset(*WUHOU, 80)))
    other = await create(client, officer, body("居民楼火灾 again", *offset(*WUHOU, 120)))
    assert dup["possible_duplicate_of"] == original["id"] == other["possible_duplicate_of"]

    merged = await client.post(f"/api/v1/incidents/{dup['id']}/duplicate", json={"action": "confirm"}, headers=officer)
    assert merged.status_code == 200, merged.text
    assert (merged.json()["status"], merged.json()["merged_into"]) == ("cancelled", original["id"])
    original_timeline = (await client.get(f"/api/v1/incidents/{original['id']}/timeline", headers=officer)).json()
    assert original_timeline["items"][-1]["kind"] == "merged_from"
    assert original_timeline["items"][-1]["data"]["from"] == dup["id"]

    dismissed = await client.post(
        f"/api/v1/incidents/{other['id']}/duplicate", json={"action": "dismiss"}, headers=officer
    )
    assert dismissed.json()["possible_duplicate_of"] is None and dismissed.json()["duplicate_status"] == "dismissed"
    again = await client.post(f"/api/v1/incidents/{other['id']}/duplicate", json={"action": "dismiss"}, headers=officer)
    assert again.status_code == 409


async def test_fact_correction_regrades(client: httpx.AsyncClient, officer: dict[str, str]) -> None:
    incident = await create(client, officer, body())
    assert incident["grade"]["level"] == "III"
    corrected = await client.patch(
        f"/api/v1/incidents/{incident['id']}", json={"facts": {"deaths": 10}, "version": 1}, headers=officer
    )
    assert corrected.status_code == 200, corrected.text
    out = corrected.json()
    assert out["grade"]["level"] == "II" and out["facts"]["deaths"] == 10 and out["fact_sources"]["deaths"] == "given"
    timeline = (await client.get(f"/api/v1/incidents/{incident['id']}/timeline", headers=officer)).json()["items"]
    assert timeline[-1]["kind"] == "facts_corrected"
    assert timeline[-1]["data"]["before"]["level"] == "III" and timeline[-1]["data"]["after"]["level"] == "II"


async def test_grade_override_is_recorded(
    client: httpx.AsyncClient, officer: dict[str, str], commander: dict[str, str]
) -> None:
    incident = await create(client, officer, body())
    url = f"/api/v1/incidents/{incident['id']}/grade"
    refused = await client.post(url, json={"level": "I", "reason": "political sensitivity"}, headers=officer)
    assert refused.status_code == 403
    done = await client.post(url, json={"level": "II", "reason": "school nearby, fire spreading"}, headers=commander)
    assert done.status_code == 200
    grade = done.json()["grade"]
    assert grade["level"] == "II" and grade["rule_id"] == "override"
    assert grade["override"]["by"] == "commander.li" and grade["computed"]["level"] == "III"
    listed = (await client.get("/api/v1/incidents", params={"grade": "II"}, headers=officer)).json()
    assert [i["id"] for i in listed["items"]] == [incident["id"]]


async def test_roles(client: httpx.AsyncClient, token_for: TokenFor, officer: dict[str, str]) -> None:
    observer = await token_for("observer")
    assert (await client.post("/api/v1/incidents", json=body(), headers=observer)).status_code == 403
    incident = await create(client, officer, body())
    assert (await client.get(f"/api/v1/incidents/{incident['id']}", headers=observer)).status_code == 200
    transition = f"/api/v1/incidents/{incident['id']}/transition"
    assert (await client.post(transition, json={"to": "verified"}, headers=officer)).status_code == 403
    field = await token_for("field_unit", unit_id=5)
    assert (await client.get("/api/v1/incidents", headers=field)).json() == {"items": [], "total": 0}
    assert (await client.get(f"/api/v1/incidents/{incident['id']}", headers=field)).status_code == 404
    assert (await client.get("/api/v1/incidents")).status_code == 401


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        (body(lon=30.64, lat=104.04), "location", "swapped"),
        (body(lon=200.0, lat=30.0), "location", "longitude"),
        (
            {"description": FIRE, "location": {"type": "LineString", "coordinates": [[104, 30], [104.1, 30.1]]}},
            "location",
            "",
        ),
        (body(facts={"deaths": -1}), "facts.deaths", ""),
        (body(facts={"injuries": 2.5}), "facts.injuries", ""),
        (body("x" * 30_000), "description", "20000"),
        (body("   "), "description", ""),
        (body(category="alien_invasion"), "category", ""),
        (body(subtype="volcano_on_mars"), "subtype", ""),
        (body(category="public_health", subtype="building_fire"), "subtype", ""),
        ({"location": {"type": "Point", "coordinates": [104.0, 30.6]}}, "description", ""),
    ],
    ids=[
        "swapped",
        "lon-range",
        "not-a-point",
        "negative",
        "fractional-count",
        "too-long",
        "blank",
        "category",
        "subtype",
        "mismatch",
        "missing",
    ],
)
async def test_bad_input_is_422_naming_the_field(
    client: httpx.AsyncClient,
    officer: dict[str, str],
    session: AsyncSession,
    payload: dict[str, Any],
    field: str,
    words: str,
) -> None:
    before = (
        await _count(session, "incident"),
        await _count(session, "incident_timeline"),
        await _incident_events(session),
    )
    response = await client.post("/api/v1/incidents", json=payload, headers=officer)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert field in detail and words in detail
    after = (
        await _count(session, "incident"),
        await _count(session, "incident_timeline"),
        await _incident_events(session),
    )
    assert after == before, "a refused report writes nothing"


async def test_nan_count_is_refused(client: httpx.AsyncClient, officer: dict[str, str]) -> None:
    raw = (
        '{"description": "fire", "location": {"type": "Point", "coordinates": [104.0, 30.6]}, "facts": {"deaths": NaN}}'
    )
    response = await client.post(
        "/api/v1/incidents", content=raw, headers={**officer, "Content-Type": "application/json"}
    )
    assert response.status_code == 422 and "deaths" in response.json()["detail"]


async def test_incident_responses_carry_the_matching_plans(
    client: httpx.AsyncClient, officer: dict[str, str], session: AsyncSession
) -> None:
    from plans import service as plans

    [(_, document)] = plans.read_plans(plans.LIBRARY / "building-fire.yaml")
    await plans.load_plan(session, document=document, source="test")
    await session.commit()
    incident = await create(client, officer, body())
    assert [m["plan_id"] for m in incident["plan_matches"]] == ["cn-building-fire"]
    assert incident["plan_matches"][0]["reasons"] and incident["plan_matches"][0]["score"] > 0
    fetched = (await client.get(f"/api/v1/incidents/{incident['id']}", headers=officer)).json()
    assert fetched["plan_matches"] == incident["plan_matches"]


async def test_incidents_tile_layer(
    client: httpx.AsyncClient, officer: dict[str, str], commander: dict[str, str]
) -> None:
    import mapbox_vector_tile

    from tests.gis.conftest import tile_of

    fire = await create(client, officer, body())
    quake = await create(client, officer, body("成都市武侯区发生4.2级地震", *offset(*WUHOU, 300)))
    closed = await create(client, officer, body("居民楼阳台起火，已扑灭，无人员伤亡", *offset(*WUHOU, 600)))
    url = f"/api/v1/incidents/{closed['id']}/transition"
    await client.post(url, json={"to": "cancelled", "reason": "false alarm"}, headers=commander)
    x, y = tile_of(*WUHOU, 14)
    answer = await client.get(f"/api/v1/tiles/incidents/14/{x}/{y}.pbf", headers=officer)
    assert answer.status_code == 200, answer.text
    features = mapbox_vector_tile.decode(answer.content)["incidents"]["features"]
    by_id = {f["id"]: f["properties"] for f in features}
    assert set(by_id) == {fire["id"], quake["id"]}  # the cancelled one has left the live map
    assert by_id[fire["id"]]["level"] == "III" and by_id[fire["id"]]["subtype"] == "building_fire"
    empty = await client.get("/api/v1/tiles/incidents/14/0/0.pbf", headers=officer)
    assert empty.status_code == 204
