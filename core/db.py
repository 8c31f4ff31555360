"""The async engine, the session factory and the declarative base shared by every package's tables."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import MetaData, event, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from core.settings import Settings

# Constraint names that Alembic can rely on across databases and migrations.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every Commandpost table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def create_engine(settings: Settings, *, bulk: bool = False) -> AsyncEngine:
    """An asyncpg engine that fails fast when the database does not answer and heals when it is back.

    No pre-ping (it would cost a round trip on every request): when a pooled connection turns out to be dead,
    SQLAlchemy recognises the disconnect, answers that one request with an error (503 at the API) and discards
    every connection made before it, so the next request connects afresh. Time limits, so that nothing waits long
    on a database that is slow or silent: the connect timeout (an unreachable server, and the wait for a pooled
    connection); PostgreSQL's ``statement_timeout`` on every statement (it cancels the statement and the
    connection stays usable); and the client's own wait for each answer, a little longer, for a network that
    drops everything (that connection is then dropped, see ``_silence_is_a_disconnect``). ``bulk``: the long
    limits of bulk work (the CLI); a request that does bulk work raises its own limits with ``bulk_timeouts``.

    ``hide_parameters``: a failed statement's error (and so any log or message made of it) does not carry the
    values it was given, which may be passwords, tokens or people's details.
    """
    statement_s = settings.db_bulk_timeout_s if bulk else settings.db_statement_timeout_s
    engine = create_async_engine(
        settings.database_url,
        hide_parameters=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_connect_timeout_s,
        connect_args={
            "timeout": settings.db_connect_timeout_s,
            "command_timeout": settings.command_timeout_s(bulk=bulk),
            "server_settings": {
                "application_name": "commandpost",
                "timezone": "UTC",
                "statement_timeout": str(_ms(statement_s)),
            },
        },
        execution_options={_BULK_TIMEOUT: settings.db_bulk_timeout_s},
    )
    event.listen(engine.sync_engine, "handle_error", _silence_is_a_disconnect)
    return engine


_BULK_TIMEOUT = "commandpost_bulk_timeout_s"
# The limit in force (to put back afterwards), read before it is raised for the rest of the transaction.
_RAISE_LIMIT = text("""
WITH before AS MATERIALIZED (SELECT current_setting('statement_timeout') AS previous)
SELECT previous, set_config('statement_timeout', :ms, true) FROM before
""")


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _silence_is_a_disconnect(context: ExceptionContext) -> None:
    """The client gave up waiting for an answer (asyncpg's command timeout) or the socket failed: the connection
    is in an unknown state (a statement may still run, a cancel request may hang on the same silent network), so
    it is dropped at once rather than rolled back, and with it every pooled connection made before (they went
    through the same network). PostgreSQL's own statement timeout is not this: that connection is fine."""
    if isinstance(context.original_exception, OSError):  # TimeoutError and ConnectionError are OSErrors
        context.is_disconnect = True


@asynccontextmanager
async def bulk_timeouts(session: AsyncSession) -> AsyncIterator[None]:
    """Within the session's transaction, let statements run for up to the bulk timeout (``db_bulk_timeout_s``):
    PostgreSQL's ``statement_timeout`` until the block ends (``SET LOCAL``), and the client's own wait for answers
    on this connection. For bulk work in a request (a layer import); the CLI's engine has the long limits anyway.
    """
    connection = await session.connection()
    seconds = connection.sync_engine.get_execution_options().get(_BULK_TIMEOUT)
    if seconds is None:  # an engine not made by create_engine: its limits are its own
        yield
        return
    previous = (await session.execute(_RAISE_LIMIT, {"ms": str(_ms(seconds))})).scalar_one()
    driver = await driver_connection(session)
    # asyncpg has no public setter for a connection's command timeout, and SQLAlchemy passes no per-call timeout;
    # its per-connection settings are a named tuple that every call reads afresh.
    before = driver._config
    driver._config = before._replace(command_timeout=seconds + 1.0)
    try:
        yield
    finally:
        driver._config = before
    await session.execute(text("SELECT set_config('statement_timeout', :previous, true)"), {"previous": previous})


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (responses are built after the commit)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def create_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for requests that only read: autocommit, so no BEGIN and COMMIT round trips around them.

    Each statement sees its own snapshot; a page and its total may be a moment apart, which a list can afford.
    """
    return async_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under the session, inside the session's transaction (COPY, and the hottest reads)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


@asynccontextmanager
async def transaction(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A unit of work for jobs and the CLI: commit on success (writing the events it queued, last: core.events),
    roll back on any error."""
    async with sessionmaker() as session, session.begin():
        yield session


async def ping(engine: AsyncEngine) -> None:
    """Raise if PostgreSQL does not answer a trivial query."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
