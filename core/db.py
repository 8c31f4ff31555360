"""The async engine, the session factory and the declarative base shared by every package's tables."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import DateTime, MetaData, func, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

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


class CreatedAtMixin:
    """A server-side creation time, always timezone-aware."""

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def create_engine(settings: Settings) -> AsyncEngine:
    """An asyncpg engine that fails fast when the database does not answer and heals when it is back.

    No pre-ping (it would cost a round trip on every request): when a pooled connection turns out to be dead,
    SQLAlchemy recognises the disconnect, answers that one request with an error (503 at the API) and discards
    every connection made before it, so the next request connects afresh. The connect timeout turns an
    unreachable server into a prompt error instead of a hung request.
    """
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_connect_timeout_s,
        connect_args={
            "timeout": settings.db_connect_timeout_s,
            "command_timeout": settings.db_command_timeout_s,
            "server_settings": {"application_name": "commandpost", "timezone": "UTC"},
        },
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (responses are built after the commit)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def create_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for requests that only read: autocommit, so no BEGIN and COMMIT round trips around them.

    Each statement sees its own snapshot; a page and its total may be a moment apart, which a list can afford.
    """
    return async_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)


def _json_value(text: str) -> Any:
    # Most capacity and properties columns are empty: skip the decoder for them (a list page has two per row).
    return {} if text == "{}" else json.loads(text)


class ReadPool:
    """A few plain asyncpg connections for the hottest reads (web/fast_reads.py), lent last-in first-out.

    asyncpg's own Pool costs about a third of a millisecond per loan here (a timeout scope on acquire, a shielded
    task on release, a FIFO that rotates every connection through the CPU caches): more than the KNN search it
    serves. This one lends an idle connection without awaiting, hands a returned one straight to the longest
    waiter, and opens connections as needed up to ``size``. A connection that comes back closed, inside a
    transaction, or from a cancelled task is terminated, not lent again; its place is opened anew on demand.
    """

    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]], *, size: int) -> None:
        self._connect = connect
        self.size = size
        self._idle: list[asyncpg.Connection] = []
        self._waiters: collections.deque[asyncio.Future[asyncpg.Connection | None]] = collections.deque()
        self.open = 0  # connections lent or idle
        self._closed = False

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        connection = await self._take()
        try:
            yield connection
        except Exception:
            self._give_back(connection)  # judged by its state: a refused statement leaves it fit to lend again
            raise
        except BaseException:
            self._give_back(connection, healthy=False)  # cancelled mid-query, say: its state is unknown
            raise
        self._give_back(connection)

    async def _take(self) -> asyncpg.Connection:
        while True:
            if self._closed:
                raise asyncpg.InterfaceError("the read pool is closed")
            while self._idle:
                connection = self._idle.pop()
                if not connection.is_closed():
                    return connection
                self.open -= 1
            if self.open < self.size:
                self.open += 1
                try:
                    return await self._connect()
                except BaseException:
                    self.open -= 1
                    self._hand(None)  # a waiter may try in this place
                    raise
            waiter: asyncio.Future[asyncpg.Connection | None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                connection = await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._hand(waiter.result())  # handed over just as the waiter gave up: pass it on
                else:
                    self._waiters.remove(waiter)
                raise
            if connection is not None:
                return connection
            # None: a place came free without a connection (one was terminated): open one in it

    def _give_back(self, connection: asyncpg.Connection, *, healthy: bool = True) -> None:
        if self._closed or not healthy or connection.is_closed() or connection.is_in_transaction():
            connection.terminate()
            self.open -= 1
            self._hand(None)
        else:
            self._hand(connection)

    def _hand(self, connection: asyncpg.Connection | None) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        if connection is not None:
            self._idle.append(connection)

    async def close(self) -> None:
        """Close the idle connections; those lent out are terminated as they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)
        self.open -= len(idle)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)  # they find the pool closed


async def create_read_pool(settings: Settings, *, size: int = 4) -> ReadPool:
    """The ReadPool of an app, with one connection opened at once (so a database that is away shows at start-up).
    Same server settings and timeouts as the engine; JSON comes back decoded, as it does through the engine.
    Autocommit by nature: a read here sees the latest committed state."""
    dsn = make_url(settings.database_url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def connect() -> asyncpg.Connection:
        connection = await asyncpg.connect(
            dsn,
            timeout=settings.db_connect_timeout_s,
            command_timeout=settings.db_command_timeout_s,
            server_settings={"application_name": "commandpost", "timezone": "UTC"},
        )
        for name in ("json", "jsonb"):
            await connection.set_type_codec(name, encoder=json.dumps, decoder=_json_value, schema="pg_catalog")
        return connection

    pool = ReadPool(connect, size=size)
    async with pool.acquire():
        pass
    return pool


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under the session, inside the session's transaction (COPY, and the hottest reads)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


@asynccontextmanager
async def transaction(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A unit of work for jobs and the CLI: commit on success, roll back on any error."""
    async with sessionmaker() as session, session.begin():
        yield session


async def ping(engine: AsyncEngine) -> None:
    """Raise if PostgreSQL does not answer a trivial query."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
