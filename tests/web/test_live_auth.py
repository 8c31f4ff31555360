"""``WS /ws/command`` and its token: offered in the Sec-WebSocket-Protocol header or sent as the first message, and
proven again while the socket is open (a deactivated or demoted user, an expired token: closed), with real clients."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from core.clock import utcnow
from core.events import queue_event, take_pending_event_ids
from tests.conftest import TokenFor
from web.security import AuthCache, issue_token
from web.state import state_of


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _token(live_token_for: TokenFor, username: str, role: str = "commander") -> str:
    return (await live_token_for(role, username=username))["Authorization"].removeprefix("Bearer ")


async def _event(live_app: Any, n: int) -> int:
    """A committed event, announced to the hub; its id."""
    async with state_of(live_app).sessionmaker() as session:
        queue_event(session, type="test.tick", data={"n": n})
        await session.commit()
        [event_id] = take_pending_event_ids(session)
    await state_of(live_app).live.announce([event_id])
    return event_id


async def _change_user(live_app: Any, username: str, assignment: str) -> None:
    async with state_of(live_app).sessionmaker() as session:
        await session.execute(text(f"UPDATE app_user SET {assignment} WHERE username = :name"), {"name": username})
        await session.commit()


async def _next_id(ws: ClientConnection) -> int:
    return int(json.loads(await asyncio.wait_for(ws.recv(), 10))["id"])


async def _closed(ws: ClientConnection, within_s: float = 15) -> tuple[int, str]:
    """Wait (at most ``within_s``) for the server to close the socket; its code and reason. A message is a failure."""
    with pytest.raises(ConnectionClosed) as closed:
        message = await asyncio.wait_for(ws.recv(), within_s)
        pytest.fail(f"a message reached the socket instead of a close: {message}")
    assert closed.value.rcvd is not None, "the connection ended without a close frame from the server"
    return closed.value.rcvd.code, closed.value.rcvd.reason


def _bearer(token: str) -> list[Subprotocol]:
    """The subprotocols a client offers to carry its token in the Sec-WebSocket-Protocol header."""
    return [Subprotocol("commandpost.bearer"), Subprotocol(token)]


def _settings(live_app: Any, **changes: Any) -> None:
    state_of(live_app).settings = state_of(live_app).settings.model_copy(update=changes)


async def test_a_token_offered_in_the_subprotocol_header(
    live_app: Any, live_server: str, live_token_for: TokenFor
) -> None:
    token = await _token(live_token_for, "header.user")
    start = await _event(live_app, 0)
    url = f"ws://{live_server}/ws/command?since={start}"
    async with connect(url, subprotocols=_bearer(token)) as ws:
        assert ws.subprotocol == "commandpost.bearer"
        assert ws.response is not None and ws.response.headers["Sec-WebSocket-Protocol"] == "commandpost.bearer"
        sent = await _event(live_app, 1)
        assert await _next_id(ws) == sent


async def test_a_token_sent_as_the_first_message(live_app: Any, live_server: str, live_token_for: TokenFor) -> None:
    token = await _token(live_token_for, "message.user")
    start = await _event(live_app, 0)
    async with connect(f"ws://{live_server}/ws/command?since={start}") as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        sent = await _event(live_app, 1)
        assert await _next_id(ws) == sent


@pytest.mark.parametrize(
    "first", [{"type": "auth", "token": "forged.token.value"}, {"type": "hello"}, "not json"], ids=str
)
async def test_a_bad_first_message_is_refused(live_server: str, first: Any) -> None:
    async with connect(f"ws://{live_server}/ws/command") as ws:
        await ws.send(first if isinstance(first, str) else json.dumps(first))
        code, _ = await _closed(ws, 5)
    assert code == 1008


async def test_a_deactivated_users_idle_socket_is_closed_on_the_timer(
    live_app: Any, live_server: str, live_token_for: TokenFor
) -> None:
    _settings(live_app, ws_recheck_seconds=0.2)
    state_of(live_app).auth_cache = AuthCache(0.5)
    token = await _token(live_token_for, "soon.gone")
    async with connect(f"ws://{live_server}/ws/command?ready=1", subprotocols=_bearer(token)) as ws:
        # The ready frame first: the server has proved the user and subscribed (a deactivation before that is a
        # refusal at connect, 1008, which a loaded machine can otherwise make this test see).
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "ready"
        await _change_user(live_app, "soon.gone", "active = false")
        code, reason = await _closed(ws)
    assert code == 4401 and "not valid" in reason


async def test_no_event_after_the_deactivation_reaches_the_socket(
    live_app: Any, live_server: str, live_token_for: TokenFor
) -> None:
    clock = FakeClock()
    state_of(live_app).auth_cache = AuthCache(state_of(live_app).settings.auth_cache_seconds, clock=clock)
    _settings(live_app, ws_recheck_seconds=3600)  # the timer stays out of it: the check before sending acts
    token = await _token(live_token_for, "gone.mid.stream")
    start = await _event(live_app, 0)
    async with connect(f"ws://{live_server}/ws/command?since={start}&token={token}") as ws:
        sent = await _event(live_app, 1)
        assert await _next_id(ws) == sent
        await _change_user(live_app, "gone.mid.stream", "active = false")
        clock.now += state_of(live_app).settings.auth_cache_seconds  # the longest an HTTP request may be let through
        await _event(live_app, 2)
        code, _ = await _closed(ws)
    assert code == 4401


async def test_a_user_demoted_to_a_role_that_may_not_watch_is_closed(
    live_app: Any, live_server: str, live_token_for: TokenFor
) -> None:
    _settings(live_app, ws_recheck_seconds=0.2)
    state_of(live_app).auth_cache = AuthCache(0)
    token = await _token(live_token_for, "demoted")
    async with connect(f"ws://{live_server}/ws/command?ready=1&token={token}") as ws:
        # past its connect check first (a demotion before it is a 1008 refusal)
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "ready"
        await _change_user(live_app, "demoted", "role = 'field_unit', unit_id = 1")
        code, reason = await _closed(ws)
    assert code == 4403 and "field_unit" in reason


async def test_a_token_that_expires_while_connected_closes_the_socket(
    live_app: Any, live_server: str, live_token_for: TokenFor
) -> None:
    await live_token_for("observer", username="short.lived")
    async with state_of(live_app).sessionmaker() as session:
        changed = await session.scalar(text("SELECT password_changed_at FROM app_user WHERE username = 'short.lived'"))
    minutes = state_of(live_app).settings.token_minutes
    token, expires_at = issue_token(
        username="short.lived",
        role="observer",
        password_changed_at=changed,
        settings=state_of(live_app).settings,
        now=utcnow() - timedelta(minutes=minutes) + timedelta(seconds=2),
    )
    async with connect(f"ws://{live_server}/ws/command", subprotocols=_bearer(token)) as ws:
        code, reason = await _closed(ws)
    assert code == 4401 and "expired" in reason
    assert utcnow().timestamp() >= int(expires_at.timestamp())  # not before its time (the claim has whole seconds)
