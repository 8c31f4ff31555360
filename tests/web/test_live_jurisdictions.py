"""``WS /ws/command`` for a user scoped to jurisdictions, with real websocket clients against a real server: the
events of incidents outside (incident events and those that only name the incident: dispatches) never reach it,
live or replayed, whatever the client's own filter; a new incident inside is followed from its first event; a change
of the user's jurisdictions cuts the stream off (it was built on the old ones)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from core.users import Role, add_user
from tests.web.test_jurisdiction_scope import add_area
from web.socket_auth import ROLE_WITHDRAWN
from web.state import state_of

PASSWORD = "district-password"


@pytest.fixture
async def http(live_server: str) -> Any:
    async with httpx.AsyncClient(base_url=f"http://{live_server}") as client:
        yield client


async def _user(live_app: Any, http: httpx.AsyncClient, name: str, role: Role, scope: list[int] | None) -> str:
    async with state_of(live_app).sessionmaker() as session:
        await add_user(session, username=name, password=PASSWORD, role=role, jurisdiction_ids=scope)
        await session.commit()
    signed = await http.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD})
    assert signed.status_code == 200, signed.text
    return str(signed.json()["access_token"])


def _incident_of(message: dict[str, Any]) -> object:
    data = message["data"]
    return data.get("id") if message["type"].startswith("incident.") else data.get("incident_id")


async def _until(ws: ClientConnection, done: Any, timeout: float = 15) -> list[dict[str, Any]]:
    """Messages until ``done(message)`` is true (that one included)."""
    seen: list[dict[str, Any]] = []
    while not seen or not done(seen[-1]):
        seen.append(json.loads(await asyncio.wait_for(ws.recv(), timeout)))
    return seen


async def test_a_scoped_stream_carries_only_its_district(
    live_app: Any, live_server: str, http: httpx.AsyncClient
) -> None:
    async with state_of(live_app).sessionmaker() as session:
        east = await add_area(session, "东区", (110.0, 20.0, 110.2, 20.2), name_en="East District", code="LV-E")
        west = await add_area(session, "西区", (110.3, 20.0, 110.5, 20.2), name_en="West District", code="LV-W")
        await session.commit()
    chief = await _user(live_app, http, "live.chief", Role.commander, None)
    officer = await _user(live_app, http, "live.east", Role.duty_officer, [east])
    admin = await _user(live_app, http, "live.admin", Role.admin, None)
    auth = {"Authorization": f"Bearer {chief}"}

    async def incident(lon: float) -> int:
        body = {"description": "仓库起火，无人员伤亡", "location": {"type": "Point", "coordinates": [lon, 20.1]}}
        made = await http.post("/api/v1/incidents", json=body, headers=auth)
        assert made.status_code == 201, made.text
        return int(made.json()["id"])

    async def dispatch(incident_id: int, lon: float) -> int:
        unit = {
            "type": "ambulance",
            "name": f"unit-{incident_id}",
            "location": {"type": "Point", "coordinates": [lon, 20.1]},
        }
        made = await http.post("/api/v1/resources", json=unit, headers=auth)
        assert made.status_code == 201, made.text
        sent = await http.post(
            f"/api/v1/incidents/{incident_id}/dispatches", json={"unit_ids": [made.json()["id"]]}, headers=auth
        )
        assert sent.status_code == 201, sent.text
        return int(sent.json()["items"][0]["id"])

    def last_east_dispatch(message: dict[str, Any]) -> bool:
        return message["type"] == "dispatch.created" and message["data"]["id"] == east_dispatch

    url = f"ws://{live_server}/ws/command?token={officer}&ready=1"
    async with connect(url) as everything, connect(url + "&types=dispatch.") as dispatches_only:
        start = json.loads(await everything.recv())["last_id"]
        await dispatches_only.recv()  # its ready frame
        west_incident = await incident(110.4)
        await dispatch(west_incident, 110.4)
        east_incident = await incident(110.1)  # made after the stream started: followed from its creation
        east_dispatch = await dispatch(east_incident, 110.1)
        seen = await _until(everything, last_east_dispatch)
        only = await _until(dispatches_only, last_east_dispatch)
    assert {_incident_of(m) for m in seen if _incident_of(m) is not None} == {east_incident}
    assert {"incident.created", "dispatch.created"} <= {m["type"] for m in seen}
    assert [m["type"] for m in only] == ["dispatch.created"] and _incident_of(only[0]) == east_incident
    # The unscoped see both (the same events exist: the filter, not the traffic, made the difference).
    async with connect(f"ws://{live_server}/ws/command?token={chief}&since={start}") as whole:
        every = await _until(whole, last_east_dispatch)
    assert {_incident_of(m) for m in every if _incident_of(m) is not None} == {west_incident, east_incident}

    # Replayed from the start: the same, and nothing of the west.
    async with connect(f"ws://{live_server}/ws/command?token={officer}&since={start}") as replay:
        replayed = await _until(replay, last_east_dispatch)
    assert [m["id"] for m in replayed] == [m["id"] for m in seen]

    # Widened by an admin: the open stream was built on the old scope, so it is cut off; a new one sees the west.
    async with connect(f"ws://{live_server}/ws/command?token={officer}&ready=1") as ws:
        await ws.recv()
        [row] = [
            u
            for u in (await http.get("/api/v1/users", headers={"Authorization": f"Bearer {admin}"})).json()["items"]
            if u["username"] == "live.east"
        ]
        widened = await http.patch(
            f"/api/v1/users/{row['id']}",
            json={"jurisdictions": [east, west]},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert widened.status_code == 200, widened.text
        await incident(110.45)  # an event to send: the stream proves its user again first
        with pytest.raises(ConnectionClosed) as closed:
            await _until(ws, lambda m: False, timeout=15)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == ROLE_WITHDRAWN
