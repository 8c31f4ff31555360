"""The worker's Redis client under a burst: more concurrent commands than it has connections wait for one instead
of failing (redis-py's default pool refuses the 101st at once, and the counters would fall back to one worker's
memory: rate limits and sign-in lockouts would stop being shared)."""

from __future__ import annotations

import asyncio

import redis.asyncio as redis_async
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import Settings
from web.app import create_app
from web.state import state_of


async def test_a_burst_wider_than_the_pool_is_counted_in_redis(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], redis: redis_async.Redis
) -> None:
    narrow = settings.model_copy(update={"redis_max_connections": 4, "redis_pool_wait_s": 5.0})
    app = create_app(narrow, sessionmaker=sessionmaker)
    async with app.router.lifespan_context(app):
        state = state_of(app)
        assert state.redis is not None
        counts = await asyncio.gather(*(state.counters.hit("pool-burst", window_s=60) for _ in range(300)))
        pool = state.redis.connection_pool
        assert pool.max_connections == 4
    assert sorted(counts) == list(range(1, 301))  # every hit reached the one shared count: none fell back
    stored = await redis.get(f"{settings.redis_prefix}:limits:pool-burst")
    assert stored is not None and int(stored) == 300
