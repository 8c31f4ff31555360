"""Create the database when it is missing and run the Alembic migrations, from code (CLI, setup, tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from core.settings import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


def alembic_config(database_url: str) -> Config:
    """The Alembic configuration of alembic.ini, pointed at ``database_url``."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # configparser treats % as interpolation; a password may contain one.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def _asyncpg_dsn(database_url: str, *, database: str | None = None) -> str:
    url = make_url(database_url).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


async def _ensure_database(database_url: str) -> bool:
    name = make_url(database_url).database
    if not name:
        raise ValueError("DATABASE_URL names no database")
    conn = await asyncpg.connect(_asyncpg_dsn(database_url, database="postgres"), timeout=10)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        quoted = await conn.fetchval("SELECT quote_ident($1)", name)
        await conn.execute(f"CREATE DATABASE {quoted}")  # identifiers cannot be bound; quote_ident made it safe
        return True
    finally:
        await conn.close()


def ensure_database(database_url: str) -> bool:
    """Create the database named in ``database_url`` if it does not exist. True when it was created."""
    return asyncio.run(_ensure_database(database_url))


def pending_revisions(database_url: str) -> list[str]:
    """The revisions between the database's current one and head, oldest first."""
    script = ScriptDirectory.from_config(alembic_config(database_url))
    current = asyncio.run(_current_heads(database_url))
    revisions = []
    for rev in script.iterate_revisions("heads", "base"):
        if rev.revision in current:
            break
        revisions.append(rev.revision)
    return list(reversed(revisions))


async def _current_heads(database_url: str) -> set[str]:
    conn = await asyncpg.connect(_asyncpg_dsn(database_url), timeout=10)
    try:
        exists = await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL")
        if not exists:
            return set()
        return {row[0] for row in await conn.fetch("SELECT version_num FROM alembic_version")}
    finally:
        await conn.close()


def upgrade(database_url: str, revision: str = "head", *, on_step: Callable[[str], None] | None = None) -> None:
    """Migrate up to ``revision``, one revision at a time so a caller can show progress."""
    config = alembic_config(database_url)
    if revision != "head" or on_step is None:
        command.upgrade(config, revision)
        return
    for rev in pending_revisions(database_url):
        command.upgrade(config, rev)
        on_step(rev)


def downgrade(database_url: str, revision: str) -> None:
    """Migrate down to ``revision`` (``base`` removes everything the migrations made)."""
    command.downgrade(alembic_config(database_url), revision)


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config("postgresql://localhost/x")).get_current_head()
    assert head is not None
    return head
