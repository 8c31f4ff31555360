"""The hub on the real event table (PostgreSQL), without a server: fan-out by filter, the bounded queue and the
cut-off of a slow client, and the poll that makes good a ring that never came.

The hub is built as a worker builds it (``notify.live.build_live_stream``: its reader is the event table), rung by the
in-process doorbell. The events are really committed, on the run's database, and deleted afterwards by id.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from core.events import Event, EventEnvelope
from core.settings import Settings
from notify.hub import Delivery
from notify.live import LiveStream, build_live_stream
from notify.schemas import EventFilter
from tests.notify.conftest import Events
from tests.support.signals import wait_for_signal


@pytest.fixture
def live_settings(settings: Settings) -> Settings:
    # No Redis: the in-process doorbell. A long poll, so a delivery here came from the ring unless a test says so.
    return settings.model_copy(update={"redis_url": None, "hub_poll_seconds": 30.0, "ws_queue_size": 100})


async def _started(settings: Settings, events: Events) -> LiveStream:
    live = build_live_stream(settings, events.sessions, None)
    await live.start()
    return live


async def _next(queue: asyncio.Queue[Delivery], what: str) -> Delivery:
    try:
        return await asyncio.wait_for(queue.get(), 10)
    except TimeoutError:
        raise AssertionError(f"{what}: nothing delivered within 10 s") from None


async def test_rung_events_reach_matching_subscribers_in_order(live_settings: Settings, events: Events) -> None:
    [before] = await events.commit(("incident.created", {"id": 1}))
    live = await _started(live_settings, events)
    everything = live.hub.subscribe(EventFilter())
    units = live.hub.subscribe(EventFilter(type_prefixes=("unit.",)))
    one_incident = live.hub.subscribe(EventFilter(incident_id=3))
    try:
        assert live.hub.last_id == before  # committed before the hub started: the replay's job, not the hub's
        two, three, four = await events.commit(
            ("incident.created", {"id": 2}),
            ("incident.created", {"id": 3}),
            ("unit.status", {"id": 9, "status": "available"}),
        )
        await live.doorbell.ring(four)
        got = [await _next(everything.queue, f"event {n} of 3 to the unfiltered client") for n in (1, 2, 3)]
        assert [i for i, *_ in got] == [two, three, four]
        async with events.sessions() as session:
            stored = await session.get(Event, two)
            assert stored is not None
        # The wire form is the stored row's envelope: its id, type, commit-time stamp and data.
        wire = json.loads(got[0][1])
        assert wire == json.loads(EventEnvelope.of(stored).model_dump_json())
        assert (wire["id"], wire["type"], wire["data"]) == (two, "incident.created", {"id": 2})
        assert datetime.fromisoformat(wire["at"]).tzinfo is not None
        assert datetime.fromisoformat(wire["at"]) <= datetime.now(UTC)
        assert (await _next(units.queue, "the unit event"))[0] == four and units.queue.empty()
        assert (await _next(one_incident.queue, "incident 3's event"))[0] == three and one_incident.queue.empty()
    finally:
        await live.stop()


async def test_a_client_that_falls_behind_is_cut_not_buffered(live_settings: Settings, events: Events) -> None:
    live = await _started(live_settings.model_copy(update={"ws_queue_size": 10}), events)
    slow = live.hub.subscribe(EventFilter())
    try:
        burst = await events.commit(*(("incident.created", {"id": n}) for n in range(50)))
        await live.doorbell.ring(burst[-1])
        await wait_for_signal(slow.cut, what="the slow client being cut off", timeout=10)
        assert slow.queue.qsize() == 1 and slow.queue.get_nowait()[0] == -1  # one marker, nothing else kept
        assert live.hub.last_id == burst[-1]  # the others go on
    finally:
        await live.stop()


async def test_a_ring_that_never_came_is_made_good_by_the_poll(live_settings: Settings, events: Events) -> None:
    live = await _started(live_settings.model_copy(update={"hub_poll_seconds": 0.2}), events)
    watcher = live.hub.subscribe(EventFilter())
    try:
        [quiet] = await events.commit(("incident.updated", {"id": 5}))  # committed, never rung
        assert (await _next(watcher.queue, "the unrung event, found by the poll"))[0] == quiet
    finally:
        await live.stop()


def _envelope(i: int, **data: object) -> EventEnvelope:
    return EventEnvelope(id=i, type="incident.created", at=datetime(2026, 11, 28, tzinfo=UTC), data={"id": i, **data})


def test_bbox_filter_uses_the_event_position() -> None:
    inside = {"location": {"type": "Point", "coordinates": [104.06, 30.66]}}
    outside = {"location": {"type": "Point", "coordinates": [103.0, 29.0]}}
    event_filter = EventFilter(bbox=(104.0, 30.6, 104.1, 30.7))
    assert event_filter.accepts(_envelope(1, **inside))
    assert not event_filter.accepts(_envelope(2, **outside))


async def test_clients_subscribed_first_are_woken_first(live_settings: Settings, events: Events) -> None:
    live = await _started(live_settings, events)
    screens = [live.hub.subscribe(EventFilter()) for _ in range(20)]
    crew = live.hub.subscribe(EventFilter(), first=True)  # subscribed last, but a crew: its alert goes out first
    woken: list[str] = []

    async def wait(name: str, queue: asyncio.Queue[Delivery]) -> None:
        await queue.get()
        woken.append(name)

    waiting = [asyncio.create_task(wait(f"screen {n}", s.queue)) for n, s in enumerate(screens)]
    waiting.append(asyncio.create_task(wait("crew", crew.queue)))
    try:
        await asyncio.sleep(0)  # every waiter is parked on its queue
        [alert] = await events.commit(("dispatch.created", {"id": 1}))
        await live.doorbell.ring(alert)
        await asyncio.wait_for(asyncio.gather(*waiting), 10)
        assert woken[0] == "crew" and len(woken) == 21
    finally:
        await live.stop()
