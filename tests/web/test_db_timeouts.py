"""Time limits on the database (issue 14): a statement past the request's limit, and a database that black-holes
packets, answer 503 in the one error shape within a bound, and the service is healthy again afterwards.

The app under test has its own engine (its own pool, as in production); outages come from a proxy the test
controls, never from the machine's PostgreSQL.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import bulk_timeouts, create_engine, create_sessionmaker, transaction
from core.settings import Settings
from core.users import Role, add_user
from tests.conftest import LIVE_TABLES
from tests.support.tcp_proxy import TcpProxy
from tests.web import probe_routes
from web.app import create_app
from web.state import state_of

FIRE = {"description": "成都市武侯区一居民楼发生火灾", "location": {"type": "Point", "coordinates": [104.043, 30.642]}}
UNAVAILABLE = "unavailable"


@pytest.fixture
async def officer(engine: AsyncEngine) -> AsyncIterator[tuple[str, str]]:
    """A committed duty officer (the apps here use engines of their own, outside any test transaction); what the
    test commits is emptied afterwards, as after the live tests."""
    name, password = f"limits_{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    async with transaction(create_sessionmaker(engine)) as session:
        await add_user(session, username=name, password=password, role=Role.duty_officer)
    yield name, password
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(LIVE_TABLES)} RESTART IDENTITY CASCADE"))


async def _signed_in(client: httpx.AsyncClient, officer: tuple[str, str]) -> dict[str, str]:
    name, password = officer
    token = await client.post("/api/v1/auth/token", data={"username": name, "password": password})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def _pool_settles(app: Any) -> None:
    """Every connection goes back to the pool (the live stream's poll borrows one now and then: wait it out)."""
    pool = state_of(app).sessionmaker.kw["bind"].pool
    for _ in range(100):
        if pool.checkedout() == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{pool.checkedout()} connection(s) still checked out: {pool.status()}")


async def test_a_statement_past_the_time_limit_is_503_and_the_pool_stays_healthy(
    settings: Settings, officer: tuple[str, str]
) -> None:
    limited = settings.model_copy(
        update={"db_statement_timeout_s": 0.3, "db_pool_size": 2, "db_max_overflow": 0, "scheduler_embedded": False}
    )
    app = create_app(limited)
    app.include_router(probe_routes.router)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            auth = await _signed_in(client, officer)
            slow = [client.get("/api/v1/_probe/sleep", params={"seconds": 30}, headers=auth) for _ in range(5)]
            # More slow requests than the pool has connections: each is cut off by PostgreSQL, none holds the pool.
            answers = await asyncio.wait_for(asyncio.gather(*slow), timeout=20)
            for answer in answers:
                assert answer.status_code == 503, answer.text
                assert answer.json() == {
                    "error": UNAVAILABLE,
                    "detail": "the database took too long to answer; try again shortly",
                }
            for _ in range(4):  # twice the pool: every connection came back usable
                quick = await client.get("/api/v1/_probe/sleep", params={"seconds": 0.01}, headers=auth)
                assert quick.status_code == 200, quick.text
            assert (await client.post("/api/v1/incidents", json=FIRE, headers=auth)).status_code == 201
            await _pool_settles(app)


async def test_bulk_work_may_outlast_the_request_limit(settings: Settings, database: str) -> None:
    """An import or the road graph build runs under ``bulk_timeouts``: longer than a request may, client and
    server side alike, and the request's limit holds again after the block."""
    limited = settings.model_copy(update={"db_statement_timeout_s": 0.2, "db_command_timeout_s": 0.4})
    engine = create_engine(limited)
    sessions = create_sessionmaker(engine)
    nap = text("SELECT pg_sleep(0.6)")
    try:
        with pytest.raises(DBAPIError) as cut:
            async with transaction(sessions) as session:
                await session.execute(nap)
        assert getattr(cut.value.orig, "sqlstate", None) == "57014"  # cancelled by PostgreSQL, not by the client
        async with transaction(sessions) as session:
            async with bulk_timeouts(session):
                await session.execute(nap)  # longer than both the statement and the client's command timeout
                async with bulk_timeouts(session):  # nested: the outer block's limit survives the inner one
                    pass
                await session.execute(nap)
            with pytest.raises(DBAPIError):
                await session.execute(nap)
    finally:
        await engine.dispose()


async def _bounded(request: Any, bound: float) -> httpx.Response:
    response: httpx.Response = await asyncio.wait_for(request, timeout=bound)
    return response


async def test_a_database_that_black_holes_packets_gives_503_in_seconds_and_recovery(
    settings: Settings, officer: tuple[str, str]
) -> None:
    url = make_url(settings.database_url)
    proxy = await TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    limits = {"db_connect_timeout_s": 1.0, "db_statement_timeout_s": 1.0}  # the client waits 2 s for an answer
    app = create_app(settings.model_copy(update={"database_url": via_proxy, "scheduler_embedded": False, **limits}))
    bound = 4 * 2.0
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                auth = await _signed_in(client, officer)
                assert (await client.post("/api/v1/incidents", json=FIRE, headers=auth)).status_code == 201
                assert (await client.get("/api/v1/incidents", headers=auth)).status_code == 200

                proxy.black_hole()  # the pool holds connections that will never hear back
                for _ in range(2):
                    wrote = await _bounded(client.post("/api/v1/incidents", json=FIRE, headers=auth), bound)
                    assert wrote.status_code == 503, wrote.text
                    assert wrote.json()["error"] == UNAVAILABLE
                    read = await _bounded(client.get("/api/v1/incidents", headers=auth), bound)
                    assert read.status_code == 503, read.text
                    assert read.json()["error"] == UNAVAILABLE

                proxy.heal()
                wrote = await _bounded(client.post("/api/v1/incidents", json=FIRE, headers=auth), bound)
                assert wrote.status_code == 201, wrote.text
                read = await _bounded(client.get(f"/api/v1/incidents/{wrote.json()['id']}", headers=auth), bound)
                assert read.status_code == 200, read.text
            await _pool_settles(app)
    finally:
        proxy.heal()
        await proxy.stop()
