"""Short-lived counters and blocks shared by every worker: failed sign-ins, bursts of unauthenticated failures.

In Redis (keys ``<REDIS_PREFIX>:limits:...``, each with an expiry) when the service has Redis, so that all workers
count together; in the worker's memory otherwise, bounded. When Redis stops answering, the worker counts in its own
memory until it answers again: limits stay (per worker) and sign-in keeps working during an outage.

Written here rather than taken from a rate-limiting library: what the sign-in needs is a lockout (a block with its
own expiry after N failures) and a take-and-reset of a burst count, on the app's own Redis client and prefix.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import redis.asyncio as redis_async
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

_REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


@runtime_checkable
class Counters(Protocol):
    """Counts and blocks by key, each forgotten after its time."""

    async def hit(self, key: str, *, window_s: float, amount: int = 1) -> int:
        """Add ``amount`` (one) to ``key``'s count and return it; a count lives ``window_s`` from its first hit."""
        ...

    async def take(self, key: str) -> int:
        """``key``'s count (0 when none), which is forgotten: the next hit starts again from 1."""
        ...

    async def forget(self, key: str) -> None:
        """Drop ``key``'s count."""
        ...

    async def block(self, key: str, *, seconds: float) -> None:
        """Mark ``key`` blocked for ``seconds``."""
        ...

    async def blocked_for(self, *keys: str) -> int:
        """Whole seconds until the last block among ``keys`` ends; 0 when none is blocked."""
        ...


class MemoryCounters:
    """Counters in this worker's memory: at most ``size`` keys, the oldest dropped first."""

    def __init__(self, *, size: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self._clock = clock
        self._counts: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._blocks: OrderedDict[str, float] = OrderedDict()

    async def hit(self, key: str, *, window_s: float, amount: int = 1) -> int:
        now = self._clock()
        count, until = self._counts.get(key, (0, 0.0))
        if until <= now:
            count, until = 0, now + window_s
        self._counts[key] = (count + amount, until)
        self._counts.move_to_end(key)
        self._trim(self._counts)
        return count + amount

    async def take(self, key: str) -> int:
        count, until = self._counts.pop(key, (0, 0.0))
        return count if until > self._clock() else 0

    async def forget(self, key: str) -> None:
        self._counts.pop(key, None)

    async def block(self, key: str, *, seconds: float) -> None:
        self._blocks[key] = self._clock() + seconds
        self._blocks.move_to_end(key)
        self._trim(self._blocks)

    async def blocked_for(self, *keys: str) -> int:
        now = self._clock()
        left = max((self._blocks.get(key, now) - now for key in keys), default=0.0)
        return math.ceil(left) if left > 0 else 0

    def _trim(self, entries: OrderedDict[str, Any]) -> None:
        while len(entries) > self.size:
            entries.popitem(last=False)


# Count and start the window in one command (atomic in Redis, one round trip; a MULTI/EXEC pipeline of INCRBY and
# PEXPIRE NX sent four commands for the same): the key expires window_s after its first hit.
_HIT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return count
"""


class RedisCounters:
    """Counters in Redis, shared by every worker; every key expires on its own."""

    def __init__(self, client: redis_async.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = f"{prefix}:limits:"
        self._hit = client.register_script(_HIT)

    async def hit(self, key: str, *, window_s: float, amount: int = 1) -> int:
        return int(await self._hit(keys=[self._prefix + key], args=[amount, max(1, int(window_s * 1000))]))

    async def take(self, key: str) -> int:
        value = await self._redis.getdel(self._prefix + key)
        return int(value) if value is not None else 0

    async def forget(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)

    async def block(self, key: str, *, seconds: float) -> None:
        await self._redis.set(self._prefix + "block:" + key, 1, px=max(1, int(seconds * 1000)))

    async def blocked_for(self, *keys: str) -> int:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.pttl(self._prefix + "block:" + key)
            left = await pipe.execute()
        longest = max((ms for ms in left if ms > 0), default=0)
        return math.ceil(longest / 1000)


class FallbackCounters:
    """Redis counters that fall back to this worker's memory while Redis does not answer."""

    def __init__(self, primary: Counters, fallback: Counters) -> None:
        self.primary = primary
        self.fallback = fallback
        self._warned_at = -math.inf

    def _down(self, exc: BaseException) -> Counters:
        now = time.monotonic()
        if now - self._warned_at > 60:  # once a minute, not once per request
            self._warned_at = now
            log.warning("Redis does not answer (%s): counting sign-in failures in this worker's memory", exc)
        return self.fallback

    async def hit(self, key: str, *, window_s: float, amount: int = 1) -> int:
        try:
            return await self.primary.hit(key, window_s=window_s, amount=amount)
        except _REDIS_DOWN as exc:
            return await self._down(exc).hit(key, window_s=window_s, amount=amount)

    async def take(self, key: str) -> int:
        taken = await self.fallback.take(key)
        try:
            return taken + await self.primary.take(key)
        except _REDIS_DOWN as exc:
            self._down(exc)
            return taken

    async def forget(self, key: str) -> None:
        await self.fallback.forget(key)
        try:
            await self.primary.forget(key)
        except _REDIS_DOWN as exc:
            self._down(exc)

    async def block(self, key: str, *, seconds: float) -> None:
        await self.fallback.block(key, seconds=seconds)  # also here, so an outage does not lift it
        try:
            await self.primary.block(key, seconds=seconds)
        except _REDIS_DOWN as exc:
            self._down(exc)

    async def blocked_for(self, *keys: str) -> int:
        local = await self.fallback.blocked_for(*keys)
        try:
            return max(local, await self.primary.blocked_for(*keys))
        except _REDIS_DOWN as exc:
            self._down(exc)
            return local


def build_counters(client: redis_async.Redis | None, prefix: str) -> Counters:
    """Shared counters on the app's Redis client, or this worker's own when there is no Redis."""
    if client is None:
        return MemoryCounters()
    return FallbackCounters(RedisCounters(client, prefix), MemoryCounters())
