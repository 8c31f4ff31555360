"""Command fixtures: sessions that really commit, each on a connection of its own, as requests and sweeps do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

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


async def blocked_or_done(
    sessions: async_sessionmaker[AsyncSession], pid: int, worker: asyncio.Task[Any], *, what: str, must_wait: bool
) -> None:
    """Return once the backend ``pid`` waits on a lock (PostgreSQL says so in pg_stat_activity), or, unless
    ``must_wait``, once ``worker`` (the task using that backend) has finished; fail after 10 s."""
    async with sessions() as probe:
        for _ in range(2000):
            if worker.done():
                worker.result()
                if must_wait:
                    raise AssertionError(f"{what}: it finished without waiting")
                return
            state = await probe.scalar(
                text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            )
            await probe.commit()  # a new transaction, a fresh statistics snapshot
            if state == "Lock":
                return
            await asyncio.sleep(0.005)
    raise AssertionError(f"{what}: not seen waiting on a lock within 10 s")
