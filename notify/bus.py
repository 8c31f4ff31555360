"""The doorbell: after a commit, the id of the newest event is rung so every web worker reads the table at once.

The ring is only a hint — the ``event`` table is the truth. A worker that misses a ring (Redis was down, the writer
died between commit and ring) still finds the events by polling and through the relay, so nothing is lost.
With Redis, a ring reaches every worker on every host; without it, the in-process bell serves one worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Protocol

import redis.asyncio as redis_async
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class Doorbell(Protocol):
    async def ring(self, event_id: int) -> None:
        """Tell every listener that events up to ``event_id`` are committed. Never raises."""

    def listen(self) -> AsyncIterator[int]:
        """The ids rung by anyone, for as long as the caller iterates."""

    async def catch_up(self, newest: int) -> None:
        """The relay: ring ``newest`` if it was committed but never rung (its writer died or Redis was down)."""

    async def aclose(self) -> None:
        """Release connections."""


class LocalDoorbell:
    """One process: rings wake the listeners of this process only."""

    def __init__(self) -> None:
        self._latest = 0
        self._changed = asyncio.Condition()

    async def ring(self, event_id: int) -> None:
        async with self._changed:
            if event_id > self._latest:
                self._latest = event_id
                self._changed.notify_all()

    async def aclose(self) -> None:
        return

    async def catch_up(self, newest: int) -> None:
        return  # one process: every listener is in it, and the hub that found the event is the one that serves

    async def listen(self) -> AsyncIterator[int]:
        seen = 0  # a ring that came before the first iteration still counts (an extra wake-up is harmless)
        while True:
            async with self._changed:
                while self._latest <= seen:
                    await self._changed.wait()
                seen = self._latest
            yield seen


class RedisDoorbell:
    """Redis pub/sub on ``<prefix>:events``; the newest id rung is also kept in ``<prefix>:events:rung`` so the
    relay can tell what was committed but never rung."""

    def __init__(self, client: redis_async.Redis, prefix: str) -> None:
        self.client = client
        # Listening waits for as long as nobody rings: it gets a connection of its own, without a read timeout.
        self._listener = client.__class__(
            connection_pool=redis_async.ConnectionPool(
                **{**client.connection_pool.connection_kwargs, "socket_timeout": None, "health_check_interval": 30},
                connection_class=client.connection_pool.connection_class,
                max_connections=2,
            )
        )
        self.channel = f"{prefix}:events"
        self.rung_key = f"{prefix}:events:rung"

    async def ring(self, event_id: int) -> None:
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.publish(self.channel, str(event_id))
                # Keep the maximum: rings from several workers may arrive out of order.
                pipe.eval(_SET_MAX, 1, self.rung_key, event_id)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("could not ring event %s on Redis (the relay will): %s", event_id, exc)

    async def catch_up(self, newest: int) -> None:
        try:
            value = await self.client.get(self.rung_key)
        except (RedisError, OSError):
            return  # still down; the next round tries again
        if newest > (int(value) if value is not None else 0):
            log.info("relaying event %s, committed but never rung", newest)
            await self.ring(newest)

    async def listen(self) -> AsyncIterator[int]:
        backoff = 0.2
        while True:
            pubsub = self._listener.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                backoff = 0.2
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        with contextlib.suppress(ValueError):
                            yield int(message["data"])
            except (RedisError, OSError) as exc:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise asyncio.CancelledError from exc  # redis-py may turn our cancellation into its own error
                log.warning("lost the Redis event channel (%s); retrying in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), 2)

    async def aclose(self) -> None:
        await self._listener.aclose()


_SET_MAX = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""
