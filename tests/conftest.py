"""Test fixtures: a throwaway PostGIS database per run (built by Alembic), a rolled-back transaction per test,
the app over httpx, real Redis under a test prefix.

Nothing here touches the machine's PostgreSQL or Redis beyond creating and dropping our own database and keys.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as redis_async
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from core import migrate, users
from core.db import create_engine
from core.settings import Settings, get_settings
from core.users import Role, add_user
from web.app import create_app
from web.cli import server_options
from web.state import state_of

RUN_ID = secrets.token_hex(4)
TEST_SECRET = secrets.token_urlsafe(32)


def _base_settings() -> Settings:
    return get_settings()


def _admin_dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql", database="postgres").render_as_string(False)


async def drop_database(database_url: str) -> None:
    """Drop a database we created, even while connections linger."""
    name = make_url(database_url).database
    conn = await asyncpg.connect(_admin_dsn(database_url))
    try:
        quoted = await conn.fetchval("SELECT quote_ident($1)", name)
        await conn.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
    finally:
        await conn.close()


def fresh_database_url(label: str) -> str:
    """A database URL, on the configured server, for a database no one has created yet."""
    base = make_url(_base_settings().database_url)
    return base.set(database=f"commandpost_test_{label}_{RUN_ID}_{secrets.token_hex(2)}").render_as_string(False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With pytest-xdist (scripts/test runs ``-n 2 --dist loadgroup``): the browser tests share one served city built
    once per worker that runs them (tests/web/browser/conftest.py), so they all go to one worker."""
    for item in items:
        if "tests/web/browser/" in item.nodeid:
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture(scope="session", autouse=True)
def quick_password_hashes() -> Any:
    """Passwords hashed and checked in this process at argon2id's lowest cost. The service's cost (64 MiB, some 90 ms
    of CPU a call) is what a sign-in should pay, but the suite signs its users in thousands of times, two argon2
    calls each, and paid minutes for it. The algorithm, the hash format and every check are the same; the service
    processes the tests start (``commandpost serve``) keep the real cost, and tests/web/test_signin_limits.py puts
    in hashers of its own to test the cost's handling."""
    from argon2 import PasswordHasher

    kept = users._hasher
    users._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    users._hasher = kept


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Settings pointing at this run's throwaway database and Redis prefix."""
    base = _base_settings()
    return base.model_copy(
        update={
            "database_url": make_url(base.database_url)
            .set(database=f"commandpost_test_{RUN_ID}")
            .render_as_string(False),
            "redis_url": base.redis_url or "redis://127.0.0.1:6379/0",
            "redis_prefix": f"cptest_{RUN_ID}",
            "secret_key": SecretStr(TEST_SECRET),
            "admin_password": None,
            "token_minutes": 60,
            # The live tests count the events they cause; a periodic situation.updated among them would be noise
            # (tests/web/test_situation.py drives that sweep itself).
            "situation_sweep_seconds": 600.0,
        }
    )


@pytest.fixture(scope="session")
async def database(settings: Settings) -> AsyncIterator[str]:
    """This run's database, created and migrated to head by Alembic; dropped at the end."""
    url = settings.database_url
    await asyncio.to_thread(migrate.ensure_database, url)
    await asyncio.to_thread(migrate.upgrade, url)
    yield url
    await drop_database(url)


