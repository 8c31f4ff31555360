"""The outbox: services queue events on the unit of work, which writes them in one INSERT as the last statement
before its commit (and not at all when it rolls back); ids follow commit order."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import delete, event, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.util import await_only

from core.db import create_sessionmaker, transaction
from core.events import EVENT_LOCK_KEY, Event, EventEnvelope, events_after, queue_event, take_pending_event_ids


async def _count(session: AsyncSession, type: str) -> int:
    return int(await session.scalar(select(func.count()).select_from(Event).where(Event.type == type)) or 0)


async def _holds_event_lock(session: AsyncSession) -> bool:
    held = await session.scalar(
        text("""
        SELECT count(*) FROM pg_locks
        WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND classid = :hi AND objid = :lo AND granted
        """),
        {"hi": EVENT_LOCK_KEY[0], "lo": EVENT_LOCK_KEY[1]},
    )
    return bool(held)


@pytest.fixture
async def committed_events(engine: AsyncEngine) -> AsyncIterator[list[int]]:
    """Events these tests really commit; deleted afterwards."""
    ids: list[int] = []
    yield ids
    async with create_sessionmaker(engine)() as session:
        await session.execute(delete(Event).where(Event.id.in_(ids)))
        await session.commit()


async def test_nothing_is_written_until_the_commit_and_nothing_after_a_rollback(
    engine: AsyncEngine, committed_events: list[int]
) -> None:
    sessions = create_sessionmaker(engine)
    async with sessions() as writer, sessions() as reader:
        queue_event(writer, type="test.queued", data={"n": 1}, incident_id=7, actor="alice")
        await writer.execute(text("SELECT 1"))
        # Not even the writer's own transaction has the row, and it does not hold the ordering lock: nothing can
        # take that lock early and then wait for a row.
        assert await _count(writer, "test.queued") == 0 and not await _holds_event_lock(writer)
        await writer.rollback()
        assert await _count(reader, "test.queued") == 0
        await writer.commit()  # a new unit of work: what the rolled-back one queued is gone with it
        assert take_pending_event_ids(writer) == [] and await _count(reader, "test.queued") == 0

        queue_event(writer, type="test.queued", data={"n": 2}, incident_id=7, actor="alice")
        await writer.commit()
        [event_id] = take_pending_event_ids(writer)
        committed_events.append(event_id)
        stored = await reader.get(Event, event_id)
        assert stored is not None and (stored.data, stored.incident_id, stored.actor) == ({"n": 2}, 7, "alice")


async def test_a_unit_of_work_closed_without_commit_writes_nothing_later(
    engine: AsyncEngine, committed_events: list[int]
) -> None:
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        queue_event(session, type="test.abandoned", data={})
        await session.execute(text("SELECT 1"))
    await session.close()
    async with session:  # the same session object, used again: the abandoned event does not come back
        queue_event(session, type="test.kept", data={})
        await session.commit()
        ids = take_pending_event_ids(session)
        committed_events.extend(ids)
        assert [e.type for e in await events_after(session, min(ids) - 1)] == ["test.kept"]


async def test_the_events_are_one_insert_and_the_last_statement_before_commit(
    engine: AsyncEngine, committed_events: list[int]
) -> None:
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split())[:60])

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            for n in range(3):
                queue_event(session, type="test.batch", data={"n": n})
            await session.execute(text("SELECT 2"))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)
    ids = take_pending_event_ids(session)
    committed_events.extend(ids)
    assert statements[-1].startswith("WITH ordered AS (SELECT pg_advisory_xact_lock")
    assert sum("INSERT INTO event" in s or "pg_advisory_xact_lock" in s for s in statements) == 1
    async with create_sessionmaker(engine)() as reader:
        assert [e.data["n"] for e in await events_after(reader, min(ids) - 1)] == [0, 1, 2]
    assert ids == list(range(ids[0], ids[0] + 3))


async def test_savepoints_rolled_back_drop_their_events_released_ones_keep_them(session: AsyncSession) -> None:
    queue_event(session, type="test.outer", data={})
    async with session.begin_nested():
        queue_event(session, type="test.kept", data={})
        async with session.begin_nested():
            queue_event(session, type="test.inner_kept", data={})
    nested = await session.begin_nested()
    queue_event(session, type="test.dropped", data={})
    inner = await session.begin_nested()
    queue_event(session, type="test.dropped_inner", data={})
    await inner.commit()  # released, but inside a savepoint that then rolls back: dropped too
    await nested.rollback()
    await session.commit()
    ids = take_pending_event_ids(session)
    types = [e.type for e in await events_after(session, min(ids) - 1)]
    assert types == ["test.outer", "test.kept", "test.inner_kept"]


async def test_an_incident_event_built_at_commit_carries_the_state_that_commits(session: AsyncSession) -> None:
    state = {"status": "reported"}
    queue_event(session, type="test.lazy", data=lambda: dict(state))
    state["status"] = "responding"
    await session.commit()
    [event_id] = take_pending_event_ids(session)
    stored = await session.get(Event, event_id)
    assert stored is not None and stored.data == {"status": "responding"}


async def test_envelope_shape(session: AsyncSession) -> None:
    queue_event(session, type="unit.status", data={"id": 3, "status": "available"}, unit_id=3)
    await session.commit()
    [event_id] = take_pending_event_ids(session)
    [event] = await events_after(session, event_id - 1)
    envelope = EventEnvelope.of(event).model_dump(mode="json")
    assert set(envelope) == {"id", "type", "at", "data"}
    assert envelope["type"] == "unit.status" and envelope["data"]["status"] == "available"
    assert event.unit_id == 3 and event.created_at.tzinfo is not None


async def test_event_type_must_be_namespaced(session: AsyncSession) -> None:
    with pytest.raises(ValueError, match="area"):
        queue_event(session, type="created", data={})


async def test_a_reader_never_meets_an_id_below_one_it_has_passed(
    engine: AsyncEngine, committed_events: list[int]
) -> None:
    """20 writers commit events with random pauses between drawing the ids (the INSERT) and the COMMIT, while a
    reader polls like a resuming client. Had ids not followed commit order, the reader would see a smaller id
    appear late."""
    sessions = create_sessionmaker(engine)
    async with sessions() as s:
        start = await s.scalar(select(func.coalesce(func.max(Event.id), 0)))
    assert start is not None
    rng = random.Random(11)
    done = asyncio.Event()

    def pause_before_commit(conn: Any) -> None:  # runs in SQLAlchemy's greenlet: it may wait on the loop
        await_only(asyncio.sleep(rng.random() * 0.01))

    async def writer(n: int) -> None:
        for i in range(5):
            async with sessions() as session:
                queue_event(session, type="test.write", data={"writer": n, "i": i})
                await session.commit()
                committed_events.extend(take_pending_event_ids(session))

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

    event.listen(engine.sync_engine, "commit", pause_before_commit)
    try:
        reading = asyncio.create_task(reader())
        await asyncio.gather(*(writer(n) for n in range(20)))
    finally:
        event.remove(engine.sync_engine, "commit", pause_before_commit)
    done.set()
    await reading
    assert len(committed_events) == 100
    assert seen == sorted(committed_events), "the reader missed or reordered committed events"
