"""Unit positions on ``WS /ws/command`` with real clients against a real server: coalesced per unit (the first move
at once, the newest of a burst once the interval is over, never a stale one last) and bbox views (a unit that
leaves gets one ``unit.left_view``, nothing more until it is back)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from core.clock import utcnow
from tests.conftest import TokenFor

INSIDE = (104.06, 30.66)
BBOX = "104.0,30.6,104.1,30.7"


@pytest.fixture
async def http(live_server: str) -> Any:
    async with httpx.AsyncClient(base_url=f"http://{live_server}") as client:
        yield client


async def _unit(http: httpx.AsyncClient, auth: dict[str, str], name: str) -> int:
    body = {"type": "ambulance", "name": name, "location": {"type": "Point", "coordinates": list(INSIDE)}}
    response = await http.post("/api/v1/resources", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _fix(
    http: httpx.AsyncClient, auth: dict[str, str], unit: int, lon: float, lat: float, at: datetime | None = None
) -> None:
    when = (at or utcnow()).isoformat()
    body = [{"unit_id": unit, "location": {"type": "Point", "coordinates": [lon, lat]}, "at": when}]
    response = await http.post("/api/v1/units/locations", json=body, headers=auth)
    assert response.status_code == 200 and response.json()["results"][0]["moved"], response.text


async def _ready(ws: ClientConnection) -> None:
    frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert frame["type"] == "ready", frame


async def _positions(ws: ClientConnection, wanted: int, *, quiet_s: float) -> list[dict[str, Any]]:
    """Unit messages until ``wanted`` have come (10 s at most), then any more within ``quiet_s``."""
    got: list[dict[str, Any]] = []
    while True:
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10 if len(got) < wanted else quiet_s))
        except TimeoutError:
            if len(got) < wanted:
                raise AssertionError(f"only {got} within 10 s") from None
            return got
        if message["type"].startswith("unit."):
            got.append(message)


async def test_a_burst_of_fixes_reaches_the_room_as_the_first_and_the_newest(
    live_server: str, http: httpx.AsyncClient, live_token_for: TokenFor
) -> None:
    auth = await live_token_for("commander")
    token = auth["Authorization"].removeprefix("Bearer ")
    unit = await _unit(http, auth, "Burst")
    async with connect(f"ws://{live_server}/ws/command?token={token}&ready=1&types=unit.") as ws:
        await _ready(ws)
        start = utcnow() - timedelta(seconds=2)
        for i in range(6):  # six fixes sent in well under the 1 s interval, a metre and a second apart as observed
            await _fix(http, auth, unit, INSIDE[0] + i / 100_000, INSIDE[1], start + timedelta(seconds=i / 5))
        got = await _positions(ws, 2, quiet_s=2.5)
    assert [m["type"] for m in got] == ["unit.location", "unit.location"], got
    assert got[0]["data"]["location"]["coordinates"] == [INSIDE[0], INSIDE[1]]
    assert got[-1]["data"]["location"]["coordinates"] == [INSIDE[0] + 5 / 100_000, INSIDE[1]]  # the newest, last
    assert got[0]["id"] < got[1]["id"]


async def test_a_unit_leaving_a_bbox_view_is_said_once(
    live_server: str, http: httpx.AsyncClient, live_token_for: TokenFor
) -> None:
    auth = await live_token_for("commander")
    token = auth["Authorization"].removeprefix("Bearer ")
    leaver, stayer = await _unit(http, auth, "Leaver"), await _unit(http, auth, "Stayer")
    async with connect(f"ws://{live_server}/ws/command?token={token}&ready=1&types=unit.&bbox={BBOX}") as ws:
        await _ready(ws)
        # Observed minutes apart (so every move is plausible), sent about a second apart (so each goes at once).
        ago = [utcnow() - timedelta(minutes=m) for m in (25, 15, 5)]
        await _fix(http, auth, stayer, 104.061, 30.661, ago[0])  # inside: the view gets it
        await _fix(http, auth, leaver, 104.2, 30.661, ago[0])  # out: the view is told, once
        [inside, left] = await _positions(ws, 2, quiet_s=0.5)
        await asyncio.sleep(1.1)  # past the interval, so that each next fix goes at once
        await _fix(http, auth, leaver, 104.3, 30.661, ago[1])  # further out: nothing
        await _fix(http, auth, stayer, 104.062, 30.661, ago[1])
        [still] = await _positions(ws, 1, quiet_s=0.5)
        await asyncio.sleep(1.1)
        await _fix(http, auth, leaver, 104.07, 30.661, ago[2])  # back in: its position again
        [back] = await _positions(ws, 1, quiet_s=0.5)
    assert (inside["type"], inside["data"]["id"]) == ("unit.location", stayer)
    assert (left["type"], left["data"]["id"]) == ("unit.left_view", leaver)
    assert set(left) == {"id", "type", "at", "data"} and left["id"] > inside["id"]
    assert left["data"]["location"]["coordinates"] == [104.2, 30.661]
    assert (still["type"], still["data"]["id"]) == ("unit.location", stayer)
    assert (back["type"], back["data"]["id"]) == ("unit.location", leaver) and back["id"] > still["id"]


async def test_phones_single_fixes_are_committed_together_and_reach_the_room(
    live_app: Any, http: httpx.AsyncClient, live_server: str, live_token_for: TokenFor
) -> None:
    """Twelve phones at once through a real server: the worker's batcher commits them together (fewer commits
    than fixes), each phone hears of its own fix, a phone reporting for another unit is refused alone (403 in the
    error shape), and every move reaches the command room."""
    from web.state import state_of

    admin = await live_token_for("admin")
    units = [await _unit(http, admin, f"Phone {i}") for i in range(12)]
    crews = [await live_token_for("field_unit", unit_id=u) for u in units]
    commander = await live_token_for("commander")
    token = commander["Authorization"].split()[1]
    async with connect(f"ws://{live_server}/ws/command?token={token}&ready=1&types=unit.") as ws:
        await _ready(ws)
        batcher = state_of(live_app).fixes
        assert batcher is not None
        before = batcher.stats.batches

        async def report(i: int, unit: int, auth: dict[str, str]) -> httpx.Response:
            body = {"type": "Point", "coordinates": [104.05 + i * 1e-4, 30.65]}
            return await http.post(f"/api/v1/units/{unit}/location", json=body, headers=auth)

        answers = await asyncio.gather(*(report(i, u, a) for i, (u, a) in enumerate(zip(units, crews, strict=True))))
        stranger = await report(0, units[1], crews[0])

        assert [r.status_code for r in answers] == [200] * 12, [r.text for r in answers if r.status_code != 200]
        for i, (unit, answer) in enumerate(zip(units, answers, strict=True)):
            body = answer.json()
            assert body["unit"]["id"] == body["fix"]["unit_id"] == unit and body["moved"] is True
            assert body["fix"]["location"]["coordinates"] == [104.05 + i * 1e-4, 30.65]
        assert len({a.json()["fix"]["id"] for a in answers}) == 12
        assert stranger.status_code == 403 and stranger.json()["error"] == "forbidden"
        assert 0 < batcher.stats.batches - before < 13 and batcher.stats.largest > 1

        moved: set[int] = set()
        while moved != set(units):
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if message["type"] == "unit.location":
                moved.add(message["data"]["id"])
