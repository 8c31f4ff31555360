from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import create_sessionmaker
from core.settings import Settings
from core.users import Role, add_user
from tests.conftest import LIVE_TABLES, drop_database, fresh_database_url
from tests.support.workers import COMMANDER, PASSWORD, Worker
from tests.web import probe_routes


@pytest.fixture
def app(app: Any) -> Any:
    """The real app plus the probe routes."""
    app.include_router(probe_routes.router)
    return app


@pytest.fixture
async def cli_env(settings: Settings, redis: Any) -> AsyncIterator[dict[str, str]]:
    """Environment of a CLI run against a database that does not exist yet (dropped afterwards)."""
    url = fresh_database_url("cli")
    env = {
        **os.environ,
        "COMMANDPOST_DATABASE_URL": url,
        "COMMANDPOST_ADMIN_PASSWORD": "admin-pass-" + secrets.token_hex(4),
        "COMMANDPOST_SECRET_KEY": secrets.token_urlsafe(32),
        "COMMANDPOST_REDIS_URL": settings.redis_url or "",
        "COMMANDPOST_REDIS_PREFIX": settings.redis_prefix,  # this run's namespace, cleaned by the redis fixture
    }
    yield env
    await drop_database(url)


@pytest.fixture
async def worker_users(settings: Settings, engine: AsyncEngine) -> AsyncIterator[None]:
    """For server processes on the test database: a commander that really exists (tests.support.workers); every
    table these tests write is emptied afterwards."""
    async with create_sessionmaker(engine)() as session:
        await add_user(session, username=COMMANDER, password=PASSWORD, role=Role.commander)
        await session.commit()
    yield
    async with engine.begin() as conn:
        existing = {r[0] for r in await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'"))}
        await conn.execute(
            text(f"TRUNCATE {', '.join(t for t in LIVE_TABLES if t in existing)} RESTART IDENTITY CASCADE")
        )


@pytest.fixture
def worker_env(settings: Settings, worker_users: None, redis: Any) -> dict[str, str]:
    """The environment of a ``commandpost serve`` worker on the test database and Redis (a prefix of its own)."""
    return {
        **os.environ,
        "COMMANDPOST_DATABASE_URL": settings.database_url,
        "COMMANDPOST_REDIS_URL": settings.redis_url or "redis://127.0.0.1:6379/0",
        "COMMANDPOST_REDIS_PREFIX": settings.redis_prefix + secrets.token_hex(2),
        "COMMANDPOST_SECRET_KEY": settings.secret_key.get_secret_value() if settings.secret_key else "x" * 40,
        "COMMANDPOST_ADMIN_PASSWORD": "",
        "COMMANDPOST_HUB_POLL_SECONDS": "0.5",
    }


@pytest.fixture
def workers(worker_env: dict[str, str]) -> Iterator[list[Worker]]:
    """The workers a test starts (tests.support.workers); stopped afterwards."""
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()
