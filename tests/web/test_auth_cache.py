"""The auth cache under a crowd: when a user's entry expires while many requests or websockets of that user need it,
one of them reads the user from the database and the others wait for that answer (bench/live.py measured a thousand
SELECTs per worker at each expiry before)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from core.users import Signer
from web.security import AuthCache

USER = Signer(username="crowd", role="commander", unit_id=None, active=True, password_changed_at=datetime.now(UTC))


async def test_concurrent_misses_read_the_user_once_and_keep_it() -> None:
    cache, reads = AuthCache(5.0), 0
    gate = asyncio.Event()

    async def load() -> Signer | None:
        nonlocal reads
        reads += 1
        await gate.wait()  # the database is slow: everyone else misses meanwhile
        return USER

    crowd = [asyncio.create_task(cache.read_signer("crowd", load)) for _ in range(500)]
    await asyncio.sleep(0)
    gate.set()
    assert set(await asyncio.gather(*crowd)) == {USER} and reads == 1
    assert cache.signer("crowd") is USER  # kept: the next request does not read at all


async def test_a_failed_read_reaches_every_waiter_and_the_next_miss_reads_again() -> None:
    cache, reads = AuthCache(5.0), 0

    async def failing() -> Signer | None:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.01)
        raise ConnectionError("the database is away")

    results = await asyncio.gather(*(cache.read_signer("crowd", failing) for _ in range(20)), return_exceptions=True)
    assert reads == 1 and all(isinstance(r, ConnectionError) for r in results)

    async def working() -> Signer | None:
        return USER

    assert await cache.read_signer("crowd", working) is USER


async def test_a_cancelled_reader_does_not_cancel_those_waiting_on_it() -> None:
    cache, started = AuthCache(5.0), asyncio.Event()

    async def stuck() -> Signer | None:
        started.set()
        await asyncio.sleep(30)
        return USER

    async def quick() -> Signer | None:
        return USER

    leader = asyncio.create_task(cache.read_signer("crowd", stuck))
    await started.wait()
    waiter = asyncio.create_task(cache.read_signer("crowd", quick))
    await asyncio.sleep(0)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert await asyncio.wait_for(waiter, 5) is USER  # it read for itself
