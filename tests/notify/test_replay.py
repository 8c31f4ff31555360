"""Replay from an id (``notify.service.replay``) on the real event table: every committed event after the id, in
order, in bounded pages; a filter in Python or a condition in SQL narrows it without losing the resume point; no
connection is held while the caller has a page."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import create_engine, create_sessionmaker
from core.events import Event, newest_event_id
from core.settings import Settings
from notify import service as notify
from notify.schemas import EventFilter
from tests.notify.conftest import Events


@pytest.fixture
async def own_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine of this test's alone, so its pool says exactly what the replay holds."""
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


async def _committed(events: Events) -> tuple[int, list[int]]:
    """Seven events after the newest one so far, alternating incident and unit events, of incidents 41 and 42."""
    async with events.sessions() as session:
        start = await newest_event_id(session)
    ids = []
    for n in range(7):
        kind = "incident.updated" if n % 2 == 0 else "unit.status"
        [made] = await events.commit((kind, {"id": n, "incident_id": 41 + n % 2}), incident_id=41 + n % 2)
        ids.append(made)
    return start, ids


async def test_pages_are_bounded_ordered_and_end_at_the_newest(events: Events, own_engine: AsyncEngine) -> None:
    start, ids = await _committed(events)
    pages = [page async for page in notify.replay(create_sessionmaker(own_engine), after_id=start, page_size=3)]
    assert [len(p.events) for p in pages] == [3, 3, 1]
    assert [p.last_id for p in pages] == [ids[2], ids[5], ids[6]]
    assert [e.id for p in pages for e in p.events] == ids
    assert [e.data["id"] for p in pages for e in p.events] == list(range(7))
    # Resuming from the newest id replays nothing; from the middle, the rest.
    assert [p async for p in notify.replay(create_sessionmaker(own_engine), after_id=ids[-1])] == []
    rest = [e.id async for p in notify.replay(create_sessionmaker(own_engine), after_id=ids[3]) for e in p.events]
    assert rest == ids[4:]


async def test_a_filter_skips_events_but_the_resume_point_still_moves(events: Events, own_engine: AsyncEngine) -> None:
    start, ids = await _committed(events)
    units_only = EventFilter(type_prefixes=("unit.",)).accepts
    sessions = create_sessionmaker(own_engine)
    pages = [p async for p in notify.replay(sessions, after_id=start, accepts=units_only, page_size=3)]
    assert [[e.id for e in p.events] for p in pages] == [[ids[1]], [ids[3], ids[5]], []]
    assert pages[-1].last_id == ids[6]  # the last page accepted nothing and still moved the resume point


async def test_a_condition_in_sql_narrows_the_read(events: Events, own_engine: AsyncEngine) -> None:
    start, ids = await _committed(events)
    sessions = create_sessionmaker(own_engine)
    pages = [p async for p in notify.replay(sessions, after_id=start, where=Event.incident_id == 42, page_size=2)]
    assert [[e.id for e in p.events] for p in pages] == [[ids[1], ids[3]], [ids[5]]]


async def test_no_connection_is_held_while_the_caller_has_a_page(events: Events, own_engine: AsyncEngine) -> None:
    start, ids = await _committed(events)
    held = []
    async for _ in notify.replay(create_sessionmaker(own_engine), after_id=start, page_size=2):
        held.append(own_engine.pool.checkedout())  # type: ignore[attr-defined]  (QueuePool has it; Pool does not)
    assert held == [0, 0, 0, 0] and len(ids) == 7
