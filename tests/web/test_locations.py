"""Location ingest over HTTP: a gateway's batch judged fix by fix, who may report for which unit, the bounds of a
batch (count, body, rate), the track's window, and the audit of location traffic per burst."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as redis_async
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from command import service as command
from core.audit import AuditEntry
from core.clock import utcnow
from core.events import Event
from core.settings import Settings
from core.users import get_by_username
from tests.conftest import TokenFor
from web.app import create_app
from web.state import state_of

BASE = (104.06, 30.67)


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


async def _unit(client: httpx.AsyncClient, auth: dict[str, str], name: str, type: str = "ambulance") -> int:
    body = {"type": type, "name": name, "location": _point(*BASE)}
    response = await client.post("/api/v1/resources", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


@pytest.fixture
async def commander(token_for: TokenFor) -> dict[str, str]:
    return await token_for("commander", username="cmd.loc")


async def _gateway(session: AsyncSession, token_for: TokenFor, name: str, units: list[int]) -> dict[str, str]:
    auth = await token_for("gateway", username=name)
    user = await get_by_username(session, username=name)
    assert user is not None
    await command.assign_gateway_units(session, user_id=user.id, unit_ids=units)
    await session.commit()
    return auth


async def test_a_batch_is_judged_fix_by_fix(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor, commander: dict[str, str]
) -> None:
    mine = [await _unit(client, commander, f"AVL-{i}") for i in range(3)]
    foreign = await _unit(client, commander, "Not the gateway's")
    station = await _unit(client, commander, "Station", type="fire_station")
    gateway = await _gateway(session, token_for, "avl.gw", mine)
    t0 = utcnow() - timedelta(minutes=10)

    def fix(unit: int, lon: float, lat: float, minutes: float, **more: Any) -> dict[str, Any]:
        return {
            "unit_id": unit,
            "location": _point(lon, lat),
            "at": (t0 + timedelta(minutes=minutes)).isoformat(),
        } | more

    batch = [
        fix(mine[0], 104.061, 30.671, 1, speed=12.5, heading=90, accuracy=8),  # 0 good
        fix(mine[0], 104.070, 30.671, 2),  # 1 good, newer: the unit ends here
        fix(mine[0], 104.065, 30.671, 1.5),  # 2 out of order: kept, moves nothing
        fix(mine[1], 104.061, 30.671, 1),  # 3 good
        fix(mine[1], 105.500, 30.671, 1.1),  # 4 150 km in 6 s: implausible, kept, not trusted
        fix(foreign, 104.061, 30.671, 1),  # 5 a unit not assigned to this gateway
        fix(station, 104.061, 30.671, 1),  # 6 a facility (which no gateway can be assigned)
        {"unit_id": mine[2], "location": {"type": "Point", "coordinates": ["NaN", 30.6]}, "at": t0.isoformat()},  # 7
        fix(mine[2], 181.0, 30.6, 1),  # 8 out of range
        fix(mine[2], 104.06, 30.6, 60),  # 9 fifty minutes in the future
        {"location": _point(104.06, 30.6), "at": t0.isoformat()},  # 10 no unit
        fix(mine[2], 104.06, 30.6, 1, heading=720),  # 11 a heading off the compass
        "not a fix",  # 12
    ]
    response = await client.post("/api/v1/units/locations", json=batch, headers=gateway)
    assert response.status_code == 200, response.text
    body = response.json()
    results = body["results"]
    assert [r["index"] for r in results] == list(range(len(batch)))
    assert [r["accepted"] for r in results] == [True] * 5 + [False] * 8
    assert (body["accepted"], body["refused"]) == (5, 8)
    assert [r["reason"] for r in results[5:]] == [
        "not_permitted", "not_permitted", "invalid", "invalid", "future", "invalid", "invalid", "invalid"
    ]  # fmt: skip
    assert [(r["trusted"], r["moved"]) for r in results[:5]] == [
        (True, False), (True, True), (True, False), (True, True), (False, False)
    ]  # fmt: skip
    assert all(r["detail"] for r in results[5:])
    # A commander may report for any unit; a facility has no live position, and an unknown id is said so.
    odd = [fix(station, 104.061, 30.671, 1), fix(999_999_999, 104.061, 30.671, 1)]
    said = (await client.post("/api/v1/units/locations", json=odd, headers=commander)).json()["results"]
    assert [r["reason"] for r in said] == ["not_a_unit", "unknown_unit"]

    first = (await client.get(f"/api/v1/resources/{mine[0]}", headers=commander)).json()
    assert first["location"]["coordinates"] == [104.070, 30.671]
    second = (await client.get(f"/api/v1/resources/{mine[1]}", headers=commander)).json()
    assert second["location"]["coordinates"] == [104.061, 30.671]  # the implausible jump moved nothing
    track = (await client.get(f"/api/v1/units/{mine[0]}/track", headers=commander)).json()
    assert [f["location"]["coordinates"][0] for f in track["items"]] == [104.070, 104.065, 104.061]  # newest first
    assert (track["items"][2]["speed"], track["items"][2]["heading"], track["items"][2]["accuracy"]) == (12.5, 90, 8)
    # One unit.location event per moved unit (not per fix), and one unit.location_suspect for the jump.
    events = await session.execute(
        select(Event.type, func.count()).where(Event.unit_id.in_(mine), Event.type.like("unit.%")).group_by(Event.type)
    )
    assert dict(events.all()) == {"unit.location": 2, "unit.location_suspect": 1}


async def test_who_may_report_for_which_unit(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor, commander: dict[str, str]
) -> None:
    unit, other = await _unit(client, commander, "Own"), await _unit(client, commander, "Other")
    gateway = await _gateway(session, token_for, "avl.two", [unit])
    crew = await token_for("field_unit", unit_id=unit)
    here = {"type": "Point", "coordinates": [104.0601, 30.6701]}
    assert (await client.post(f"/api/v1/units/{unit}/location", json=here, headers=gateway)).status_code == 200
    refused = await client.post(f"/api/v1/units/{other}/location", json=here, headers=gateway)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    batch = [{"unit_id": other, "location": here, "at": utcnow().isoformat()}]
    for auth in (gateway, crew):
        result = (await client.post("/api/v1/units/locations", json=batch, headers=auth)).json()
        assert result["results"][0]["reason"] == "not_permitted"
    # A gateway reports locations and reads nothing.
    assert (await client.get("/api/v1/resources", headers=gateway)).status_code == 403
    assert (await client.get("/api/v1/incidents", headers=gateway)).status_code == 403
    assert (await client.get(f"/api/v1/units/{unit}/track", headers=gateway)).status_code == 403
    assert (await client.get("/api/v1/me", headers=gateway)).json()["role"] == "gateway"
    officer = await token_for("duty_officer")
    assert (await client.post("/api/v1/units/locations", json=batch, headers=officer)).status_code == 403


async def test_the_bounds_of_a_batch(client: httpx.AsyncClient, commander: dict[str, str]) -> None:
    unit = await _unit(client, commander, "Bounds")
    one = {"unit_id": unit, "location": _point(*BASE), "at": utcnow().isoformat()}
    too_many = await client.post("/api/v1/units/locations", json=[one] * 1001, headers=commander)
    assert too_many.status_code == 413 and too_many.json()["error"] == "too_large"
    assert "1001" in too_many.json()["detail"]
    fine = await client.post("/api/v1/units/locations", json=[one] * 1000, headers=commander)
    assert fine.status_code == 200 and fine.json()["accepted"] == 1000
    # A body announced at 50 MB is refused before it is read.
    headers = commander | {"Content-Length": str(50 * 1024 * 1024), "Content-Type": "application/json"}
    announced = await client.post("/api/v1/units/locations", content=b"[]", headers=headers)
    assert announced.status_code == 413
    assert (await client.post("/api/v1/units/locations", json={"fixes": []}, headers=commander)).status_code == 422
    empty = await client.post("/api/v1/units/locations", json=[], headers=commander)
    assert empty.status_code == 200 and empty.json() == {"accepted": 0, "refused": 0, "results": []}


@pytest.fixture
async def slow_app(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[Any]:
    app = create_app(settings.model_copy(update={"location_max_fixes_per_second": 50}), sessionmaker=sessionmaker)
    async with app.router.lifespan_context(app):
        yield app


async def test_a_flooding_caller_is_told_to_wait(
    slow_app: Any, client: httpx.AsyncClient, commander: dict[str, str]
) -> None:
    unit = await _unit(client, commander, "Flood")
    transport = httpx.ASGITransport(app=slow_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as slow:
        one = {"unit_id": unit, "location": _point(*BASE), "at": utcnow().isoformat()}
        statuses = [(await slow.post("/api/v1/units/locations", json=[one] * 20, headers=commander)) for _ in range(6)]
    codes = [r.status_code for r in statuses]
    assert 429 in codes and codes[0] == 200, codes  # six in under two seconds: three fall in one second, 60 > 50
    refused = next(r for r in statuses if r.status_code == 429)
    assert refused.headers["Retry-After"] == "1" and refused.json()["error"] == "too_many_requests"


async def test_the_track_window(client: httpx.AsyncClient, token_for: TokenFor, commander: dict[str, str]) -> None:
    unit = await _unit(client, commander, "Window")
    now = utcnow()
    ages = [timedelta(days=3), timedelta(hours=30), timedelta(hours=2), timedelta(minutes=5)]
    batch = [
        {"unit_id": unit, "location": _point(104.06 + i / 1000, 30.67), "at": (now - age).isoformat()}
        for i, age in enumerate(ages)
    ]
    assert (await client.post("/api/v1/units/locations", json=batch, headers=commander)).json()["accepted"] == 4
    url = f"/api/v1/units/{unit}/track"
    day = (await client.get(url, headers=commander)).json()
    assert day["total"] == 2  # the default: the last 24 hours
    since = (now - timedelta(days=4)).isoformat()
    everything = (await client.get(url, params={"since": since}, headers=commander)).json()
    assert everything["total"] == 4 and [i["at"] for i in everything["items"]] == sorted(
        (i["at"] for i in everything["items"]), reverse=True
    )
    until = (now - timedelta(hours=1)).isoformat()
    middle = (await client.get(url, params={"since": since, "until": until, "limit": 1}, headers=commander)).json()
    assert middle["total"] == 1 and middle["items"][0]["location"]["coordinates"][0] == 104.062
    stranger = await token_for("field_unit", unit_id=unit + 1)
    assert (await client.get(url, headers=stranger)).status_code == 404


async def test_fix_time_and_value_bounds_on_the_single_door(
    client: httpx.AsyncClient, commander: dict[str, str]
) -> None:
    unit = await _unit(client, commander, "Single")
    url = f"/api/v1/units/{unit}/location"
    future = {"type": "Point", "coordinates": list(BASE), "at": (utcnow() + timedelta(hours=2)).isoformat()}
    refused = await client.post(url, json=future, headers=commander)
    assert refused.status_code == 422 and refused.json()["field"] == "at"
    old = {"type": "Point", "coordinates": list(BASE), "at": (utcnow() - timedelta(days=400)).isoformat()}
    assert (await client.post(url, json=old, headers=commander)).status_code == 422
    for bad in ({"speed": -1}, {"heading": 400}, {"accuracy": math.inf}):
        body = {"type": "Point", "coordinates": list(BASE)} | bad
        assert (await client.post(url, content=_json(body), headers=commander | _JSON)).status_code == 422, bad
    nowhere = await client.post("/api/v1/units/999999999/location", json=future | {"at": None}, headers=commander)
    assert nowhere.status_code == 404


_JSON = {"Content-Type": "application/json"}


def _json(body: dict[str, Any]) -> bytes:
    import json

    return json.dumps(body).encode()  # json.dumps writes Infinity, which Python's parser (and FastAPI's) accepts


async def test_location_traffic_is_audited_per_burst(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    token_for: TokenFor,
    redis: redis_async.Redis,
) -> None:
    """One row per burst, with its count; the successes are counted in the worker (a fix pays no Redis round trip
    for its audit), so Redis holds no audit counter for them."""
    app = create_app(settings, sessionmaker=sessionmaker)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            commander = await token_for("commander", username="cmd.audit")
            unit = await _unit(client, commander, "Audited")
            one = [{"unit_id": unit, "location": _point(*BASE), "at": utcnow().isoformat()}]
            for _ in range(5):
                assert (await client.post("/api/v1/units/locations", json=one, headers=commander)).status_code == 200
            assert [k async for k in redis.scan_iter(match=f"{settings.redis_prefix}*audit:200:*")] == []
            await state_of(app).audit_bursts.close(everything=True)
    rows = list(await session.scalars(select(AuditEntry).where(AuditEntry.action == "units.locations")))
    assert len(rows) == 1 and rows[0].target["count"] == 5 and rows[0].actor == "cmd.audit"
    fixes = await session.scalar(text("SELECT count(*) FROM unit_fix WHERE unit_id = :u"), {"u": unit})
    assert fixes == 5
