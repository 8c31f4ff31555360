"""The outbox: events are written in the caller's transaction, and ids follow commit order."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.db import create_sessionmaker
from core.events import Event, EventEnvelope, events_after, record_event


async def test_event_lives_and_dies_with_the_transaction(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)
    async with sessions() as writer, sessions() as reader:
        event = await record_event(writer, type="incident.created", data={"id": 7}, incident_id=7, actor="alice")
        assert event.id > 0 and event.created_at.tzinfo is not None
        # Not visible to anyone else until the writer commits...
        assert await reader.scalar(select(func.count()).where(Event.id == event.id)) == 0
        await writer.rollback()
        # ...and gone for good when it rolls back.
        assert await reader.scalar(select(func.count()).where(Event.id == event.id)) == 0


async def test_envelope_shape(session: AsyncSession) -> None:
    event = await record_event(session, type="unit.status", data={"id": 3, "status": "available"}, unit_id=3)
    envelope = EventEnvelope.of(event).model_dump(mode="json")
    assert set(envelope) == {"id", "type", "at", "data"}
    assert envelope["type"] == "unit.status" and envelope["data"]["status"] == "available"
    assert (await events_after(session, event.id - 1))[0].id == event.id


async def test_event_type_must_be_namespaced(session: AsyncSession) -> None:
    with pytest.raises(ValueError, match="area"):
        await record_event(session, type="created", data={})


@pytest.fixture
async def committed_events(engine: AsyncEngine) -> AsyncIterator[list[int]]:
    """Events these tests really commit; deleted afterwards."""
    ids: list[int] = []
    yield ids
    async with create_sessionmaker(engine)() as session:
        await session.execute(delete(Event).where(Event.id.in_(ids)))
        await session.commit()


async def test_a_reader_never_meets_an_id_below_one_it_has_passed(
    engine: AsyncEngine, committed_events: list[int]
) -> None:
    """20 writers commit events with random pauses between drawing the id and committing, while a reader polls
    like a resuming client. Had ids not followed commit order, the reader would see a smaller id appear late."""
    sessions = create_sessionmaker(engine)
    async with sessions() as s:
        start = await s.scalar(select(func.coalesce(func.max(Event.id), 0)))
    assert start is not None
    rng = random.Random(11)
    done = asyncio.Event()

    async def writer(n: int) -> None:
        for i in range(5):
            async with sessions() as session:
                event = await record_event(session, type="test.write", data={"writer": n, "i": i})
                await asyncio.sleep(rng.random() * 0.01)
                await session.commit()
                committed_events.append(event.id)

    seen: list[int] = []

    async def reader() -> None:
        last = start
        while True:
            finished = done.is_set()
            async with sessions() as session:
                batch = [e.id for e in await events_after(session, last) if e.type == "test.write"]
            seen.extend(batch)
            last = batch[-1] if batch else last
            if finished:
                return
            await asyncio.sleep(0.001)

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(n) for n in range(20)))
    done.set()
    await reading
    assert len(committed_events) == 100
    assert seen == sorted(committed_events), "the reader missed or reordered committed events"