@pytest.fixture(scope="session")
async def engine(database: str, settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One connection in an outer transaction that is rolled back after the test: nothing a test writes stays."""
    async with engine.connect() as conn:
        outer = await conn.begin()
        try:
            yield conn
        finally:
            await outer.rollback()


@pytest.fixture
def sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions joined to the test's transaction; their commits only release savepoints."""
    return async_sessionmaker(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint")


@pytest.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


@pytest.fixture
async def app(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], redis: redis_async.Redis
) -> AsyncIterator[object]:
    """The real app, its lifespan run, its database work inside the test's transaction; its Redis keys go after."""
    app = create_app(settings, sessionmaker=sessionmaker)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


TokenFor = Callable[..., Awaitable[dict[str, str]]]


@pytest.fixture
def token_for(session: AsyncSession, client: httpx.AsyncClient) -> TokenFor:
    """Create a user with a role (in the test's transaction), sign in over HTTP, return the auth header."""

    async def make(role: Role | str, *, username: str | None = None, unit_id: int | None = None) -> dict[str, str]:
        role = Role(role)
        username = username or f"{role.value}_{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(12)
        await add_user(session, username=username, password=password, role=role, unit_id=unit_id)
        await session.commit()
        response = await client.post("/api/v1/auth/token", data={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return make


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[redis_async.Redis]:
    """Real Redis; every key this run writes starts with the run's prefix and is deleted afterwards. The app
    fixtures (and the tests that start server processes) request it, so a run leaves no keys behind."""
    client = redis_async.from_url(settings.redis_url or "redis://127.0.0.1:6379/0")
    yield client
    async for key in client.scan_iter(match=f"{settings.redis_prefix}*"):
        await client.delete(key)
    await client.aclose()


def shared_data_dir() -> Path:
    """The shared real-data folder (COMMANDPOST_SHARED_DATA, default ../shared/data)."""
    return _base_settings().shared_data


# For a test's clean-up only: the audit trail refuses UPDATE and DELETE (migration 0021) unless triggers are off for
# the transaction (as a superuser, which the test database's owner is).
APPEND_ONLY_OFF = "SET LOCAL session_replication_role = replica"

# Tables whose rows a committing ("live") test leaves behind; emptied after each such test.
LIVE_TABLES = [
    "delivery_attempt",
    "delivery",
    "push_subscription",
    "contact",
    "dispatch",
    "unit_fix",
    "plan_notice",
    "plan_requirement",
    "plan_task",
    "plan_activation",
    "plan",
    "incident_idempotency",
    "incident_caller",
    "incident_timeline",
    "incident",
    "event",
    "audit_log",
    "app_user",
    "resource",
    "jurisdiction",
]


@pytest.fixture
async def live_app(settings: Settings, engine: AsyncEngine, redis: redis_async.Redis) -> AsyncIterator[Any]:
    """The app on its own engine: every request really commits, as in production. For races and concurrency.

    Afterwards the tables these tests write are emptied (tests run one at a time, so nothing else is lost), and the
    run's Redis keys deleted (the doorbell's newest rung id must not outlive the event ids it refers to).
    """
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app
    async with engine.begin() as conn:
        existing = {
            row[0] for row in await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
        }
        tables = ", ".join(t for t in LIVE_TABLES if t in existing)
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
async def live_client(live_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=live_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
def live_token_for(live_app: Any, live_client: httpx.AsyncClient) -> TokenFor:
    """Like ``token_for``, but the user is committed."""

    async def make(role: Role | str, *, username: str | None = None, unit_id: int | None = None) -> dict[str, str]:
        role = Role(role)
        username = username or f"{role.value}_{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(12)
        async with state_of(live_app).sessionmaker() as session:
            await add_user(session, username=username, password=password, role=role, unit_id=unit_id)
            await session.commit()
        response = await live_client.post("/api/v1/auth/token", data={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return make


@pytest.fixture
async def live_server(live_app: Any) -> AsyncIterator[str]:
    """``live_app`` served by a real uvicorn on a free port (for real websocket and HTTP clients); yields host:port."""
    import socket

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # As `commandpost serve` runs it (web.cli.server_options), but for its logging configuration: this process's
    # logging belongs to pytest (tests/web/test_served_logs.py reads a real `serve`'s log in a subprocess).
    options = {k: v for k, v in server_options(state_of(live_app).settings).items() if k != "log_config"}
    config = uvicorn.Config(live_app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.wait_for(task, 10)
