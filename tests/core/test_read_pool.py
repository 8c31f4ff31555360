"""The fast read path's connection pool, against the real server: lending, waiting, and what it does with a
connection that comes back broken."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from core.db import ReadPool, create_read_pool
from core.settings import Settings


@pytest.fixture
async def pool(settings: Settings, database: str) -> AsyncIterator[ReadPool]:
    made = await create_read_pool(settings, size=2)  # `database`: this run's, migrated
    yield made
    await made.close()


async def _backend(connection: asyncpg.Connection) -> int:
    return int(await connection.fetchval("SELECT pg_backend_pid()"))


async def test_a_returned_connection_is_lent_again(pool: ReadPool) -> None:
    async with pool.acquire() as first:
        pid = await _backend(first)
        assert await first.fetchval("SELECT '{\"a\": 1}'::jsonb") == {"a": 1}, "JSON comes back decoded"
    async with pool.acquire() as again:
        assert again is first and await _backend(again) == pid
    assert pool.open == 1


async def test_more_callers_than_connections_wait_their_turn(pool: ReadPool) -> None:
    holding = 0
    most = 0

    async def call(n: int) -> int:
        nonlocal holding, most
        async with pool.acquire() as connection:
            holding += 1
            most = max(most, holding)
            value = int(await connection.fetchval("SELECT $1::int FROM pg_sleep(0.01)", n))
            holding -= 1
            return value

    assert await asyncio.gather(*(call(n) for n in range(12))) == list(range(12))
    assert most == 2 and pool.open == 2


async def test_a_refused_statement_leaves_the_connection_fit_to_lend(pool: ReadPool) -> None:
    with pytest.raises(asyncpg.DivisionByZeroError):
        async with pool.acquire() as connection:
            await connection.fetchval("SELECT 1 / 0")
    async with pool.acquire() as again:
        assert again is connection and await again.fetchval("SELECT 2") == 2
    assert pool.open == 1


async def test_a_connection_killed_by_the_server_is_replaced(pool: ReadPool, database: str) -> None:
    async with pool.acquire() as connection:
        pid = await _backend(connection)
    admin = await asyncpg.connect(database.replace("postgresql+asyncpg", "postgresql"))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    for _ in range(50):  # the client learns of it when the socket closes
        if connection.is_closed():
            break
        await asyncio.sleep(0.01)
    async with pool.acquire() as fresh:
        assert fresh is not connection and await _backend(fresh) != pid
    assert pool.open == 1


async def test_left_in_a_transaction_or_cancelled_it_is_terminated(pool: ReadPool) -> None:
    async with pool.acquire() as connection:
        await connection.execute("BEGIN")
    assert connection.is_closed() and pool.open == 0

    started = asyncio.Event()

    async def slow() -> None:
        async with pool.acquire() as held:
            started.set()
            await held.fetchval("SELECT pg_sleep(5)")

    task = asyncio.create_task(slow())
    await started.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pool.open == 0
    async with pool.acquire() as fresh:
        assert await fresh.fetchval("SELECT 3") == 3


async def test_a_waiter_that_gives_up_does_not_lose_a_connection(pool: ReadPool) -> None:
    async with pool.acquire(), pool.acquire():
        waiter = asyncio.create_task(_borrow(pool))
        await asyncio.sleep(0.02)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    results = await asyncio.gather(*(_borrow(pool) for _ in range(4)))
    assert results == [1, 1, 1, 1] and pool.open <= 2


async def _borrow(pool: ReadPool) -> int:
    async with pool.acquire() as connection:
        return int(await connection.fetchval("SELECT 1"))


async def test_a_closed_pool_lends_nothing(pool: ReadPool) -> None:
    async with pool.acquire() as connection:
        pass
    await pool.close()
    assert connection.is_closed() and pool.open == 0
    with pytest.raises(asyncpg.InterfaceError, match="closed"):
        async with pool.acquire():
            pass
