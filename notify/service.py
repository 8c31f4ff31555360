"""notify's door: the live stream of a worker (its hub and doorbell), the replay of committed events from an id, and
the ring of a process that has no hub of its own. Other packages and web call these (and ``notify.schemas``), never
the hub or the bus directly."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import redis.asyncio as redis_async
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.events import EventEnvelope, events_after
from notify.bus import RedisDoorbell
from notify.hub import Subscription as Subscription  # what a websocket endpoint holds while it streams
from notify.hub import serialise as serialise
from notify.live import LiveStream as LiveStream
from notify.live import build_live_stream as build_live_stream
from notify.view import UnitView as UnitView  # a bbox client's view of the units (unit.left_view)
from notify.view import left_view_text as left_view_text

# Events read per page of a replay: a client far behind is caught up in bounded reads, never in one.
REPLAY_PAGE = 500


@dataclass(frozen=True)
class ReplayPage:
    """One page of a replay: the events in it that the caller accepts, and the id of the last event read (accepted
    or not), after which the next page starts and which a live stream resumes from."""

    events: list[EventEnvelope]
    last_id: int


async def replay(
    sessions: async_sessionmaker[AsyncSession],
    *,
    after_id: int,
    accepts: Callable[[EventEnvelope], bool] | None = None,
    where: ColumnElement[bool] | None = None,
    page_size: int = REPLAY_PAGE,
) -> AsyncGenerator[ReplayPage, None]:
    """The events committed after ``after_id``, in id order (which is commit order: ``core.events``), a page of at
    most ``page_size`` at a time, until a page comes back short.

    ``accepts`` filters in Python what a page holds (a client's ``EventFilter.accepts``); ``where``, a condition on
    ``core.events.Event``'s columns (e.g. ``Event.incident_id.in_(...)`` for a field unit's incidents), filters in
    the database, so a narrow stream does not read every event. Each page is read in a session of its own that is
    closed before the page is handed over: a slow client holds no connection while it is sent. What commits after
    the last page is the live stream's to deliver (subscribe to the hub first, then replay, and skip ids already
    sent: ``web/routes/live.py``)."""
    last = after_id
    while True:
        async with sessions() as session:
            rows = await events_after(session, last, limit=page_size, where=where)
        if not rows:
            return
        envelopes = [EventEnvelope.of(row) for row in rows]
        last = envelopes[-1].id
        yield ReplayPage(events=[e for e in envelopes if accepts is None or accepts(e)], last_id=last)
        if len(rows) < page_size:
            return


def redis_announcer(client: redis_async.Redis, *, prefix: str) -> Callable[[Sequence[int]], Awaitable[None]]:
    """For a process without a hub (``commandpost scheduler``): after a commit, ring the newest of the ids it wrote
    on Redis, so every web worker's hub reads them at once (a lost ring is made good by the hubs' polls)."""
    doorbell = RedisDoorbell(client, prefix)

    async def announce(event_ids: Sequence[int]) -> None:
        if event_ids:
            await doorbell.ring(max(event_ids))

    return announce
