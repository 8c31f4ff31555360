"""``WS /ws/field`` with real websocket clients against real servers: a crew gets its alert (with its incident), the
incident's later changes, its re-alert and escalation; a crew that comes back gets every alert it missed, once;
and a crew never receives anything of another unit's dispatch or incident, replayed or live, on one worker or two."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from command import service as command
from core.clock import utcnow
from core.db import create_sessionmaker
from core.events import take_pending_event_ids
from core.users import Role, add_user
from tests.conftest import TokenFor
from tests.support.workers import PASSWORD, Worker, token_on, two_workers
from web.state import state_of

HERE = {"type": "Point", "coordinates": [104.06, 30.67]}
Message = dict[str, Any]
Post = Callable[[str, object], Any]


@dataclass
class Scene:
    """Unit a's crew was sent to incident x, unit b's to y, and unit c (another crew) to x as well."""

    a: int
    b: int
    c: int
    x: int
    y: int
    dispatch_a: int
    dispatch_b: int
    dispatch_c: int
    tag: str  # in the names and titles of b, c and y: none of it may reach a's crew

    def foreign_words(self) -> list[str]:
        return [f"Bravo-{self.tag}", f"Charlie-{self.tag}", f"Yankee-{self.tag}"]


async def _scene(post: Post) -> Scene:
    tag = secrets.token_hex(3)
    units = []
    for name in (f"Alpha-{tag}", f"Bravo-{tag}", f"Charlie-{tag}"):
        units.append((await post("/api/v1/resources", {"type": "ambulance", "name": name, "location": HERE}))["id"])
    incidents = []
    for title in (f"Xray-{tag}", f"Yankee-{tag}"):
        report = {"description": "居民楼火灾，2人受伤", "title": title, "location": HERE}
        incidents.append((await post("/api/v1/incidents", report))["id"])
    sent = []
    for incident, unit in ((incidents[0], units[0]), (incidents[1], units[1]), (incidents[0], units[2])):
        sent.append((await post(f"/api/v1/incidents/{incident}/dispatches", {"unit_ids": [unit]}))["items"][0]["id"])
    return Scene(*units, *incidents, *sent, tag)


def _poster(http: httpx.AsyncClient, auth: dict[str, str]) -> Post:
    async def post(url: str, body: object) -> Any:
        response = await http.post(url, json=body, headers=auth)
        assert response.status_code in (200, 201), response.text
        return response.json()

    return post


async def _ready(ws: ClientConnection) -> int:
    frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert frame.get("type") == "ready", f"expected the ready frame first, got {frame}"
    return int(frame["last_id"])


async def _until(
    ws: ClientConnection, done: Callable[[Message], bool], timeout: float = 15
) -> list[tuple[str, Message]]:
    """Messages (raw text and parsed) up to and including the first that ``done`` accepts."""
    got = []
    while True:
        try:
            raw = await asyncio.wait_for(ws.recv(), timeout)
        except TimeoutError:
            raise AssertionError(f"still waiting after {timeout} s; got {[m['type'] for _, m in got]}") from None
        message = json.loads(raw)
        got.append((str(raw), message))
        if done(message):
            return got


def _contained(incident: int) -> Callable[[Message], bool]:
    def done(m: Message) -> bool:
        return m["type"] == "incident.updated" and m["data"]["id"] == incident and m["data"]["status"] == "contained"

    return done


def _only_ours(got: list[tuple[str, Message]], scene: Scene, unit: int, incident: int, foreign: list[str]) -> None:
    """Every message is about ``unit`` or ``incident``, and no byte names another crew's unit or incident."""
    ids = [m["id"] for _, m in got]
    assert ids == sorted(set(ids)), "ids strictly increasing"
    for raw, m in got:
        kind = m["type"].split(".")[0]
        assert kind in ("dispatch", "unit", "incident"), m
        if kind == "dispatch":
            assert m["data"]["unit_id"] == unit and m["data"]["incident_id"] == incident, m
        elif kind == "unit":
            assert m["data"]["id"] == unit and m["type"] != "unit.location", m
        else:
            assert m["data"]["id"] == incident, m
        assert not any(word in raw for word in foreign), raw


async def _field_token(live_token_for: TokenFor, unit: int) -> str:
    return (await live_token_for("field_unit", unit_id=unit))["Authorization"].removeprefix("Bearer ")


@pytest.fixture
async def http(live_server: str) -> Any:
    async with httpx.AsyncClient(base_url=f"http://{live_server}") as client:
        yield client


