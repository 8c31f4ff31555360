"""What ``GET /metrics`` shows (Prometheus text format, prometheus-client), and how a worker keeps it current.

- ``commandpost_http_request_duration_seconds{route, method, status}``: every HTTP answer, by the route's template
  (``/api/v1/incidents/{incident_id}``, never the raw path: the number of series stays bounded; a request that
  matched no route is ``route="unmatched"``) and the status class (``2xx`` .. ``5xx``). Written by
  ``web.observe.RequestRecorder``.
- ``commandpost_websocket_clients{stream}``: open live streams (``command``, ``field``), summed over the workers alive.
- ``commandpost_event_lag{pid}``: per worker, the newest committed event id minus the newest its hub has delivered.
- ``commandpost_sweep_runs_total{sweep}``, ``commandpost_sweep_failures_total{sweep}``: the periodic sweeps.
- ``commandpost_db_pool_in_use{pid}``, ``..._open{pid}``, ``..._max{pid}``: each worker's connection pool.

Several workers (``commandpost serve --workers N``): a scrape reaches one of them, so every worker writes its
values to files in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode, set up by ``serve``) and the
worker that answers adds them all up. The per-worker gauges are not computed when scraped (the scrape reaches one
worker), but sampled by each worker every ``metrics_sample_seconds`` (``Sampler``) and by the worker answering, now.

- ``commandpost_deliveries{state, channel}``: outbound messages (notify's deliveries) in each state (``queued``,
  ``sent``, ``failed``, ``dead``, ``cancelled``) by channel, counted from the database by the worker answering the
  scrape (one ``GROUP BY``: ``delivery_states``, one of the ``SCRAPE_HOOKS``), so every worker shows the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import QueuePool

from notify import service as notify

if TYPE_CHECKING:
    from notify.service import LiveStream

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED = "unmatched"

REQUEST_SECONDS = Histogram(
    "commandpost_http_request_duration_seconds",
    "HTTP requests: time from the request's arrival to the end of its answer, by route template, method, status class",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WEBSOCKET_CLIENTS = Gauge(
    "commandpost_websocket_clients",
    "Open live streams (websockets) by stream, over every worker alive",
    ["stream"],
    multiprocess_mode="livesum",
)
EVENT_LAG = Gauge(
    "commandpost_event_lag",
    "Per worker: the newest committed event id minus the newest event id its hub has delivered",
    multiprocess_mode="liveall",
)
SWEEP_RUNS = Counter("commandpost_sweep_runs", "Periodic sweep runs, by sweep", ["sweep"])
SWEEP_FAILURES = Counter("commandpost_sweep_failures", "Periodic sweep runs that failed, by sweep", ["sweep"])
POOL_IN_USE = Gauge(
    "commandpost_db_pool_in_use", "Per worker: database connections checked out", multiprocess_mode="liveall"
)
POOL_OPEN = Gauge(
    "commandpost_db_pool_open", "Per worker: database connections open (in use and idle)", multiprocess_mode="liveall"
)
POOL_MAX = Gauge(
    "commandpost_db_pool_max",
    "Per worker: the most connections the pool opens (pool size plus overflow); past it requests wait",
    multiprocess_mode="liveall",
)

DELIVERIES = Gauge(
    "commandpost_deliveries",
    "Outbound messages (deliveries) in each state, by channel, as the database holds them at the scrape",
    ["state", "channel"],
    multiprocess_mode="mostrecent",  # the whole database's figure, written by whichever worker answered last
)

# Called at every scrape, by the worker that answers, before the answer is written: for values of the whole
# database rather than of a worker (the delivery states). Each app adds its own at start-up and removes it at
# shutdown (web/app.py).
SCRAPE_HOOKS: list[Callable[[], Awaitable[None]]] = []


def delivery_states(reads: async_sessionmaker[AsyncSession]) -> Callable[[], Awaitable[None]]:
    """A scrape hook that sets ``commandpost_deliveries`` from the database; when the database does not answer,
    the gauges keep their last values and the rest of the scrape still answers."""

    async def hook() -> None:
        try:
            async with reads() as session:
                counts = await notify.delivery_counts(session)
        except Exception as exc:
            log.warning("metrics: could not count the deliveries: %s", type(exc).__name__)
            return
        for (state, channel), n in counts.items():
            DELIVERIES.labels(state=state, channel=channel).set(n)

    return hook


def status_class(status: int) -> str:
    """``2xx`` for 200..299, and so on: five values, whatever the routes answer."""
    return f"{status // 100}xx"


def stream_opened(stream: str) -> None:
    """A client of a live stream (``command``, ``field``) is subscribed; ``stream_closed`` when it leaves."""
    WEBSOCKET_CLIENTS.labels(stream=stream).inc()


def stream_closed(stream: str) -> None:
    WEBSOCKET_CLIENTS.labels(stream=stream).dec()


def sweep_ran(sweep: str, *, failed: bool) -> None:
    SWEEP_RUNS.labels(sweep=sweep).inc()
    if failed:
        SWEEP_FAILURES.labels(sweep=sweep).inc()


def sample_pool(engine: AsyncEngine | None) -> None:
    """The worker's pool gauges (nothing on a test's borrowed connection, which has no pool of ours)."""
    if engine is None:
        return
    pool = engine.pool
    if isinstance(pool, QueuePool):
        POOL_IN_USE.set(pool.checkedout())
        POOL_OPEN.set(pool.checkedout() + pool.checkedin())


class Sampler:
    """Samples this worker's event lag and pool now and then, so that a scrape reaching another worker still shows
    this one's (see the module's doc)."""

    def __init__(self, live: LiveStream, engine: AsyncEngine | None, *, every_s: float, pool_max: int) -> None:
        self.live = live
        self.engine = engine
        self.every_s = every_s
        self._task: asyncio.Task[None] | None = None
        if engine is not None:
            POOL_MAX.set(pool_max)

    async def sample(self) -> None:
        sample_pool(self.engine)
        EVENT_LAG.set(await self.live.lag())

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="metrics-sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if os.environ.get(MULTIPROC_ENV):  # this worker's live gauges leave the sums
            prometheus_multiprocess.mark_process_dead(os.getpid())

    async def _run(self) -> None:
        while True:
            try:
                await self.sample()
            except Exception as exc:  # the database is away for a moment: the gauges keep their last values
                log.warning("metrics: could not sample the event lag: %s", type(exc).__name__)
            await asyncio.sleep(self.every_s)


_LIVE_FILE = re.compile(r"^gauge_live\w+?_(\d+)\.db$")


def _forget_dead_workers(directory: Path) -> None:
    """Drop the live gauges of workers that died without saying so (killed, then replaced by uvicorn's supervisor),
    so that their last websocket counts do not stay in the sums."""
    for pid in {int(m.group(1)) for p in directory.iterdir() if (m := _LIVE_FILE.match(p.name))}:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            prometheus_multiprocess.mark_process_dead(pid, str(directory))
        except PermissionError:  # alive, someone else's
            pass


async def exposition() -> bytes:
    """The scrape's answer: every worker's values in multiprocess mode, else this process's."""
    for hook in SCRAPE_HOOKS:
        await hook()
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return generate_latest(REGISTRY)
    _forget_dead_workers(Path(directory))
    registry = CollectorRegistry()
    prometheus_multiprocess.MultiProcessCollector(registry, path=directory)
    return generate_latest(registry)
