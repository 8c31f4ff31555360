"""The shared counters (web/counters.py) on the real Redis: counts add up, a window starts at its first hit and is
not stretched by later ones, and the key is gone when the window is over."""

from __future__ import annotations

import asyncio

import redis.asyncio as redis_async

from core.settings import Settings
from web.counters import RedisCounters


async def test_hits_add_up_within_one_window(redis: redis_async.Redis, settings: Settings) -> None:
    counters = RedisCounters(redis, settings.redis_prefix)
    assert await counters.hit("t:add", window_s=5) == 1
    assert await counters.hit("t:add", window_s=5, amount=10) == 11
    assert await counters.hit("t:other", window_s=5) == 1
    assert await counters.take("t:add") == 11
    assert await counters.take("t:add") == 0


async def test_the_window_starts_at_the_first_hit_and_ends_on_its_own(
    redis: redis_async.Redis, settings: Settings
) -> None:
    counters = RedisCounters(redis, settings.redis_prefix)
    name = f"{settings.redis_prefix}:limits:t:window"
    await counters.hit("t:window", window_s=0.4)
    first_ttl = await redis.pttl(name)
    assert 0 < first_ttl <= 400
    await asyncio.sleep(0.2)
    assert await counters.hit("t:window", window_s=0.4) == 2
    assert await redis.pttl(name) <= first_ttl - 100  # a later hit does not stretch the window
    await asyncio.sleep(0.35)
    assert await redis.exists(name) == 0
    assert await counters.hit("t:window", window_s=0.4) == 1  # a new window


async def test_a_key_left_without_expiry_gets_one(redis: redis_async.Redis, settings: Settings) -> None:
    """Should a key ever lose its expiry (set by hand, restored from a dump), the next hit gives it one again:
    a counter never counts for ever."""
    counters = RedisCounters(redis, settings.redis_prefix)
    name = f"{settings.redis_prefix}:limits:t:stuck"
    await redis.set(name, 5)
    assert await counters.hit("t:stuck", window_s=1) == 6
    assert 0 < await redis.pttl(name) <= 1000
