"""The periodic sweeps (DESIGN.md "Jobs"): a small registry, an APScheduler that runs them, and the election that
lets one process among many run it.

Each sweep runs in a transaction of its own, takes its work with ``SELECT … FOR UPDATE SKIP LOCKED`` and is
idempotent, so even two schedulers at once never act twice. The election is a PostgreSQL session advisory lock held
on a connection of its own: the web process embeds the scheduler (``COMMANDPOST_SCHEDULER_EMBEDDED``, default on)
and, with several workers, only the worker holding the lock schedules; ``commandpost scheduler`` runs it alone.
If the lock holder dies, its connection closes, the lock is freed, and another process takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from command import service as command_service
from core.clock import utcnow
from core.db import create_sessionmaker
from core.events import take_pending_event_ids
from core.settings import Settings, get_settings
from incidents import service as incidents_service
from notify import service as notify_service
from plans import service as plans_service
from web import metrics

log = logging.getLogger(__name__)

# Fixed advisory lock key of the scheduler election: 'cmdp', 'schd'.
ELECTION_KEY = (0x636D6470, 0x73636864)

SweepFn = Callable[[AsyncSession, datetime, Settings], Awaitable[int]]
Announce = Callable[[Sequence[int]], Awaitable[None]]


@dataclass(frozen=True)
class Sweep:
    """A periodic job: ``run(session, now, settings)`` does one batch in the caller's transaction and returns how many
    things it handled; ``every`` reads its period (seconds) from the settings."""

    name: str
    every: Callable[[Settings], float]
    run: SweepFn
    at_start: bool = False  # also run once as soon as the scheduler starts, not only after the first period
    # Run again at once while a run handles at least this many (a full batch: more is waiting), instead of waiting
    # for the next period; None: once per period.
    drain_at: Callable[[Settings], int] | None = None


SWEEPS: dict[str, Sweep] = {}


def register(sweep: Sweep) -> Sweep:
    """Add a sweep to every scheduler built from now on (e.g. command's unacknowledged alerts, unit timers)."""
    SWEEPS[sweep.name] = sweep
    return sweep


async def _overdue_tasks(session: AsyncSession, now: datetime, settings: Settings) -> int:
    return await plans_service.sweep_overdue(session, now=now)


register(Sweep("plans.overdue_tasks", lambda s: s.overdue_sweep_seconds, _overdue_tasks))


async def _ack_deadlines(session: AsyncSession, now: datetime, settings: Settings) -> int:
    return await command_service.sweep_ack_deadlines(session, now=now, rules=command_service.AckRules.of(settings))


register(Sweep("command.ack_deadlines", lambda s: s.dispatch_sweep_seconds, _ack_deadlines))


async def _unit_timers(session: AsyncSession, now: datetime, settings: Settings) -> int:
    return await command_service.sweep_unit_timers(
        session,
        now=now,
        overdue_factor=settings.unit_overdue_factor,
        overdue_margin=timedelta(seconds=settings.unit_overdue_margin_seconds),
        stale_after=timedelta(minutes=settings.unit_fix_stale_minutes),
    )


register(Sweep("command.unit_timers", lambda s: s.unit_timer_sweep_seconds, _unit_timers))

_situation = command_service.SituationWatch()


async def _situation_changes(session: AsyncSession, now: datetime, settings: Settings) -> int:
    return await _situation.sweep(session)


register(Sweep("command.situation", lambda s: s.situation_sweep_seconds, _situation_changes))


async def _fix_partitions(session: AsyncSession, now: datetime, settings: Settings) -> int:
    return await command_service.sweep_fix_partitions(
        session, now=now, days_ahead=settings.location_partition_days_ahead, keep_days=settings.location_keep_days
    )


async def _positions(session: AsyncSession, now: datetime, settings: Settings) -> int:
    return await command_service.sweep_positions(session, now=now, stream_s=settings.location_stream_seconds)


register(Sweep("command.positions", lambda s: max(s.location_stream_seconds, 0.5), _positions))


# Each event loop's sending channels (one pooled HTTP client): the scheduler runs in one loop, a test in its own.
_couriers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, notify_service.Couriers] = weakref.WeakKeyDictionary()


