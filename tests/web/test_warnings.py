"""A warning's life: issued, updated (superseding), cancelled, expired on its own; joined in the middle; the active
list, its GeoJSON and Atom; events; an incident inside an active warning's area; an incident opened from a warning;
incidents exported as CAP 1.2 (Alert, Update, Cancel, Exercise), each valid against the OASIS schema."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.users import Role
from notify.service import validate_cap
from tests.conftest import TokenFor
from tests.support.cap_messages import message

CAP = {"Content-Type": "application/cap+xml"}
SENDER = "cma@weather.example.cn"
SENT = "2026-12-07T10:00:00+08:00"


@pytest.fixture
async def desk(token_for: TokenFor) -> dict[str, str]:
    return await token_for(Role.duty_officer)


async def _post(client: httpx.AsyncClient, headers: dict[str, str], body: bytes, status: int = 201) -> dict:
    response = await client.post("/api/v1/cap", content=body, headers={**headers, **CAP})
    assert response.status_code == status, response.text
    return response.json()


async def _active(client: httpx.AsyncClient, headers: dict[str, str]) -> list[int]:
    response = await client.get("/api/v1/warnings?active=true", headers=headers)
    assert response.status_code == 200
    return [w["id"] for w in response.json()["items"]]


async def _events(session: AsyncSession) -> list[tuple[str, dict]]:
    rows = await session.execute(text("SELECT type, data FROM event WHERE type LIKE 'warning.%' ORDER BY id"))
    return [(r[0], r[1]) for r in rows]


async def test_issued_updated_cancelled(client: httpx.AsyncClient, desk: dict[str, str], session: AsyncSession) -> None:
    alert = (await _post(client, desk, message("rain-1")))["items"][0]
    assert alert["state"] == "active" and alert["colour"] == "red" and alert["subtype"] == "rainstorm"
    assert await _active(client, desk) == [alert["id"]]

    update = await _post(
        client,
        desk,
        message("rain-2", msg_type="Update", sent="2026-12-07T11:00:00+08:00", references=f"{SENDER},rain-1,{SENT}",
                severity="Severe", headline="成都市气象台将暴雨红色预警降为橙色"),
    )  # fmt: skip
    new, old = update["items"]
    assert new["msg_type"] == "Update" and new["colour"] == "orange" and new["references_unknown"] is False
    assert old["id"] == alert["id"] and old["state"] == "superseded" and old["superseded_by"] == new["id"]
    assert await _active(client, desk) == [new["id"]]

    cancel = await _post(
        client,
        desk,
        message("rain-3", msg_type="Cancel", sent="2026-12-07T12:00:00+08:00",
                references=f"{SENDER},rain-1,{SENT} {SENDER},rain-2,2026-12-07T11:00:00+08:00"),
    )  # fmt: skip
    assert cancel["items"][0]["state"] == "message"
    assert {w["id"]: w["state"] for w in cancel["items"][1:]} == {alert["id"]: "cancelled", new["id"]: "cancelled"}
    assert await _active(client, desk) == []
    events = await _events(session)
    assert [e[0] for e in events] == ["warning.issued", "warning.updated", "warning.cancelled"]
    assert events[1][1]["superseded"] == [alert["id"]] and sorted(events[2][1]["cancelled"]) == sorted(
        [alert["id"], new["id"]]
    )


async def test_a_cancel_of_the_first_message_ends_its_updates_too(
    client: httpx.AsyncClient, desk: dict[str, str]
) -> None:
    await _post(client, desk, message("t-1"))
    update = await _post(client, desk, message("t-2", msg_type="Update", references=f"{SENDER},t-1,{SENT}",
                                               sent="2026-12-07T11:00:00+08:00"))  # fmt: skip
    await _post(client, desk, message("t-3", msg_type="Cancel", references=f"{SENDER},t-1,{SENT}",
                                      sent="2026-12-07T12:00:00+08:00"))  # fmt: skip
    got = await client.get(f"/api/v1/warnings/{update['items'][0]['id']}", headers=desk)
    assert got.json()["state"] == "cancelled"


async def test_joining_in_the_middle(client: httpx.AsyncClient, desk: dict[str, str]) -> None:
    """An Update whose Alert we never saw is stored and flagged; when the Alert turns up late, it arrives superseded
    and the Update no longer says its references are unknown."""
    update = (
        await _post(
            client,
            desk,
            message("mid-2", msg_type="Update", references=f"{SENDER},mid-1,{SENT}", sent="2026-12-07T11:00:00+08:00"),
        )  # fmt: skip
    )["items"][0]
    assert update["references_unknown"] is True and update["state"] == "active"
    late = (await _post(client, desk, message("mid-1")))["items"][0]
    assert late["state"] == "superseded" and late["superseded_by"] == update["id"]
    again = await client.get(f"/api/v1/warnings/{update['id']}", headers=desk)
    assert again.json()["references_unknown"] is False
    assert again.json()["references"][0]["warning_ids"] == [late["id"]]
    assert await _active(client, desk) == [update["id"]]


async def test_expired_warnings_leave_the_active_list_on_their_own(
    client: httpx.AsyncClient, desk: dict[str, str]
) -> None:
    gone = (await _post(client, desk, message("old-1", sent="2020-01-01T00:00:00+08:00",
                                              expires="2020-01-02T00:00:00+08:00")))["items"][0]  # fmt: skip
    assert gone["state"] == "expired" and gone["active"] is False
    drill = (await _post(client, desk, message("drill-1", status="Exercise")))["items"][0]
    test = (await _post(client, desk, message("test-1", status="Test")))["items"][0]
    assert test["state"] == "not_public"
    assert await _active(client, desk) == [drill["id"]]
    everything = await client.get("/api/v1/warnings", headers=desk)
    assert everything.json()["total"] == 3


async def test_active_warnings_as_geojson_and_atom(client: httpx.AsyncClient, desk: dict[str, str]) -> None:
    made = (await _post(client, desk, message("map-1", polygon=None, circle="30.65,104.06 5")))["items"][0]
    await _post(client, desk, message("map-2", msg_type="Cancel", references=f"{SENDER},map-1,{SENT}",
                                      sent="2026-12-07T12:00:00+08:00"), 201)  # fmt: skip
    live = (await _post(client, desk, message("map-3")))["items"][0]
    collection = (await client.get("/api/v1/warnings?active=true&format=geojson", headers=desk)).json()
    assert collection["type"] == "FeatureCollection" and collection["total"] == 1
    (only,) = collection["features"]
    assert only["id"] == live["id"] and only["geometry"]["type"] == "MultiPolygon"
    assert only["properties"]["colour"] == "red"
    # The circle became a polygon about 5 km around its centre.
    circle = (await client.get(f"/api/v1/warnings/{made['id']}", headers=desk)).json()["area"]
    lons = [p[0] for p in circle["coordinates"][0][0]]
    assert circle["type"] == "MultiPolygon" and 0.09 < max(lons) - min(lons) < 0.13
    atom = await client.get("/api/v1/warnings.atom", headers=desk)
    assert atom.status_code == 200 and atom.headers["content-type"].startswith("application/atom+xml")
    assert f"/api/v1/warnings/{live['id']}/cap".encode() in atom.content
    assert f"/api/v1/warnings/{made['id']}/cap".encode() not in atom.content


async def _incident(client: httpx.AsyncClient, headers: dict[str, str], **extra: object) -> dict:
    body = {
        "description": "锦江区春熙路暴雨积水严重，有车辆被困",
        "location": {"type": "Point", "coordinates": [104.08, 30.65]},
    }
    response = await client.post("/api/v1/incidents", json={**body, **extra}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_an_incident_inside_an_active_warning_shows_it(client: httpx.AsyncClient, desk: dict[str, str]) -> None:
    warning = (await _post(client, desk, message("over-1")))["items"][0]
    await _post(client, desk, message("far-1", polygon="39.8,116.3 39.8,116.4 39.9,116.4 39.9,116.3 39.8,116.3"))
    incident = await _incident(client, desk)
    shown = await client.get(f"/api/v1/incidents/{incident['id']}/warnings", headers=desk)
    assert [w["id"] for w in shown.json()["items"]] == [warning["id"]]


async def test_open_an_incident_from_a_warning(
    client: httpx.AsyncClient, desk: dict[str, str], token_for: TokenFor
) -> None:
    warning = (await _post(client, desk, message("open-1")))["items"][0]
    observer = await token_for(Role.observer)
    assert (await client.post(f"/api/v1/warnings/{warning['id']}/incident", headers=observer)).status_code == 403
    opened = await client.post(f"/api/v1/warnings/{warning['id']}/incident", headers=desk)
    assert opened.status_code == 201, opened.text
    incident = opened.json()
    assert incident["subtype"] == "rainstorm" and incident["title"] == "成都市气象台发布暴雨红色预警"
    lon, lat = incident["location"]["coordinates"]
    assert 104.0 < lon < 104.12 and 30.6 < lat < 30.7
    linked = (await client.get(f"/api/v1/warnings/{warning['id']}", headers=desk)).json()
    assert linked["incident_id"] == incident["id"]
    timeline = (await client.get(f"/api/v1/incidents/{incident['id']}/timeline", headers=desk)).json()["items"]
    assert any(e["kind"] == "warning_linked" and e["data"]["warning_id"] == warning["id"] for e in timeline)
    shown = await client.get(f"/api/v1/incidents/{incident['id']}/warnings", headers=desk)
    assert [w["id"] for w in shown.json()["items"]] == [warning["id"]]
    again = await client.post(f"/api/v1/warnings/{warning['id']}/incident", headers=desk)
    assert again.status_code == 200 and again.json()["id"] == incident["id"]


async def test_incident_exports_alert_update_cancel_and_exercise(
    client: httpx.AsyncClient, desk: dict[str, str], token_for: TokenFor
) -> None:
    incident = await _incident(client, desk, facts={"deaths": 150})
    assert incident["grade"]["level"] == "II"
    first = await client.get(f"/api/v1/incidents/{incident['id']}/cap", headers=desk)
    assert first.status_code == 200 and first.headers["content-type"].startswith("application/cap+xml")
    validate_cap(first.content)
    document = first.content.decode()
    assert "<msgType>Alert</msgType>" in document and "<status>Actual</status>" in document
    assert "<language>zh-CN</language>" in document and "<language>en</language>" in document
    assert "<severity>Severe</severity>" in document  # grade II
    assert "<circle>30.65,104.08 " in document and "<references>" not in document

    commander = await token_for(Role.commander)
    moved = await client.post(f"/api/v1/incidents/{incident['id']}/transition", json={"to": "verified"},
                              headers=commander)  # fmt: skip
    assert moved.status_code == 200, moved.text
    update = (await client.get(f"/api/v1/incidents/{incident['id']}/cap", headers=desk)).content
    validate_cap(update)
    assert b"<msgType>Update</msgType>" in update and b"<certainty>Observed</certainty>" in update
    assert f"<references>commandpost@localhost,commandpost-incident-{incident['id']},".encode() in update

    for step in ("responding", "contained", "closed"):
        response = await client.post(f"/api/v1/incidents/{incident['id']}/transition", json={"to": step},
                                     headers=commander)  # fmt: skip
        assert response.status_code == 200, response.text
    closed = (await client.get(f"/api/v1/incidents/{incident['id']}/cap", headers=desk)).content
    validate_cap(closed)
    assert b"<msgType>Cancel</msgType>" in closed and b"<urgency>Past</urgency>" in closed

    drill = await _incident(client, desk, source="drill")
    exercise = (await client.get(f"/api/v1/incidents/{drill['id']}/cap", headers=desk)).content
    validate_cap(exercise)
    assert b"<status>Exercise</status>" in exercise
    # Our own export imports back as a warning.
    again = await _post(client, desk, exercise)
    assert again["items"][0]["status"] == "Exercise" and again["items"][0]["area"]["type"] == "MultiPolygon"


async def test_the_expiry_sweep_ends_warnings_once(
    client: httpx.AsyncClient, desk: dict[str, str], session: AsyncSession
) -> None:
    from datetime import datetime, timedelta

    from incidents import service

    soon = (await _post(client, desk, message("soon-1", expires="2027-01-01T00:00:00+08:00")))["items"][0]
    later = (await _post(client, desk, message("later-1")))["items"][0]
    at = datetime.fromisoformat("2027-01-01T00:00:01+08:00")
    assert await service.sweep_expired_warnings(session, now=at) == 1
    assert await service.sweep_expired_warnings(session, now=at + timedelta(hours=1)) == 0
    await session.commit()  # the unit of work writes the queued events
    expired = [e for e in await _events(session) if e[0] == "warning.expired"]
    assert [e[1]["id"] for e in expired] == [soon["id"]] and expired[0][1]["state"] == "expired"
    assert later["id"] in await _active(client, desk)


async def test_active_warnings_are_a_tile_layer(client: httpx.AsyncClient, desk: dict[str, str]) -> None:
    import mapbox_vector_tile

    from tests.support.lean_worker import tile_of

    live = (await _post(client, desk, message("tile-1")))["items"][0]
    await _post(client, desk, message("tile-2", sent="2020-01-01T00:00:00+08:00", expires="2020-01-02T00:00:00+08:00"))
    x, y = tile_of(104.06, 30.65, 12)
    answer = await client.get(f"/api/v1/tiles/warnings/12/{x}/{y}.pbf", headers=desk)
    assert answer.status_code == 200, answer.text
    features = mapbox_vector_tile.decode(answer.content)["warnings"]["features"]
    assert [(f["id"], f["properties"]["colour"]) for f in features] == [(live["id"], "red")]
    far_x, far_y = tile_of(116.4, 39.9, 12)
    assert (await client.get(f"/api/v1/tiles/warnings/12/{far_x}/{far_y}.pbf", headers=desk)).status_code == 204