async def _crews_see_only_their_own(
    watch_a: str, watch_b: str, post: Post, tokens: Callable[[Scene], Any], replay_on: str
) -> None:
    """The proof, wherever the crews are connected: a's crew on ``watch_a``, b's on ``watch_b``, writes through
    ``post``; then a replays on ``replay_on`` and must get exactly what it got live."""
    # The crews' users need their units: make the units first, then sign the crews in, then dispatch.
    tag = secrets.token_hex(3)
    units = []
    for name in (f"Alpha-{tag}", f"Bravo-{tag}", f"Charlie-{tag}"):
        units.append((await post("/api/v1/resources", {"type": "ambulance", "name": name, "location": HERE}))["id"])
    token_a, token_b = await tokens(units[0]), await tokens(units[1])
    async with (
        connect(f"ws://{watch_a}/ws/field?token={token_a}&ready=1") as ws_a,
        connect(f"ws://{watch_b}/ws/field?token={token_b}&ready=1") as ws_b,
    ):
        start = await _ready(ws_a)
        await _ready(ws_b)
        incidents = []
        for title in (f"Xray-{tag}", f"Yankee-{tag}"):
            report = {"description": "居民楼火灾，2人受伤", "title": title, "location": HERE}
            incidents.append((await post("/api/v1/incidents", report))["id"])
        sent = []
        for incident, unit in ((incidents[0], units[0]), (incidents[1], units[1]), (incidents[0], units[2])):
            url = f"/api/v1/incidents/{incident}/dispatches"
            sent.append((await post(url, {"unit_ids": [unit]}))["items"][0]["id"])
        scene = Scene(*units, *incidents, *sent, tag)
        await post(f"/api/v1/units/{scene.c}/status", {"status": "en_route"})  # the other crew on a's incident
        await post(f"/api/v1/incidents/{scene.y}/transition", {"to": "contained"})
        await post(f"/api/v1/incidents/{scene.x}/transition", {"to": "contained"})  # last: after it, nothing of y
        live_a = await _until(ws_a, _contained(scene.x))
        live_b = await _until(ws_b, _contained(scene.y))

    _only_ours(live_a, scene, scene.a, scene.x, scene.foreign_words())
    _only_ours(live_b, scene, scene.b, scene.y, [f"Alpha-{tag}", f"Charlie-{tag}", f"Xray-{tag}"])
    kinds = [m["type"] for _, m in live_a]
    assert kinds == ["unit.status", "dispatch.created", "incident.updated", "incident.updated"], kinds
    alert = live_a[1][1]["data"]
    assert alert["id"] == scene.dispatch_a and alert["incident"]["title"] == f"Xray-{tag}"  # where to go, at once
    assert alert["incident"]["status"] == "responding" and alert["ack_due_at"]
    # Replayed from the same start, on any worker: the very same messages, nothing more.
    async with connect(f"ws://{replay_on}/ws/field?token={token_a}&since={start}&ready=1") as ws_a:
        replayed = await _until(ws_a, lambda m: m.get("type") == "ready")
    assert [m for _, m in replayed[:-1]] == [m for _, m in live_a]
    assert replayed[-1][1]["last_id"] >= live_a[-1][1]["id"]


async def test_a_crew_sees_its_own_dispatch_and_incident_and_nothing_else(
    live_server: str, http: httpx.AsyncClient, live_token_for: TokenFor
) -> None:
    post = _poster(http, await live_token_for("commander"))

    async def tokens(unit: int) -> str:
        return await _field_token(live_token_for, unit)

    await _crews_see_only_their_own(live_server, live_server, post, tokens, live_server)


async def test_on_two_workers_a_crew_sees_only_its_own_replayed_and_live(
    worker_env: dict[str, str], workers: list[Worker], engine: AsyncEngine
) -> None:
    a, b, auth = await two_workers(worker_env, workers)

    async def tokens(unit: int) -> str:
        name = f"crew.{unit}.{secrets.token_hex(2)}"
        async with create_sessionmaker(engine)() as session:
            await add_user(session, username=name, password=PASSWORD, role=Role.field_unit, unit_id=unit)
            await session.commit()
        return (await token_on(b.base, name))["Authorization"].removeprefix("Bearer ")

    async with httpx.AsyncClient(base_url=f"http://{a.base}") as http:
        # Writes on worker a; crew a watches on worker b, crew b on worker a; crew a replays on worker a.
        await _crews_see_only_their_own(b.base, a.base, _poster(http, auth), tokens, a.base)


async def _sweep_ahead(live_app: Any, minutes: int) -> list[int]:
    """Run the acknowledgement sweep as if ``minutes`` had passed; the events it wrote, announced."""
    async with state_of(live_app).sessionmaker() as session:
        await command.sweep_ack_deadlines(session, now=utcnow() + timedelta(minutes=minutes), rules=command.AckRules())
        await session.commit()
        ids = take_pending_event_ids(session)
    await state_of(live_app).live.announce(ids)
    return ids


