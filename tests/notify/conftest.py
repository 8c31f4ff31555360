"""notify's fixtures: events committed for real on the run's database (as a request commits them), deleted afterwards
by id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.db import create_sessionmaker
from core.events import Event, queue_event, take_pending_event_ids
from tests.conftest import LIVE_TABLES
from tests.support.receivers import HttpReceiver


class Events:
    """Commits events the way a request does (one transaction, ids in commit order) and remembers their ids."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.ids: list[int] = []

    async def commit(self, *events: tuple[str, dict[str, Any]], incident_id: int | None = None) -> list[int]:
        async with self.sessions() as session:
            for type, data in events:
                queue_event(session, type=type, data=data, incident_id=incident_id)
            await session.commit()
            ids = take_pending_event_ids(session)
        self.ids += ids
        return ids


@pytest.fixture
async def events(engine: AsyncEngine) -> AsyncIterator[Events]:
    committed = Events(create_sessionmaker(engine))
    yield committed
    async with committed.sessions() as session:
        await session.execute(delete(Event).where(Event.id.in_(committed.ids)))
        await session.commit()


@pytest.fixture
async def committed(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions that really commit (a sweep in another session or process sees their rows); the tables these tests
    write are emptied afterwards (tests run one at a time)."""
    yield create_sessionmaker(engine)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(LIVE_TABLES)} RESTART IDENTITY CASCADE"))


@pytest.fixture
async def webhook() -> AsyncIterator[HttpReceiver]:
    """A webhook receiver that takes everything (tests change its ``script``)."""
    receiver = await HttpReceiver().start()
    yield receiver
    await receiver.stop()
