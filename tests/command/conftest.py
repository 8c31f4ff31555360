"""Command fixtures: sessions that really commit, each on a connection of its own, as requests and sweeps do."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.db import create_sessionmaker
from tests.conftest import LIVE_TABLES


@pytest.fixture
async def committed(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions that really commit (two of them are two transactions that can wait on each other); the tables
    these tests write are emptied afterwards (tests run one at a time)."""
    yield create_sessionmaker(engine)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(LIVE_TABLES)} RESTART IDENTITY CASCADE"))
