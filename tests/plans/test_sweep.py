"""The overdue sweep on committed data: each overdue task is marked and announced once, even with two sweeps
racing on two connections; the scheduler's registry runs it in a transaction of its own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from core.clock import utcnow
from core.db import create_sessionmaker
from core.events import Event
from core.geojson import Point
from core.settings import Settings
from incidents import service as incident_service
from incidents.schemas import IncidentIn
from plans import service
from plans.models import PlanTask
from tests.conftest import LIVE_TABLES
from tests.plans.conftest import WUHOU, library
from tests.support.signals import wait_for_signal
from web.scheduler import SWEEPS, Scheduler, Sweep, run_sweep


@pytest.fixture
async def committed(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions that really commit; the tables are emptied afterwards."""
    yield create_sessionmaker(engine)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(LIVE_TABLES)} RESTART IDENTITY CASCADE"))


async def _incident_with_tasks(sessions: async_sessionmaker[AsyncSession], subtype: str, plan_id: str) -> int:
    async with sessions() as session, session.begin():
        if await service.list_plans(session, plan_id=plan_id) == ([], 0):
            document = next(d for _, d in library() if d.id == plan_id)
            await service.load_plan(session, document=document, source="test")
        data = IncidentIn(description=f"{subtype} test", location=Point.of(*WUHOU), subtype=subtype)
        incident, _ = await incident_service.create_incident(session, data=data, actor="test")
        await service.activate(session, incident_id=incident.id, plan_id=plan_id, level="IV", actor="test")
        return incident.id


async def _sweep(
    sessions: async_sessionmaker[AsyncSession],
    *,
    marked_signal: asyncio.Event | None = None,
    hold: asyncio.Event | None = None,
) -> int:
    async with sessions() as session, session.begin():
        marked = await service.sweep_overdue(session, now=utcnow() + timedelta(days=1))
        if marked_signal is not None:
            marked_signal.set()  # its rows are marked and locked, its transaction still open
        if hold is not None:
            await hold.wait()  # keep the rows locked until the other sweep has looked
        return marked


class _Watched(Scheduler):
    """A scheduler that says when it has tried for the lead and lost, so a test need not guess how long to wait."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lost = asyncio.Event()

    async def _try_lead(self) -> AsyncConnection | None:
        conn = await super()._try_lead()
        if conn is None:
            self.lost.set()
        return conn


async def _overdue_events(sessions: async_sessionmaker[AsyncSession]) -> list[int]:
    async with sessions() as session:
        rows = await session.scalars(select(Event).where(Event.type == "task.overdue"))
        return [e.data["task"]["id"] for e in rows]


async def test_two_sweeps_racing_mark_each_task_once(committed: async_sessionmaker[AsyncSession]) -> None:
    incident_id = await _incident_with_tasks(committed, "gas_leak", "cn-hazardous-chemicals")
    async with committed() as session:
        tasks = await service.tasks_of_incident(session, incident_id=incident_id)
    assert len(tasks) == 3

    # A holds its locks while B sweeps: B skips the locked rows instead of waiting or marking them again.
    marked, hold = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(_sweep(committed, marked_signal=marked, hold=hold))
    await wait_for_signal(marked, what="sweep A marking its tasks (and holding their rows)", worker=first)
    second = await _sweep(committed)
    hold.set()
    assert (await first, second) == (3, 0)
    assert await _sweep(committed) == 0  # a later sweep finds nothing left to mark

    # Two sweeps started together over fresh work: between them, each task once.
    await _incident_with_tasks(committed, "explosion", "cn-hazardous-chemicals")
    together = await asyncio.gather(_sweep(committed), _sweep(committed))
    assert sum(together) == 3

    announced = await _overdue_events(committed)
    assert len(announced) == len(set(announced)) == 6
    async with committed() as session:
        marked = await session.scalar(select(func.count()).where(PlanTask.overdue_at.is_not(None)))
        entries = await session.scalar(text("SELECT count(*) FROM incident_timeline WHERE kind = 'task_overdue'"))
    assert marked == entries == 6


async def test_done_tasks_are_never_overdue_and_the_registry_runs_the_sweep(
    committed: async_sessionmaker[AsyncSession], settings: Settings, engine: AsyncEngine
) -> None:
    incident_id = await _incident_with_tasks(committed, "building_fire", "cn-building-fire")
    async with committed() as session, session.begin():
        tasks = await service.tasks_of_incident(session, incident_id=incident_id)
        await service.update_task(session, task_id=tasks[0].id, action="complete", actor="test")
    assert "plans.overdue_tasks" in SWEEPS
    # Nothing is due yet (the deadlines are minutes away): the registered sweep, run now, marks nothing.
    rang: list[list[int]] = []

    async def announce(ids: object) -> None:
        rang.append(list(ids))  # type: ignore[call-overload]

    assert await run_sweep(committed, SWEEPS["plans.overdue_tasks"], announce=announce) == 0 and rang == []
    assert await _sweep(committed) == len(tasks) - 1

    # The election: only one of two schedulers leads.
    a, b = _Watched(settings, engine, retry_seconds=0.2), _Watched(settings, engine, retry_seconds=0.2)
    await a.start()
    await wait_for_signal(a.leader, what="scheduler a taking the lead")
    await b.start()
    await wait_for_signal(b.lost, what="scheduler b's first try for the lead")
    assert not b.leader.is_set() and a.leader.is_set()
    await a.stop()
    await wait_for_signal(b.leader, what="scheduler b taking over once a is gone")
    await b.stop()


async def test_stopping_lets_a_running_sweep_finish(
    settings: Settings, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """Shutdown does not cut a sweep off mid-query: stop() returns once the running one has committed, and
    nothing logs an error (APScheduler cancels its running jobs when it shuts down)."""
    started, finished = asyncio.Event(), asyncio.Event()

    async def slow(session: AsyncSession, now: datetime, settings: Settings) -> int:
        started.set()
        await session.execute(text("SELECT pg_sleep(0.3)"))
        finished.set()
        return 0

    scheduler = Scheduler(settings, engine, sweeps=[Sweep("test.slow", lambda s: 0.05, slow)], retry_seconds=0.2)
    await scheduler.start()
    await asyncio.wait_for(started.wait(), 5)
    await scheduler.stop()
    assert finished.is_set(), "stop() returned while the sweep was still running"
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