async def test_a_crew_that_comes_back_gets_every_alert_it_missed_once(
    live_app: Any, live_server: str, http: httpx.AsyncClient, live_token_for: TokenFor
) -> None:
    post = _poster(http, await live_token_for("commander"))
    tag = secrets.token_hex(3)
    unit_a = (await post("/api/v1/resources", {"type": "ambulance", "name": f"A-{tag}", "location": HERE}))["id"]
    unit_b = (await post("/api/v1/resources", {"type": "ambulance", "name": f"B-{tag}", "location": HERE}))["id"]
    token = await _field_token(live_token_for, unit_a)
    report = {"description": "居民楼火灾，2人受伤", "location": HERE}
    x, y = [(await post("/api/v1/incidents", report))["id"] for _ in range(2)]
    async with connect(f"ws://{live_server}/ws/field?token={token}&ready=1") as ws:
        await _ready(ws)
        [mine] = (await post(f"/api/v1/incidents/{x}/dispatches", {"unit_ids": [unit_a]}))["items"]
        seen = await _until(ws, lambda m: m["type"] == "dispatch.created")
    last = seen[-1][1]["id"]
    # Away: the deadline passes (re-alert, escalation), a commander handles it, the incident changes; b's too.
    await post(f"/api/v1/incidents/{y}/dispatches", {"unit_ids": [unit_b]})
    assert len(await _sweep_ahead(live_app, 10)) >= 4  # a's and b's re-alert and escalation
    await post(f"/api/v1/dispatches/{mine['id']}/escalation/ack", None)
    async with connect(f"ws://{live_server}/ws/field?token={token}&since={last}") as ws:
        missed = await _until(ws, lambda m: m["type"] == "dispatch.escalation_handled")
        await post(f"/api/v1/incidents/{x}/transition", {"to": "contained"})
        live = await _until(ws, _contained(x))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.5)  # nothing twice, nothing of b's
    kinds = [m["type"] for _, m in missed]
    # It left right after its alert: the incident's move to responding came after, and is replayed too.
    assert kinds == ["incident.updated", "dispatch.warning", "dispatch.escalated", "dispatch.escalation_handled"]
    assert missed[0][1]["data"]["id"] == x and all(m["data"]["id"] == mine["id"] for _, m in missed[1:])
    assert [m["type"] for _, m in live] == ["incident.updated"]
    assert [m["id"] for _, m in missed + live] == sorted({m["id"] for _, m in missed + live})


async def _closed(ws: ClientConnection) -> tuple[int, str, list[Message]]:
    messages = []
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            messages.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason, messages


async def test_who_may_follow_which_stream(
    live_app: Any, live_server: str, http: httpx.AsyncClient, live_token_for: TokenFor
) -> None:
    commander = await live_token_for("commander")
    post = _poster(http, commander)
    ours = (await post("/api/v1/resources", {"type": "ambulance", "name": "Own", "location": HERE}))["id"]
    theirs = (await post("/api/v1/resources", {"type": "ambulance", "name": "Other", "location": HERE}))["id"]
    crew = await _field_token(live_token_for, ours)
    # A crew whose unit binding was taken away (a field_unit user is made bound to one: the binding is removed).
    unbound = (await live_token_for("field_unit", username="crew.unbound", unit_id=ours))["Authorization"]
    async with state_of(live_app).sessionmaker() as session:
        await session.execute(text("UPDATE app_user SET unit_id = NULL WHERE username = 'crew.unbound'"))
        await session.commit()
    unbound = unbound.removeprefix("Bearer ")
    bearer = commander["Authorization"].removeprefix("Bearer ")
    for token in (bearer, unbound):  # the command room's roles, a crew bound to no unit: refused at connect
        async with connect(f"ws://{live_server}/ws/field?token={token}") as ws:
            code, _, sent = await _closed(ws)
        assert (code, sent) == (1008, [])
    # Another unit's stream answers as one that does not exist would.
    answers = []
    for unit in (theirs, 987654321):
        async with connect(f"ws://{live_server}/ws/field?token={crew}&unit={unit}") as ws:
            code, reason, sent = await _closed(ws)
        answers.append(
            (code, reason.replace(str(unit), "<id>"), [m["detail"].replace(str(unit), "<id>") for m in sent])
        )
    assert answers[0] == answers[1] and answers[0][0] == 4404
    async with connect(f"ws://{live_server}/ws/field?token={crew}&unit={ours}&ready=1") as ws:
        assert await _ready(ws) >= 0  # its own, named: fine
    async with connect(f"ws://{live_server}/ws/field?token={crew}&since=abc") as ws:
        code, _, sent = await _closed(ws)
    assert code == 4400 and sent[0]["field"] == "since"
