"""Migrations: empty → head, head → base → head, and the models agree with what the migrations built."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from core import migrate
from migrations.registry import include_object, load_metadata
from tests.conftest import drop_database, fresh_database_url

EXPECTED_TABLES = {"event", "app_user", "audit_log"}


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(False)


async def _tables_and_extensions(url: str) -> tuple[set[str], set[str]]:
    conn = await asyncpg.connect(_dsn(url))
    try:
        tables = {r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        extensions = {r[0] for r in await conn.fetch("SELECT extname FROM pg_extension")}
        return tables, extensions
    finally:
        await conn.close()


@pytest.fixture
async def empty_database() -> AsyncIterator[str]:
    url = fresh_database_url("migr")
    created = await asyncio.to_thread(migrate.ensure_database, url)
    assert created
    yield url
    await drop_database(url)


async def test_empty_to_head_then_down_and_up_again(empty_database: str) -> None:
    url = empty_database
    assert await asyncio.to_thread(migrate.pending_revisions, url) != []
    steps: list[str] = []
    await asyncio.to_thread(lambda: migrate.upgrade(url, on_step=steps.append))
    assert steps[-1] == migrate.head_revision()
    tables, extensions = await _tables_and_extensions(url)
    assert tables >= EXPECTED_TABLES
    assert {"postgis", "pgrouting"} <= extensions
    assert await asyncio.to_thread(migrate.pending_revisions, url) == []

    await asyncio.to_thread(migrate.downgrade, url, "base")
    tables, extensions = await _tables_and_extensions(url)
    assert not (EXPECTED_TABLES & tables)
    assert "postgis" not in extensions

    await asyncio.to_thread(migrate.upgrade, url)
    tables, extensions = await _tables_and_extensions(url)
    assert tables >= EXPECTED_TABLES and "postgis" in extensions


def _diff(connection: Connection, metadata: MetaData) -> list[object]:
    context = MigrationContext.configure(
        connection,
        opts={"include_object": include_object, "compare_type": True},
    )
    return list(compare_metadata(context, metadata))


async def test_models_match_the_migrated_schema(database: str) -> None:
    """A model changed without a migration (or the reverse) shows up here as a difference."""
    metadata = load_metadata()
    url = make_url(database).set(drivername="postgresql+asyncpg")

    def compare() -> list[object]:
        async def run() -> list[object]:
            engine = create_async_engine(url)
            try:
                async with engine.connect() as conn:
                    return await conn.run_sync(lambda c: _diff(c, metadata))
            finally:
                await engine.dispose()

        return asyncio.run(run())

    differences = await asyncio.to_thread(compare)
    assert differences == []