def couriers_for(settings: Settings) -> notify_service.Couriers:
    """This event loop's couriers, made on first use."""
    loop = asyncio.get_running_loop()
    found = _couriers.get(loop)
    if found is None:
        found = _couriers[loop] = notify_service.Couriers(settings)
    return found


async def close_couriers() -> None:
    found = _couriers.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await found.aclose()


async def _deliveries(session: AsyncSession, now: datetime, settings: Settings) -> int:
    return await notify_service.send_due(session, couriers=couriers_for(settings), now=now, settings=settings)


register(
    Sweep("notify.deliveries", lambda s: s.delivery_sweep_seconds, _deliveries, drain_at=lambda s: s.delivery_batch)
)


# Also at start: a fresh database has only the default partition.
register(Sweep("command.fix_partitions", lambda s: s.fix_partition_sweep_seconds, _fix_partitions, at_start=True))


async def _cap_feeds(session: AsyncSession, now: datetime, settings: Settings) -> int:
    policy = incidents_service.FeedPolicy(
        interval_s=settings.cap_feed_interval_s,
        timeout_s=settings.cap_feed_timeout_s,
        max_backoff_s=settings.cap_feed_max_backoff_s,
        max_bytes=settings.cap_max_kb * 1024,
        trusted_certs=tuple(settings.cap_trusted_certs),
    )
    return await incidents_service.sweep_cap_feeds(session, now=now, policy=policy)


# CAP feed subscriptions: the feeds that are due, polled (issue 18).
register(Sweep("incidents.cap_feeds", lambda s: s.cap_feed_sweep_seconds, _cap_feeds))


async def _expired_warnings(session: AsyncSession, now: datetime, settings: Settings) -> int:
    return await incidents_service.sweep_expired_warnings(session, now=now)


# Warnings past their expiry: ended, and warning.expired said once each.
register(Sweep("incidents.warning_expiry", lambda s: s.cap_feed_sweep_seconds, _expired_warnings))


async def _caller_retention(session: AsyncSession, now: datetime, settings: Settings) -> int:
    keep = timedelta(days=settings.caller_retention_days)
    return await incidents_service.sweep_caller_retention(session, now=now, keep=keep, batch=CALLER_BATCH)


CALLER_BATCH = 500
# Callers of incidents closed longer ago than the retention: their name and number erased.
register(
    Sweep(
        "incidents.caller_retention",
        lambda s: s.caller_sweep_seconds,
        _caller_retention,
        at_start=True,
        drain_at=lambda s: CALLER_BATCH,
    )
)


async def run_sweep(
    sessionmaker: async_sessionmaker[AsyncSession],
    sweep: Sweep,
    *,
    settings: Settings | None = None,
    announce: Announce | None = None,
) -> int:
    """One run of a sweep in its own transaction; after the commit its events are rung. Counted (web/metrics.py)."""
    try:
        async with sessionmaker() as session:
            async with session.begin():
                handled = await sweep.run(session, utcnow(), settings or get_settings())
            event_ids = take_pending_event_ids(session)
    except Exception:
        metrics.sweep_ran(sweep.name, failed=True)
        raise
    metrics.sweep_ran(sweep.name, failed=False)
    if announce is not None and event_ids:
        await announce(event_ids)
    if handled:
        log.info("sweep %s handled %d", sweep.name, handled)
    return handled


async def drain(
    sessionmaker: async_sessionmaker[AsyncSession],
    sweep: Sweep,
    *,
    settings: Settings | None = None,
    announce: Announce | None = None,
) -> int:
    """Run the sweep; again at once, each run its own transaction, while it handles a full batch (``drain_at``):
    a backlog of deliveries goes out at the senders' pace, not a batch per period. How many in all."""
    settings = settings or get_settings()
    total = 0
    while True:
        handled = await run_sweep(sessionmaker, sweep, settings=settings, announce=announce)
        total += handled
        if sweep.drain_at is None or handled < sweep.drain_at(settings):
            return total


