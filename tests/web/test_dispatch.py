"""Dispatch and the unit workflow over HTTP: all-or-nothing, races, acknowledgement, statuses, fixes, timers."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.clock import utcnow
from core.db import create_sessionmaker
from core.events import Event
from tests.conftest import TokenFor

SCENE = {"type": "Point", "coordinates": [104.0614, 30.6880]}


async def _unit(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    name: str,
    type: str = "ambulance",
    lon: float = 104.06,
    lat: float = 30.67,
) -> int:
    body = {"type": type, "name": name, "location": {"type": "Point", "coordinates": [lon, lat]}}
    response = await client.post("/api/v1/resources", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _incident(client: httpx.AsyncClient, auth: dict[str, str], text: str = "居民楼火灾，2人受伤") -> int:
    response = await client.post("/api/v1/incidents", json={"description": text, "location": SCENE}, headers=auth)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


@pytest.fixture
async def commander(token_for: TokenFor) -> dict[str, str]:
    return await token_for("commander", username="cmd.zhou")


async def test_dispatch_moves_incident_and_units_and_records(
    client: httpx.AsyncClient, commander: dict[str, str], session: AsyncSession
) -> None:
    units = [await _unit(client, commander, f"A{i}") for i in range(2)]
    incident = await _incident(client, commander)
    response = await client.post(
        f"/api/v1/incidents/{incident}/dispatches", json={"unit_ids": units}, headers=commander
    )
    assert response.status_code == 201, response.text
    dispatches = response.json()["items"]
    assert sorted(d["unit_id"] for d in dispatches) == units and all(d["status"] == "dispatched" for d in dispatches)
    got = (await client.get(f"/api/v1/incidents/{incident}", headers=commander)).json()
    assert got["status"] == "responding"
    for unit in units:
        assert (await client.get(f"/api/v1/resources/{unit}", headers=commander)).json()["status"] == "dispatched"
    types = list(await session.scalars(select(Event.type).where(Event.incident_id == incident).order_by(Event.id)))
    assert types.count("dispatch.created") == 2 and "incident.updated" in types
    kinds = [
        e["kind"]
        for e in (await client.get(f"/api/v1/incidents/{incident}/timeline", headers=commander)).json()["items"]
    ]
    assert "units_dispatched" in kinds


async def test_all_or_nothing_names_the_unit(
    client: httpx.AsyncClient, commander: dict[str, str], session: AsyncSession
) -> None:
    free, busy = await _unit(client, commander, "free"), await _unit(client, commander, "busy")
    first = await _incident(client, commander)
    second = await _incident(client, commander, "仓库起火")
    assert (
        await client.post(f"/api/v1/incidents/{first}/dispatches", json={"unit_ids": [busy]}, headers=commander)
    ).status_code == 201
    refused = await client.post(
        f"/api/v1/incidents/{second}/dispatches", json={"unit_ids": [free, busy]}, headers=commander
    )
    assert refused.status_code == 409 and str(busy) in refused.json()["detail"]
    assert refused.json()["unit_id"] == busy
    # Nothing half-done: the free unit stayed free, the second incident was not moved.
    assert (await client.get(f"/api/v1/resources/{free}", headers=commander)).json()["status"] == "available"
    assert (await client.get(f"/api/v1/incidents/{second}", headers=commander)).json()["status"] == "reported"


async def test_roles_and_acknowledgement(
    client: httpx.AsyncClient, token_for: TokenFor, commander: dict[str, str]
) -> None:
    unit, other = await _unit(client, commander, "U1"), await _unit(client, commander, "U2")
    incident = await _incident(client, commander)
    officer = await token_for("duty_officer")
    url = f"/api/v1/incidents/{incident}/dispatches"
    assert (await client.post(url, json={"unit_ids": [unit]}, headers=officer)).status_code == 403
    [dispatch] = (await client.post(url, json={"unit_ids": [unit]}, headers=commander)).json()["items"]
    crew = await token_for("field_unit", unit_id=unit)
    stranger = await token_for("field_unit", unit_id=other)
    ack = f"/api/v1/dispatches/{dispatch['id']}/ack"
    assert (await client.post(ack, headers=stranger)).status_code == 404  # another unit's dispatch: not there
    assert (await client.post(ack, headers=officer)).status_code == 403
    done = await client.post(ack, headers=crew)
    assert done.status_code == 200 and done.json()["acknowledged_by"] and done.json()["acknowledged_at"]
    assert (await client.post(ack, headers=crew)).status_code == 200  # a second tap is fine
    # The crew now sees its incident, and only that one.
    visible = (await client.get("/api/v1/incidents", headers=crew)).json()
    assert [i["id"] for i in visible["items"]] == [incident]
    assert (await client.get("/api/v1/incidents", headers=stranger)).json()["total"] == 0


async def test_an_incidents_dispatches_and_who_may_read_them(
    client: httpx.AsyncClient, token_for: TokenFor, commander: dict[str, str]
) -> None:
    sent, spare = await _unit(client, commander, "D1"), await _unit(client, commander, "D2")
    incident, elsewhere = await _incident(client, commander), await _incident(client, commander, "仓库起火")
    url = f"/api/v1/incidents/{incident}/dispatches"
    assert (await client.get(url, headers=commander)).json() == {"items": [], "total": 0}
    [made] = (await client.post(url, json={"unit_ids": [sent]}, headers=commander)).json()["items"]

    listed = await client.get(url, headers=commander)
    assert listed.status_code == 200 and listed.json() == {"items": [made], "total": 1}
    assert (made["incident_id"], made["unit_id"], made["status"]) == (incident, sent, "dispatched")
    assert made["created_at"] and made["acknowledged_at"] is None
    for role in ("duty_officer", "observer"):
        assert (await client.get(url, headers=await token_for(role))).json()["items"] == [made], role
    # A field unit reads the dispatches of an incident its unit was sent to, and not even the existence of others.
    crew = await token_for("field_unit", unit_id=sent)
    assert (await client.get(url, headers=crew)).json() == {"items": [made], "total": 1}
    other_incident = await client.get(f"/api/v1/incidents/{elsewhere}/dispatches", headers=crew)
    assert other_incident.status_code == 404 and set(other_incident.json()) == {"error", "detail"}
    stranger = await token_for("field_unit", unit_id=spare)
    assert (await client.get(url, headers=stranger)).status_code == 404
    assert (await client.get(url)).status_code == 401


async def test_status_workflow(client: httpx.AsyncClient, token_for: TokenFor, commander: dict[str, str]) -> None:
    unit = await _unit(client, commander, "W1")
    incident = await _incident(client, commander)
    crew = await token_for("field_unit", unit_id=unit)
    status = f"/api/v1/units/{unit}/status"
    assert (await client.post(status, json={"status": "dispatched"}, headers=crew)).status_code == 409
    assert (await client.post(status, json={"status": "on_scene"}, headers=crew)).status_code == 409
    assert (await client.post(status, json={"status": "flying"}, headers=crew)).status_code == 422
    [dispatch] = (
        await client.post(f"/api/v1/incidents/{incident}/dispatches", json={"unit_ids": [unit]}, headers=commander)
    ).json()["items"]
    for step in ("en_route", "on_scene", "transporting", "at_hospital", "available"):
        response = await client.post(status, json={"status": step}, headers=crew)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == step
    closed = (await client.get(f"/api/v1/dispatches/{dispatch['id']}", headers=commander)).json()
    assert closed["closed_at"] and closed["close_reason"] == "completed"
    # Free again: it can be sent once more.
    again = await client.post(f"/api/v1/incidents/{incident}/dispatches", json={"unit_ids": [unit]}, headers=commander)
    assert again.status_code == 201


async def test_location_fixes_and_the_implausible_one(
    client: httpx.AsyncClient, token_for: TokenFor, commander: dict[str, str]
) -> None:
    unit = await _unit(client, commander, "GPS")
    crew = await token_for("field_unit", unit_id=unit)
    url = f"/api/v1/units/{unit}/location"
    t0 = utcnow() - timedelta(minutes=2)
    first = await client.post(
        url, json={"type": "Point", "coordinates": [104.06, 30.67], "at": t0.isoformat()}, headers=crew
    )
    assert first.status_code == 200 and first.json()["fix"]["trusted"] is True
    # 1 km in a minute is 60 km/h: fine.
    ok = {"type": "Point", "coordinates": [104.0704, 30.67], "at": (t0 + timedelta(minutes=1)).isoformat()}
    assert (await client.post(url, json=ok, headers=crew)).json()["fix"]["trusted"] is True
    # 100 km ten seconds later is not an ambulance: kept, flagged, not trusted.
    jump = {"type": "Point", "coordinates": [105.1, 30.67], "at": (t0 + timedelta(minutes=1, seconds=10)).isoformat()}
    flagged = (await client.post(url, json=jump, headers=crew)).json()
    assert flagged["fix"]["trusted"] is False and flagged["fix"]["speed_kmh"] > 1000
    assert flagged["unit"]["location"]["coordinates"] == [104.0704, 30.67]
    track = (await client.get(f"/api/v1/units/{unit}/track", headers=commander)).json()
    assert [f["trusted"] for f in track["items"]] == [False, True, True]
    swapped = await client.post(url, json={"type": "Point", "coordinates": [30.67, 104.06]}, headers=crew)
    assert swapped.status_code == 422 and "swapped" in swapped.json()["detail"]
    other = await token_for("field_unit", unit_id=unit + 1000)
    assert (await client.post(url, json=ok, headers=other)).status_code == 403


async def test_fifty_commanders_racing_for_one_unit(
    live_client: httpx.AsyncClient, live_token_for: TokenFor, engine: AsyncEngine
) -> None:
    auth = await live_token_for("commander")
    unit = await _unit(live_client, auth, "contested")
    incidents = [await _incident(live_client, auth, f"火灾 {i}") for i in range(5)]
    responses = await asyncio.gather(
        *(
            live_client.post(
                f"/api/v1/incidents/{incidents[i % 5]}/dispatches", json={"unit_ids": [unit]}, headers=auth
            )
            for i in range(50)
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 49, [r.text for r in responses if r.status_code not in (201, 409)]
    assert all(str(unit) in r.json()["detail"] for r in responses if r.status_code == 409)
    async with create_sessionmaker(engine)() as session:
        booked = text("SELECT count(*) FROM dispatch WHERE unit_id = :unit")
        assert await session.scalar(booked, {"unit": unit}) == 1


async def test_overlapping_requests_never_double_book(
    live_client: httpx.AsyncClient, live_token_for: TokenFor, engine: AsyncEngine
) -> None:
    auth = await live_token_for("commander")
    units = [await _unit(live_client, auth, f"pool-{i}") for i in range(5)]
    incidents = [await _incident(live_client, auth, f"事故 {i}") for i in range(4)]
    picks = [[units[(i + k) % 5] for k in range(3)] for i in range(20)]
    responses = await asyncio.gather(
        *(
            live_client.post(f"/api/v1/incidents/{incidents[i % 4]}/dispatches", json={"unit_ids": pick}, headers=auth)
            for i, pick in enumerate(picks)
        )
    )
    # Any two picks of 3 units among 5 share a unit, so exactly one request can win; one must (nothing else holds
    # the units), and every other is refused naming a unit it lost.
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 19, [r.text for r in responses if r.status_code not in (201, 409)]
    [winner] = [(pick, r) for pick, r in zip(picks, responses, strict=True) if r.status_code == 201]
    assert sorted(d["unit_id"] for d in winner[1].json()["items"]) == sorted(winner[0])
    assert all(r.json()["unit_id"] in winner[0] for r in responses if r.status_code == 409)
    async with create_sessionmaker(engine)() as session:
        open_units = list(
            await session.scalars(
                text("SELECT unit_id FROM dispatch WHERE closed_at IS NULL AND unit_id = ANY(:units)"), {"units": units}
            )
        )
    assert sorted(open_units) == sorted(winner[0])  # the winner's three, each in one active dispatch only
