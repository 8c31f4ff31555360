"""Liveness and readiness, including a database that goes away (through a proxy we control) and comes back."""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import delete, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from core.audit import AuditEntry
from core.db import create_sessionmaker
from core.settings import Settings
from core.users import AppUser, Role, add_user
from tests.conftest import APPEND_ONLY_OFF
from tests.support.tcp_proxy import TcpProxy
from web.app import create_app


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


async def test_readyz_when_everything_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_readyz_503_when_configured_redis_does_not_answer(settings: Settings, sessionmaker: object) -> None:
    dead = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{_free_port()}/0"})
    app = create_app(dead, sessionmaker=sessionmaker)  # type: ignore[arg-type]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "unavailable" and body["detail"].startswith("redis:")
    assert body["checks"]["database"] == "ok" and body["checks"]["redis"] != "ok"


async def test_readyz_says_only_unavailable_never_where_or_why(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Anyone may call /readyz: a dead database is "unavailable", with no host, port or exception text (those go
    to the server's log)."""
    port = _free_port()  # nothing listens there: the driver's error names 127.0.0.1 and this port
    dead_url = make_url(settings.database_url).set(host="127.0.0.1", port=port).render_as_string(False)
    dead = settings.model_copy(update={"database_url": dead_url, "scheduler_embedded": False})
    app = create_app(dead)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/readyz")
    assert response.status_code == 503, response.text
    assert response.json() == {
        "error": "unavailable",
        "detail": "database: unavailable",
        "checks": {"database": "unavailable", "redis": "ok"},
    }
    for leak in (str(port), "127.0.0.1", "Connect", "Error", "refused"):
        assert leak not in response.text, f"/readyz tells {leak!r}: {response.text}"
    logged = [r.getMessage() for r in caplog.records if r.name == "web.routes.health"]
    assert any(str(port) in line for line in logged), f"the reason is not in the server's log: {logged}"


@pytest.fixture
async def proxy(settings: Settings) -> AsyncIterator[TcpProxy]:
    url = make_url(settings.database_url)
    proxy = await TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    yield proxy
    await proxy.stop()


@pytest.fixture
async def committed_user(engine: AsyncEngine) -> AsyncIterator[tuple[str, str]]:
    """A user that really exists (the app under test uses its own engine, outside the test transaction)."""
    name, password = f"proxy_{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        await add_user(session, username=name, password=password, role=Role.observer)
        await session.commit()
    yield name, password
    async with sessions() as session:  # what the test committed through its own engine: the user, its sign-ins
        await session.execute(text(APPEND_ONLY_OFF))  # the trail refuses deletes (migration 0021); tests clean up
        await session.execute(delete(AuditEntry).where(AuditEntry.actor == name))
        await session.execute(delete(AppUser).where(AppUser.username == name))
        await session.commit()


async def test_database_outage_gives_503_and_the_service_recovers_alone(
    settings: Settings, proxy: TcpProxy, committed_user: tuple[str, str]
) -> None:
    via_proxy = make_url(settings.database_url).set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    app = create_app(settings.model_copy(update={"database_url": via_proxy, "db_connect_timeout_s": 2.0}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            name, password = committed_user
            token = (await client.post("/api/v1/auth/token", data={"username": name, "password": password})).json()
            auth = {"Authorization": f"Bearer {token['access_token']}"}
            assert (await client.get("/readyz")).status_code == 200
            assert (await client.get("/api/v1/me", headers=auth)).status_code == 200

            proxy.block()
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["error"] == "unavailable" and ready.json()["detail"].startswith("database:")
            listed = await client.get("/api/v1/resources", headers=auth)  # needs the database (the token check may not)
            assert listed.status_code == 503, listed.text
            assert listed.json() == {"error": "unavailable", "detail": "the database is unavailable; try again shortly"}
            assert (await client.get("/healthz")).status_code == 200  # alive, just not ready

            proxy.unblock()
            for _ in range(50):  # the pool heals on the next checkout; no restart, no operator
                if (await client.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert (await client.get("/readyz")).status_code == 200
            listed = await client.get("/api/v1/resources", headers=auth)
            assert listed.status_code == 200 and "total" in listed.json()
