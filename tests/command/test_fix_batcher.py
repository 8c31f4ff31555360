"""A worker's single fixes committed together (command/fix_batcher.py): each phone answered with its own outcome
and fix, once committed; a refused fix refuses only itself; a failed batch retried fix by fix; a full queue refused
at once; fixes waiting at shutdown answered, not dropped silently. Real commits on connections of their own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from command import service as command
from command.fix_batcher import FixBatcher
from command.models import UnitFix
from core.clock import utcnow
from core.errors import Forbidden, Invalid, NotFound, Unavailable
from core.events import Event
from core.geojson import Point
from core.users import Role
from gis import service as gis
from gis.schemas import ResourceIn
from tests.command.conftest import blocked_or_done

Sessions = async_sessionmaker[AsyncSession]


async def _units(sessions: Sessions, n: int) -> list[int]:
    async with sessions() as session:
        ids = []
        for i in range(n):
            data = ResourceIn(type="ambulance", name=f"Batched {i}", location=Point.of(104.06, 30.60 + i * 0.001))
            ids.append((await gis.create_resource(session, data=data)).id)
        await session.commit()
    return ids


def _crew(unit_id: int) -> command.Caller:
    return command.Caller(username=f"crew.{unit_id}", role=Role.field_unit, unit_id=unit_id)


@pytest.fixture
async def announced() -> list[int]:
    return []


@pytest.fixture
async def batcher(committed: Sessions, announced: list[int]) -> AsyncIterator[FixBatcher]:
    async def announce(ids: Sequence[int]) -> None:
        announced.extend(ids)

    running = FixBatcher(committed, keep_days=90, stream_s=0.0, announce=announce)
    running.start()
    yield running
    await running.stop()


async def _report(batcher: FixBatcher, unit_id: int, lon: float, lat: float, **more: Any) -> Any:
    caller = more.pop("caller", None) or _crew(unit_id)
    return await command.report_location(
        None,  # the batcher's own unit of work: no session of the caller's
        unit_id=unit_id,
        lon=lon,
        lat=lat,
        at=more.pop("at", None),
        caller=caller,
        keep_days=90,
        batcher=batcher,
    )


async def test_many_phones_share_commits_and_each_hears_of_its_own_fix(
    committed: Sessions, batcher: FixBatcher, announced: list[int]
) -> None:
    units = await _units(committed, 40)
    answers = await asyncio.gather(*(_report(batcher, u, 104.07, 30.61 + i * 0.001) for i, u in enumerate(units)))

    assert batcher.stats.fixes == 40 and batcher.stats.batches < 40 and batcher.stats.largest > 1
    fix_ids = [fix_id for _, fix_id, _ in answers]
    assert len(set(fix_ids)) == 40
    async with committed() as session:
        stored = {f.id: f for f in await session.scalars(select(UnitFix).where(UnitFix.id.in_(fix_ids)))}
        events = list(await session.scalars(select(Event).where(Event.id.in_(announced))))
    for i, (unit_id, (outcome, fix_id, unit)) in enumerate(zip(units, answers, strict=True)):
        assert outcome.accepted and outcome.moved and outcome.unit_id == unit_id
        assert stored[fix_id].unit_id == unit_id  # its own fix's id, not a neighbour's
        assert unit["id"] == unit_id and (unit["lon"], unit["lat"]) == pytest.approx((104.07, 30.61 + i * 0.001))
    # Every move announced once committed: one unit.location event per unit, all of them readable.
    assert sorted(e.unit_id for e in events if e.type == "unit.location") == sorted(units)


async def test_a_refused_fix_refuses_only_itself(committed: Sessions, batcher: FixBatcher) -> None:
    mine, theirs = await _units(committed, 2)
    future = utcnow() + timedelta(hours=1)
    results = await asyncio.gather(
        _report(batcher, mine, 104.08, 30.62),
        _report(batcher, theirs, 104.08, 30.62, caller=_crew(mine)),  # not its unit
        _report(batcher, 999_999, 104.08, 30.62, caller=command.Caller("cmd.b", Role.commander)),
        _report(batcher, mine, 104.08, 30.62, at=future),
        return_exceptions=True,
    )
    assert not isinstance(results[0], BaseException) and results[0][0].accepted
    assert isinstance(results[1], Forbidden)
    assert isinstance(results[2], NotFound)
    assert isinstance(results[3], Invalid) and results[3].field == "at"
    async with committed() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM unit_fix WHERE unit_id IN (:a, :b)"), {"a": mine, "b": theirs}
        )
    assert count == 1


class _FailsTogether(FixBatcher):
    """A batcher whose batches of more than one fix fail (as when the database drops the connection mid-batch):
    what the retry has to make good."""

    async def _commit(self, batch: list[Any]) -> None:
        if len(batch) > 1:
            raise ConnectionResetError("the connection went away mid-batch")
        await super()._commit(batch)


async def test_a_failed_batch_is_retried_fix_by_fix(committed: Sessions) -> None:
    units = await _units(committed, 6)

    async def announce(ids: Sequence[int]) -> None:
        return None

    failing = _FailsTogether(committed, keep_days=90, stream_s=0.0, announce=announce)
    failing.start()
    try:
        answers = await asyncio.gather(*(_report(failing, u, 104.09, 30.63) for u in units))
    finally:
        await failing.stop()
    assert failing.stats.retried_alone >= 2
    assert [outcome.accepted for outcome, _, _ in answers] == [True] * 6
    async with committed() as session:
        stored = await session.scalar(select(text("count(*)")).select_from(UnitFix).where(UnitFix.unit_id.in_(units)))
    assert stored == 6  # each exactly once: the failed batch committed nothing


async def test_a_full_queue_refuses_at_once_and_shutdown_answers_the_waiting(committed: Sessions) -> None:
    (unit,) = await _units(committed, 1)

    async def announce(ids: Sequence[int]) -> None:
        return None

    batcher = FixBatcher(committed, keep_days=90, stream_s=0.0, announce=announce, max_waiting=20)
    batcher.start()
    async with committed() as holder:  # a dispatch holding the unit's row: the batch in flight waits on it
        await holder.execute(text("SELECT id FROM resource WHERE id = :u FOR UPDATE"), {"u": unit})
        first = asyncio.create_task(_report(batcher, unit, 104.1, 30.64))
        pid = await holder.scalar(text("SELECT pg_backend_pid()"))
        async with committed() as probe:
            waiting_pid = None
            for _ in range(500):
                waiting_pid = await probe.scalar(
                    text("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> :p"), {"p": pid}
                )
                if waiting_pid is not None:
                    break
                await asyncio.sleep(0.01)
        assert waiting_pid is not None, "the batch never reached the locked row"
        await blocked_or_done(committed, waiting_pid, first, what="the first batch", must_wait=True)
        queued = [asyncio.create_task(_report(batcher, unit, 104.1, 30.64 + i * 1e-4)) for i in range(20)]
        await asyncio.sleep(0)
        with pytest.raises(Unavailable) as refused:
            await _report(batcher, unit, 104.1, 30.65)
        assert refused.value.extra["retry_after"] == 1 and batcher.stats.refused_full >= 1
        await holder.rollback()
    assert (await first)[0].accepted  # the lock gone, the waiting batch commits
    await batcher.stop()
    results = await asyncio.gather(*queued, return_exceptions=True)
    # Each queued fix was either committed before the stop or told to come back: none is left hanging.
    assert all(isinstance(r, Unavailable) or r[0].accepted for r in results)
