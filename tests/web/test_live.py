"""``WS /ws/command`` with real websocket clients against a real server: auth, replay, resume, slow clients."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from core.events import queue_event, take_pending_event_ids
from tests.conftest import TokenFor
from web.state import state_of

POINT = {"type": "Point", "coordinates": [104.06, 30.66]}


async def _token(live_token_for: TokenFor, role: str = "commander") -> str:
    return (await live_token_for(role))["Authorization"].removeprefix("Bearer ")


async def _make_units(client: httpx.AsyncClient, auth: dict[str, str], n: int, tag: str) -> list[int]:
    ids = []
    for i in range(n):
        body = {"type": "ambulance", "name": f"{tag}-{i}", "location": POINT}
        response = await client.post("/api/v1/resources", json=body, headers=auth)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


async def _receive(ws: ClientConnection, n: int, timeout: float = 10) -> list[dict[str, Any]]:
    return [json.loads(await asyncio.wait_for(ws.recv(), timeout)) for _ in range(n)]


async def _subscribed(ws: ClientConnection, timeout: float = 10) -> int:
    """Wait for the ``ready`` frame of a client connected with ``ready=1``; returns the id live events follow."""
    try:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    except TimeoutError:
        raise AssertionError(f"no ready frame within {timeout} s: the server never said it was subscribed") from None
    assert frame.get("type") == "ready", f"expected the ready frame first, got {frame}"
    return int(frame["last_id"])


@pytest.fixture
async def http(live_server: str) -> Any:
    async with httpx.AsyncClient(base_url=f"http://{live_server}") as client:
        yield client


async def test_a_change_reaches_a_connected_client(
    live_server: str, http: httpx.AsyncClient, live_token_for: TokenFor
) -> None:
    auth = await live_token_for("commander")
    token = auth["Authorization"].removeprefix("Bearer ")
    async with connect(f"ws://{live_server}/ws/command?token={token}&ready=1") as ws:
        last = await _subscribed(ws)
        [unit] = await _make_units(http, auth, 1, "live")
        [message] = await _receive(ws, 1)
    assert message["type"] == "resource.created" and message["data"]["id"] == unit
    assert set(message) == {"id", "type", "at", "data"} and message["id"] > last


async def test_the_ready_frame_is_opt_in_and_follows_the_replay(
    live_server: str, http: httpx.AsyncClient, live_token_for: TokenFor
) -> None:
    auth = await live_token_for("commander")
    token = auth["Authorization"].removeprefix("Bearer ")
    async with connect(f"ws://{live_server}/ws/command?token={token}&ready=1") as ws:
        start = await _subscribed(ws)
        [unit] = await _make_units(http, auth, 1, "ready")
        [live] = await _receive(ws, 1)
    # With since, the ready frame comes after the replay and names the last id replayed.
    async with connect(f"ws://{live_server}/ws/command?token={token}&since={start}&ready=1") as ws:
        replayed, ready = await _receive(ws, 2)
    assert replayed == live and live["data"]["id"] == unit
    assert ready == {"type": "ready", "last_id": live["id"]}
    # A client that does not ask gets events only: its first message is the replayed event, no ready frame.
    async with connect(f"ws://{live_server}/ws/command?token={token}&since={start}") as ws:
        assert await _receive(ws, 1) == [live]


@pytest.mark.parametrize("query", ["", "?token=forged.token.value", "?token="], ids=["none", "forged", "empty"])
async def test_no_valid_token_is_closed_with_policy_violation(live_app: Any, live_server: str, query: str) -> None:
    # Without a token the server waits ws_auth_timeout_s for an auth message: a short wait here.
    state_of(live_app).settings = state_of(live_app).settings.model_copy(update={"ws_auth_timeout_s": 0.5})
    async with connect(f"ws://{live_server}/ws/command{query}") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_field_unit_may_not_watch_the_command_room(live_server: str, live_token_for: TokenFor) -> None:
    token = (await live_token_for("field_unit", unit_id=1))["Authorization"].removeprefix("Bearer ")
    async with connect(f"ws://{live_server}/ws/command?token={token}") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


@pytest.mark.parametrize(
    "since",
    ["abc", "-1", "999999999", "%C2%B2", "9" * 5000],
    # '²' passed str.isdigit() and failed int(): the connection dropped (1006); so did int() of 5,000 digits.
    ids=["not-a-number", "negative", "future", "superscript-two", "5000-digits"],
)
async def test_bad_since_gets_an_error_then_close(live_server: str, live_token_for: TokenFor, since: str) -> None:
    token = await _token(live_token_for)
    async with connect(f"ws://{live_server}/ws/command?token={token}&since={since}") as ws:
        error = json.loads(await asyncio.wait_for(ws.recv(), 5))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert error["type"] == "error" and error["field"] == "since" and error["detail"]
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400


async def test_reconnect_with_since_gets_exactly_what_was_missed(
    live_server: str, http: httpx.AsyncClient, live_token_for: TokenFor
) -> None:
    auth = await live_token_for("commander")
    token = auth["Authorization"].removeprefix("Bearer ")
    async with connect(f"ws://{live_server}/ws/command?token={token}&ready=1") as ws:
        await _subscribed(ws)
        await _make_units(http, auth, 3, "before")
        seen = await _receive(ws, 3)
    last = seen[-1]["id"]
    missed = await _make_units(http, auth, 4, "while-away")
    async with connect(f"ws://{live_server}/ws/command?token={token}&since={last}") as ws:
        replayed = await _receive(ws, 4)
        live = await _make_units(http, auth, 2, "after")
        streamed = await _receive(ws, 2)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.5)  # nothing twice
    assert [m["data"]["id"] for m in replayed] == missed
    assert [m["data"]["id"] for m in streamed] == live
    ids = [m["id"] for m in replayed + streamed]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) and ids[0] > last


async def test_concurrent_writers_and_a_client_resuming_midway_lose_nothing(
    live_server: str, http: httpx.AsyncClient, live_token_for: TokenFor
) -> None:
    auth = await live_token_for("commander")
    token = auth["Authorization"].removeprefix("Bearer ")
    async with connect(f"ws://{live_server}/ws/command?token={token}&ready=1") as watcher:
        start = await _subscribed(watcher)
        writers = [asyncio.create_task(_make_units(http, auth, 5, f"w{n}")) for n in range(20)]
        # A second client joins midway (the watcher has seen 10 of the 100), from before the first, and must see
        # all 100 too: replayed, then live.
        early = await _receive(watcher, 10, timeout=20)
        async with connect(f"ws://{live_server}/ws/command?token={token}&since={start}") as late:
            created = [u for ids in await asyncio.gather(*writers) for u in ids]
            from_late = await _receive(late, 100, timeout=20)
        from_watcher = early + await _receive(watcher, 90, timeout=20)
    for stream in (from_watcher, from_late):
        ids = [m["id"] for m in stream]
        assert ids == sorted(ids) and len(set(ids)) == 100
        assert sorted(m["data"]["id"] for m in stream) == sorted(created)


async def test_slow_client_is_cut_off_and_resumes(
    live_app: Any, live_server: str, http: httpx.AsyncClient, live_token_for: TokenFor
) -> None:
    state_of(live_app).live.hub.queue_size = 5  # a tiny queue: a burst overflows it before the client can read
    auth = await live_token_for("commander")
    token = auth["Authorization"].removeprefix("Bearer ")
    async with connect(f"ws://{live_server}/ws/command?token={token}&ready=1") as ws:
        await _subscribed(ws)
        # 40 events in one commit land in the hub at once: more than the client's queue can hold.
        async with state_of(live_app).sessionmaker() as session:
            for n in range(40):
                queue_event(session, type="test.burst", data={"n": n})
            await session.commit()
            burst = take_pending_event_ids(session)
        await state_of(live_app).live.announce(burst)
        received = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                received.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008
    resume_from = int(closed.value.rcvd.reason.rsplit("since=", 1)[1])
    assert len(received) < 40 and resume_from == (received[-1]["id"] if received else burst[0] - 1)
    async with connect(f"ws://{live_server}/ws/command?token={token}&since={resume_from}") as ws:
        rest = await _receive(ws, 40 - len(received))
    assert [m["id"] for m in received + rest] == burst  # cut off, resumed, nothing lost


async def test_a_flood_of_client_messages_is_cut_off(live_server: str, live_token_for: TokenFor) -> None:
    token = await _token(live_token_for)
    async with connect(f"ws://{live_server}/ws/command?token={token}") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            for n in range(500):
                await ws.send(json.dumps({"n": n}))
                await asyncio.sleep(0)
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert "too many" in closed.value.rcvd.reason
