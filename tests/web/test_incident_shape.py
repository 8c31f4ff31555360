"""One incident shape: the 201 body, its ``incident.created`` event, ``GET /incidents/{id}``, a list item (JSON and
GeoJSON) and every ``incident.updated`` are the same object, plan matches included; the matches are stored when the
incident or the plan library changes, and read, not recomputed."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.events import Event
from plans.service import LIBRARY
from tests.conftest import TokenFor

WUHOU = {"type": "Point", "coordinates": [104.0430, 30.6420]}
FIRE = "成都市武侯区一居民楼发生火灾，2人受伤。"
EARTHQUAKE = LIBRARY / "earthquake.yaml"
BUILDING_FIRE = LIBRARY / "building-fire.yaml"
YAML = {"Content-Type": "application/yaml"}


async def _newest_event(session: AsyncSession, incident_id: int, type: str) -> Event:
    stmt = select(Event).where(Event.incident_id == incident_id, Event.type == type).order_by(Event.id.desc())
    event = (await session.scalars(stmt.limit(1))).first()
    assert event is not None, f"no {type} event for incident {incident_id}"
    return event


def _incident_of(event: Event, change: str) -> dict[str, Any]:
    """The incident an event carries, after checking what it says changed."""
    data = dict(event.data)
    assert data.pop("change") == change
    return data


async def _read_and_listed(client: httpx.AsyncClient, auth: dict[str, str], incident_id: int) -> list[Any]:
    """The incident as GET answers it, as a list item, and rebuilt from its GeoJSON feature."""
    got = (await client.get(f"/api/v1/incidents/{incident_id}", headers=auth)).json()
    items = (await client.get("/api/v1/incidents", headers=auth)).json()["items"]
    features = (await client.get("/api/v1/incidents?format=geojson", headers=auth)).json()["features"]
    feature = next(f for f in features if f["id"] == incident_id)
    return [
        got,
        next(i for i in items if i["id"] == incident_id),
        {**feature["properties"], "location": feature["geometry"]},
    ]


async def _load(client: httpx.AsyncClient, auth: dict[str, str], path: Any) -> None:
    response = await client.post("/api/v1/plans", content=path.read_bytes(), headers={**auth, **YAML})
    assert response.status_code == 201, response.text


async def test_the_answer_the_event_a_read_and_a_list_item_are_one_object(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor
) -> None:
    officer, commander = await token_for("duty_officer"), await token_for("commander")
    await _load(client, commander, BUILDING_FIRE)
    response = await client.post("/api/v1/incidents", json={"description": FIRE, "location": WUHOU}, headers=officer)
    assert response.status_code == 201, response.text
    created = response.json()
    assert [m["plan_id"] for m in created["plan_matches"]] == ["cn-building-fire"]
    event = await _newest_event(session, created["id"], "incident.created")
    assert _incident_of(event, "created") == created, "incident.created carries the incident as the 201 shows it"
    assert await _read_and_listed(client, commander, created["id"]) == [created] * 3

    changes = [
        ("PATCH", "", {"facts": {"injuries": 40}}, "facts_corrected"),
        ("POST", "/grade", {"level": "I", "reason": "a whole block burns"}, "grade"),
        ("POST", "/transition", {"to": "verified"}, "status"),
    ]
    answers = []
    for method, path, payload, change in changes:
        answer = await client.request(
            method, f"/api/v1/incidents/{created['id']}{path}", json=payload, headers=commander
        )
        assert answer.status_code == 200, answer.text
        event = await _newest_event(session, created["id"], "incident.updated")
        assert _incident_of(event, change) == answer.json(), f"{change}: the event and the answer differ"
        assert await _read_and_listed(client, commander, created["id"]) == [answer.json()] * 3, change
        answers.append(answer.json())
    regraded = answers[1]
    assert regraded["grade"]["level"] == "I" and regraded["plan_matches"][0]["level"] == "I"
    assert regraded["plan_matches"] != created["plan_matches"], "a regrade matches the incident again"


async def test_reads_use_the_stored_matches(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor
) -> None:
    """What GET, the list and plan-matches answer is what was stored: a read computes nothing."""
    officer = await token_for("duty_officer")
    await _load(client, await token_for("commander"), BUILDING_FIRE)
    created = (
        await client.post("/api/v1/incidents", json={"description": FIRE, "location": WUHOU}, headers=officer)
    ).json()
    planted = [{**created["plan_matches"][0], "reasons": ["planted by the test"]}]
    plant = text("UPDATE incident SET plan_matches = CAST(:matches AS jsonb) WHERE id = :id")
    await session.execute(plant, {"matches": json.dumps(planted), "id": created["id"]})
    await session.commit()
    got, listed, _ = await _read_and_listed(client, officer, created["id"])
    matches = (await client.get(f"/api/v1/incidents/{created['id']}/plan-matches", headers=officer)).json()
    assert got["plan_matches"] == listed["plan_matches"] == matches["items"] == planted


async def test_a_new_plan_matches_the_open_incidents_again(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor
) -> None:
    """Loading a plan version matches every open incident again, in the same transaction, and announces each one
    whose matches changed; a closed incident keeps the matches it closed with; a plan that changes nothing for an
    incident announces nothing."""
    officer, commander = await token_for("duty_officer"), await token_for("commander")
    quake = {"description": "四川某地发生5.8级地震，3人受伤。", "location": WUHOU}
    open_one = (await client.post("/api/v1/incidents", json=quake, headers=officer)).json()
    closed = (await client.post("/api/v1/incidents", json={**quake, "title": "余震"}, headers=officer)).json()
    fire = (
        await client.post("/api/v1/incidents", json={"description": FIRE, "location": WUHOU}, headers=officer)
    ).json()
    for step in ("verified", "responding", "contained", "closed"):
        moved = await client.post(f"/api/v1/incidents/{closed['id']}/transition", json={"to": step}, headers=commander)
        assert moved.status_code == 200, moved.text
    assert open_one["plan_matches"] == closed["plan_matches"] == fire["plan_matches"] == []

    await _load(client, commander, EARTHQUAKE)
    got, listed, _ = await _read_and_listed(client, officer, open_one["id"])
    assert [m["plan_id"] for m in got["plan_matches"]] == ["cn-earthquake"] and listed == got
    event = await _newest_event(session, open_one["id"], "incident.updated")
    assert _incident_of(event, "plan_matches") == got and got["version"] == open_one["version"]
    still = (await client.get(f"/api/v1/incidents/{closed['id']}", headers=officer)).json()
    assert still["plan_matches"] == [], "a closed incident keeps the matches it closed with"
    untouched = (await client.get(f"/api/v1/incidents/{fire['id']}", headers=officer)).json()
    assert untouched["plan_matches"] == [] and untouched == fire
    with pytest.raises(AssertionError, match="no incident.updated"):
        await _newest_event(session, fire["id"], "incident.updated")
