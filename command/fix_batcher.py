"""Single fixes from many phones, committed together: a worker's micro-batcher for ``POST /units/{id}/location``.

A phone sends one fix every few seconds; a city's or a province's phones send hundreds a second to each worker. Each
fix in a transaction of its own pays for a connection checkout, BEGIN, the unit lock, the insert, the update, the
event and COMMIT: the pool runs dry long before PostgreSQL does. Here a request hands its fix to the worker's batcher
and waits; one task takes every fix waiting (up to ``max_batch``) and ingests them in one unit of work
(``locations.ingest_many``: the same checks per fix, a handful of statements for all of them), commits, and answers
each request with its own outcome. Nobody waits for a batch to fill: while one batch commits the next gathers, so a
lone fix goes at once and a crowd shares commits. A request is answered only after its fix has committed.

One batch's failure (the database went away, a statement timed out) must not become another phone's failure: the
batch is retried one fix per transaction, and each request gets its own result. The queue is bounded; a full queue
refuses at once with 503 and ``Retry-After`` rather than letting requests pile up behind the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from command import locations
from command.visibility import Caller
from core.clock import utcnow
from core.errors import Unavailable
from core.events import take_pending_event_ids

log = logging.getLogger(__name__)

Announce = Callable[[Sequence[int]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Reported:
    """What became of one single fix: its outcome, the stored fix's id (None when refused) and its unit's row as it
    now stands (None when refused)."""

    outcome: locations.Outcome
    fix_id: int | None
    unit: dict[str, Any] | None


@dataclass(eq=False)
class _Waiting:
    raw: dict[str, Any]
    caller: Caller
    answer: asyncio.Future[Reported] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass
class BatcherStats:
    """How the batcher has fared since it started (tests and /metrics read it)."""

    fixes: int = 0
    batches: int = 0
    largest: int = 0
    retried_alone: int = 0
    refused_full: int = 0


class FixBatcher:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        keep_days: int,
        stream_s: float,
        announce: Announce,
        max_batch: int = 500,
        max_waiting: int = 5000,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._keep_days = keep_days
        self._stream_s = stream_s
        self._announce = announce
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Waiting] = asyncio.Queue(maxsize=max_waiting)
        self._task: asyncio.Task[None] | None = None
        self.stats = BatcherStats()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="fix-batcher")

    async def stop(self) -> None:
        """Stop taking batches; the fixes still waiting are answered 503 (their phones send them again)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while not self._queue.empty():
            waiting = self._queue.get_nowait()
            if not waiting.answer.done():
                waiting.answer.set_exception(Unavailable("the service is stopping: send the fix again", retry_after=1))

    async def report(self, raw: dict[str, Any], caller: Caller) -> Reported:
        """Hand one fix over and wait until it has committed (or been refused)."""
        if self._task is None:
            raise RuntimeError("the fix batcher has not started")
        waiting = _Waiting(raw, caller)
        try:
            self._queue.put_nowait(waiting)
        except asyncio.QueueFull:
            self.stats.refused_full += 1
            raise Unavailable("too many location fixes waiting: send it again shortly", retry_after=1) from None
        # The batch commits whether or not this request is still there to hear it (a client that hung up has its
        # fix stored all the same): the future is shielded from the request's cancellation.
        return await asyncio.shield(waiting.answer)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            except asyncio.CancelledError:
                for waiting in batch:
                    if not waiting.answer.done():
                        waiting.answer.set_exception(Unavailable("the service is stopping", retry_after=1))
                raise
            except Exception:  # noqa: BLE001 - one batch's failure is retried fix by fix below
                log.warning("a batch of %d fixes failed; retrying each alone", len(batch), exc_info=True)
                self.stats.retried_alone += len(batch)
                for waiting in batch:
                    try:
                        await self._commit([waiting])
                    except Exception as error:  # noqa: BLE001 - this request's own failure, answered to it
                        if not waiting.answer.done():
                            waiting.answer.set_exception(error)

    async def _commit(self, batch: list[_Waiting]) -> None:
        async with self._sessionmaker() as session:
            async with session.begin():
                result = await locations.ingest_many(
                    session,
                    sent=[(w.raw, w.caller) for w in batch],
                    now=utcnow(),
                    keep_days=self._keep_days,
                    stream_s=self._stream_s,
                )
            await self._announce(take_pending_event_ids(session))
        self.stats.batches += 1
        self.stats.fixes += len(batch)
        self.stats.largest = max(self.stats.largest, len(batch))
        for i, waiting in enumerate(batch):
            outcome = result.outcomes[i]
            unit = result.units.get(outcome.unit_id) if outcome.accepted and outcome.unit_id is not None else None
            if not waiting.answer.done():
                waiting.answer.set_result(Reported(outcome, result.fix_ids.get(i), unit))
