"""The live stream of one worker: its hub and its doorbell, built from the settings."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis.asyncio as redis_async
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.events import EventEnvelope, events_after, newest_event_id
from core.settings import Settings
from notify.bus import Doorbell, LocalDoorbell, RedisDoorbell
from notify.hub import Hub


@dataclass
class LiveStream:
    hub: Hub
    doorbell: Doorbell
    _ringing: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        await self.hub.start(self.doorbell)

    async def stop(self) -> None:
        if self._ringing:
            await asyncio.wait(self._ringing, timeout=5)
        await self.hub.stop()
        await self.doorbell.aclose()

    async def lag(self) -> int:
        """The hub's lag (``Hub.lag``): events committed that this worker's clients have not been offered yet."""
        return await self.hub.lag()

    async def announce(self, event_ids: Sequence[int]) -> None:
        """After a commit: wake this worker's hub at once, and ring the newest id for every worker without making
        the request wait for Redis (a ring that never arrives is made good by the relay and the hubs' polls)."""
        if event_ids:
            self.hub.nudge()
            task = asyncio.create_task(self.doorbell.ring(max(event_ids)))
            self._ringing.add(task)
            task.add_done_callback(self._ringing.discard)


def build_live_stream(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], redis: redis_async.Redis | None
) -> LiveStream:
    """A hub reading the event table through ``sessions``; rung over Redis when configured, in-process otherwise."""

    async def read_after(after_id: int, limit: int) -> list[EventEnvelope]:
        async with sessions() as session:
            return [EventEnvelope.of(e) for e in await events_after(session, after_id, limit=limit)]

    async def newest() -> int:
        async with sessions() as session:
            return await newest_event_id(session)

    doorbell: Doorbell = RedisDoorbell(redis, settings.redis_prefix) if redis is not None else LocalDoorbell()
    hub = Hub(read_after, newest, queue_size=settings.ws_queue_size, poll_interval=settings.hub_poll_seconds)
    return LiveStream(hub=hub, doorbell=doorbell)
