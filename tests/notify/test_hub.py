"""The hub without a server: fan-out by filter, the bounded queue, and the cut-off of a slow client."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from core.events import EventEnvelope
from notify.bus import LocalDoorbell
from notify.hub import EventFilter, Hub


def envelope(i: int, type: str = "incident.created", **data: object) -> EventEnvelope:
    return EventEnvelope(id=i, type=type, at=datetime(2026, 11, 28, tzinfo=UTC), data={"id": i, **data})


class Table:
    """A stand-in event table the test appends to (the hub's real reader is tested against PostgreSQL elsewhere)."""

    def __init__(self) -> None:
        self.rows: list[EventEnvelope] = []

    async def read_after(self, after: int, limit: int) -> list[EventEnvelope]:
        return [e for e in self.rows if e.id > after][:limit]

    async def newest(self) -> int:
        return self.rows[-1].id if self.rows else 0


async def _started(table: Table, queue_size: int = 100) -> tuple[Hub, LocalDoorbell]:
    hub = Hub(table.read_after, table.newest, queue_size=queue_size, poll_interval=30)
    bell = LocalDoorbell()
    await hub.start(bell)
    return hub, bell


async def test_rung_events_reach_matching_subscribers_in_order() -> None:
    table = Table()
    table.rows.append(envelope(1))
    hub, bell = await _started(table)
    everything = hub.subscribe(EventFilter())
    units = hub.subscribe(EventFilter(type_prefixes=("unit.",)))
    one_incident = hub.subscribe(EventFilter(incident_id=3))
    try:
        table.rows += [envelope(2), envelope(3), envelope(4, "unit.status", status="available")]
        await bell.ring(4)
        got = [await asyncio.wait_for(everything.queue.get(), 2) for _ in range(3)]
        assert [i for i, _ in got] == [2, 3, 4]  # 1 was committed before the hub started: replay's job
        expected = {"id": 2, "type": "incident.created", "at": "2026-11-28T00:00:00Z", "data": {"id": 2}}
        assert json.loads(got[0][1]) == expected
        assert (await asyncio.wait_for(units.queue.get(), 2))[0] == 4 and units.queue.empty()
        assert (await asyncio.wait_for(one_incident.queue.get(), 2))[0] == 3 and one_incident.queue.empty()
    finally:
        await hub.stop()


async def test_a_client_that_falls_behind_is_cut_not_buffered() -> None:
    table = Table()
    hub, bell = await _started(table, queue_size=10)
    slow = hub.subscribe(EventFilter())
    try:
        table.rows += [envelope(i) for i in range(1, 51)]
        await bell.ring(50)
        for _ in range(100):
            if slow.cut.is_set():
                break
            await asyncio.sleep(0.01)
        assert slow.cut.is_set()
        assert slow.queue.qsize() == 1 and slow.queue.get_nowait()[0] == -1  # one marker, nothing else kept
        assert hub.last_id == 50  # the others go on
    finally:
        await hub.stop()


async def test_bbox_filter_uses_the_event_position() -> None:
    inside = {"location": {"type": "Point", "coordinates": [104.06, 30.66]}}
    outside = {"location": {"type": "Point", "coordinates": [103.0, 29.0]}}
    event_filter = EventFilter(bbox=(104.0, 30.6, 104.1, 30.7))
    assert event_filter.accepts(envelope(1, **inside))
    assert not event_filter.accepts(envelope(2, **outside))
