"""Client websocket messages are bounded where uvicorn reads them (``WS_MAX_MESSAGE_KB``), with a real client against
the live server that runs with ``commandpost serve``'s own uvicorn options."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import TokenFor
from web.cli import server_options
from web.state import state_of

TOO_BIG = 1009


async def test_an_observer_may_not_send_a_huge_message(
    live_app: Any, live_server: str, live_token_for: TokenFor
) -> None:
    limit = state_of(live_app).settings.ws_max_message_kb * 1024
    assert limit == 64 * 1024  # the default
    token = (await live_token_for("observer"))["Authorization"].removeprefix("Bearer ")
    async with connect(f"ws://{live_server}/ws/command?token={token}", max_size=None) as ws:
        await ws.send("x" * 2048)  # an ordinary small message is read (and ignored) ...
        await ws.send(b"\0" * 2048)  # ... a binary one too (it used to crash the handler: 1006) ...
        await ws.send("x" * limit)  # ... and so is one of exactly the limit
        await asyncio.wait_for(await ws.ping(), 5)  # the server answered after reading both: still open
        await ws.send("x" * (limit + 1))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == TOO_BIG, closed.value


async def test_a_15_mib_message_is_refused_before_it_is_read(live_server: str, live_token_for: TokenFor) -> None:
    token = (await live_token_for("observer"))["Authorization"].removeprefix("Bearer ")
    async with connect(f"ws://{live_server}/ws/command?token={token}", max_size=None) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.send(b"\0" * (15 * 1024 * 1024))
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == TOO_BIG, closed.value


def test_serve_and_the_tests_share_the_options(settings: Any) -> None:
    options = server_options(settings.model_copy(update={"ws_max_message_kb": 16, "ws_compression": True}))
    assert (options["ws_max_size"], options["ws_per_message_deflate"]) == (16 * 1024, True)
    assert options["proxy_headers"] is False  # X-Forwarded-For is the app's to read, from trusted proxies only
