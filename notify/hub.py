"""The per-worker hub: one reader of the event table, one bounded queue per websocket client.

The hub reads committed events after the newest id it has delivered — woken by the doorbell, and every
``poll_interval`` seconds in case a ring was lost — serialises each event once, and offers it to every client whose
filter matches. A client whose queue is full is cut off (it resumes by id) instead of growing memory without bound.
Ids follow commit order (``core.events``), so reading ``id > last`` never skips an event that commits later.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from core.events import EventEnvelope
from notify.bus import Doorbell
from notify.schemas import StreamFilter

log = logging.getLogger(__name__)

BATCH = 500  # events read from the table at a time

ReadAfter = Callable[[int, int], Awaitable[Sequence[EventEnvelope]]]
Newest = Callable[[], Awaitable[int]]


class Delivery(NamedTuple):
    """An event for one client: its id, its wire form, and the event itself (for a ``UnitView`` to judge, in the
    order the client receives events). Id -1 is the marker of a client cut off."""

    id: int
    text: str
    envelope: EventEnvelope | None


CUT = Delivery(-1, "", None)


@dataclass(eq=False)
class Subscription:
    """One client's place in the hub: its filter, its bounded queue of serialised events, and why it was cut."""

    filter: StreamFilter
    queue: asyncio.Queue[Delivery]
    cut: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, delivery: Delivery) -> None:
        if self.cut.is_set():
            return
        try:
            self.queue.put_nowait(delivery)
        except asyncio.QueueFull:
            # Too slow: drop what is queued (memory back at once) and leave one marker telling the sender to close.
            self.cut.set()
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(CUT)


def serialise(envelope: EventEnvelope) -> str:
    """The wire form of an event (computed once per event, not once per client)."""
    return json.dumps(envelope.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))


class Hub:
    """Fans committed events out to this worker's websocket clients."""

    def __init__(
        self, read_after: ReadAfter, newest: Newest, *, queue_size: int = 1000, poll_interval: float = 1.0
    ) -> None:
        self._read_after = read_after
        self._newest = newest
        self.queue_size = queue_size
        self.poll_interval = poll_interval
        self.last_id = 0
        # Clients offered an event first (a crew's alert), then the rest (command-room screens): each offer wakes the
        # client's sender, and the event loop runs them in that order, so a crew's alert does not wait behind the
        # sends to a hundred screens (bench/field.py).
        self._first: set[Subscription] = set()
        self._subscriptions: set[Subscription] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._doorbell: Doorbell | None = None
        self._started = False

    @property
    def clients(self) -> int:
        return len(self._first) + len(self._subscriptions)

    async def start(self, doorbell: Doorbell) -> None:
        """Begin delivering the events committed from now on (clients replay older ones from the table)."""
        self._doorbell = doorbell
        try:
            self.last_id = await self._newest()
            self._started = True
        except Exception:  # the database is away at start-up; the first successful round will know
            log.warning("the hub starts without knowing the newest event id", exc_info=True)
        self._tasks = [
            asyncio.create_task(self._listen(doorbell), name="hub-doorbell"),
            asyncio.create_task(self._deliver(), name="hub-deliver"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=5)
            if pending:
                log.warning("hub tasks still running after 5 s: %s", [t.get_name() for t in pending])
        self._tasks = []

    async def lag(self) -> int:
        """How far this hub is behind: the newest committed event id minus the newest it has delivered."""
        return max(0, await self._newest() - self.last_id)

    def subscribe(self, event_filter: StreamFilter, *, first: bool = False) -> Subscription:
        """A client's place in the hub; ``first``: offered every event before the clients that are not."""
        subscription = Subscription(filter=event_filter, queue=asyncio.Queue(maxsize=self.queue_size))
        (self._first if first else self._subscriptions).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._first.discard(subscription)
        self._subscriptions.discard(subscription)

    def nudge(self) -> None:
        """Read the table now (e.g. right after this worker committed)."""
        self._wake.set()

    async def _listen(self, doorbell: Doorbell) -> None:
        async for event_id in doorbell.listen():
            if event_id > self.last_id:
                self._wake.set()

    async def _deliver(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            self._wake.clear()
            try:
                await self._drain()
            except Exception:  # the database may be away for a moment; the next round catches up
                log.warning("the hub could not read events after %s", self.last_id, exc_info=True)

    async def _drain(self) -> None:
        if not self._started:
            self.last_id = await self._newest()
            self._started = True
        started_at = self.last_id
        while True:
            batch = await self._read_after(self.last_id, BATCH)
            for envelope in batch:
                delivery = Delivery(envelope.id, serialise(envelope), envelope)  # one for every client
                for subscription in (*self._first, *self._subscriptions):
                    if subscription.filter.accepts(envelope):
                        subscription.offer(delivery)
                self.last_id = envelope.id
            if len(batch) < BATCH:  # all read for now: what commits later rings (or the poll finds it)
                if self.last_id > started_at and self._doorbell is not None:
                    await self._doorbell.catch_up(self.last_id)
                return
