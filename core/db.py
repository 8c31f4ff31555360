"""The async engine, the session factory and the declarative base shared by every package's tables."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, func, text
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

    ``hide_parameters``: a failed statement's error (and so any log or message made of it) does not carry the
    values it was given, which may be passwords, tokens or people's details.
    """
    return create_async_engine(
        settings.database_url,
        hide_parameters=True,
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