class Scheduler:
    """Runs the registered sweeps while this process holds the election lock; retries the election otherwise."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        *,
        announce: Announce | None = None,
        sweeps: Sequence[Sweep] | None = None,
        retry_seconds: float = 15.0,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sessionmaker = create_sessionmaker(engine)
        self.announce = announce
        self.sweeps = list(sweeps if sweeps is not None else SWEEPS.values())
        self.retry_seconds = retry_seconds
        self.leader = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._aps: AsyncIOScheduler | None = None
        self._running: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._campaign(), name="scheduler-election")

    async def stop(self, *, grace_seconds: float = 5.0) -> None:
        """Stop campaigning and starting sweeps; let a sweep that is running finish (up to ``grace_seconds``), so
        that it commits or rolls back before the engine goes, instead of dying mid-query at shutdown."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._running:
            _, late = await asyncio.wait(set(self._running), timeout=grace_seconds)
            for task in late:
                task.cancel()
        await close_couriers()

    def _schedule(self) -> AsyncIOScheduler:
        aps = AsyncIOScheduler(timezone="UTC")
        for sweep in self.sweeps:
            aps.add_job(
                self._run,
                "interval",
                seconds=sweep.every(self.settings),
                args=[sweep],
                id=sweep.name,
                max_instances=1,
                coalesce=True,
                **({"next_run_time": datetime.now(UTC)} if sweep.at_start else {}),
            )
        aps.start()
        return aps

    async def _run(self, sweep: Sweep) -> None:
        # APScheduler cancels the jobs it is running when it shuts down (at every resignation and at stop), which
        # would cut a sweep off mid-query and log a traceback. The sweep runs in a task of its own instead, shielded
        # from that; stop() waits for it.
        work = asyncio.create_task(self._sweep(sweep), name=f"sweep {sweep.name}")
        self._running.add(work)
        work.add_done_callback(self._running.discard)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(work)

    async def _sweep(self, sweep: Sweep) -> None:
        try:
            await drain(self.sessionmaker, sweep, settings=self.settings, announce=self.announce)
        except Exception:  # the next run tries again; nothing is lost, the work stays in the database
            log.exception("sweep %s failed", sweep.name)

    async def _try_lead(self) -> AsyncConnection | None:
        conn = await self.engine.connect()
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        if await conn.scalar(select(func.pg_try_advisory_lock(*ELECTION_KEY))):
            return conn
        await conn.close()
        return None

    async def _campaign(self) -> None:
        while True:
            conn = None
            try:
                conn = await self._try_lead()
                if conn is not None:
                    log.info("this process runs the scheduler (%d sweep(s))", len(self.sweeps))
                    self._aps = self._schedule()
                    self.leader.set()
                    while True:  # hold the lock; a dead connection ends the term
                        await asyncio.sleep(self.retry_seconds)
                        await conn.scalar(select(1))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("scheduler election: %s; retrying in %.0f s", exc, self.retry_seconds)
            finally:
                self._resign()
                if conn is not None:
                    await self._release(conn)
            await asyncio.sleep(self.retry_seconds)

    @staticmethod
    async def _release(conn: AsyncConnection) -> None:
        """Give the lock back before the connection returns to the pool (a session lock outlives ``close``)."""
        try:
            await conn.scalar(select(func.pg_advisory_unlock(*ELECTION_KEY)))
            await conn.close()
        except Exception:
            with contextlib.suppress(Exception):
                await conn.invalidate()

    def _resign(self) -> None:
        self.leader.clear()
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None


async def run_forever(settings: Settings, engine: AsyncEngine, *, announce: Announce | None = None) -> None:
    """``commandpost scheduler``: campaign and run the sweeps until cancelled."""
    scheduler = Scheduler(settings, engine, announce=announce)
    await scheduler.start()
    try:
        await asyncio.Event().wait()
    finally:
        await scheduler.stop()
