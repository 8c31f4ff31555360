"""Where the time of ``POST /api/v1/incidents`` goes, in the serving process: timing spans around the stages of
intake (bench/floor_app.py installs them when ``BENCH_SPANS=1``; ``GET /floor/spans`` reports them).

Each stage is timed by wrapping the module attribute its caller looks up at call time (so nothing in the product
changes); every SQL statement is timed between SQLAlchemy's ``before_cursor_execute`` and ``after_cursor_execute``
(the round trip through the driver). Spans are kept per request (a context variable set by ``Traced``), nested
spans are told apart from top-level ones, and what no top-level span covers is the framework (routing, validation
of the body, dependencies, the response model and its JSON) and the ORM's own work outside the stages.
perf_counter around a call costs about a microsecond; the figures are means over the requests timed.
"""

from __future__ import annotations

import cProfile
import functools
import gc
import importlib
import inspect
import re
import time
from collections import defaultdict
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.types import ASGIApp, Receive, Scope, Send

# (module, attribute, label): the stages, in the order intake meets them.
STAGES = [
    ("web.deps", "user_from_token", "auth: the token (auth cache)"),
    ("plans.service", "hold_library", "plans: hold the library (shared lock)"),
    ("incidents.service", "classify", "reader + grading (classify_report)"),
    ("incidents.intake", "classify", "  reader: classify"),
    ("incidents.intake", "extract_facts", "  reader: extract facts"),
    ("incidents.intake", "grade", "  grading"),
    ("incidents.service", "apply_classification", "classification onto the row"),
    ("gis.service", "jurisdiction_containing", "jurisdiction"),
    ("incidents.repository", "find_duplicate", "duplicate check"),
    ("plans.service", "matches_of", "plan matching"),
    ("incidents.service", "present", "present (IncidentOut)"),
    ("web.deps", "audit_success", "audit row"),
    ("fastapi.routing", "serialize_response", "FastAPI: response model, JSON"),
]
# Calls that hold stages: timed for what they do besides the stages inside them (their own top-level time).
CONTAINERS = [
    ("fastapi.routing", "solve_dependencies", "FastAPI: dependencies, body validation (besides auth)"),
    ("command.intake", "log_report", "log_report besides its stages (ORM objects, orchestration)"),
]
METHODS = [
    (AsyncSession, "flush", "session.flush (INSERT incident, timeline)"),
    (AsyncSession, "commit", "commit (flush, events INSERT, COMMIT)"),
]
_request: ContextVar[Record | None] = ContextVar("bench_spans_request", default=None)


class Record:
    """One request's spans: label → [calls, inclusive seconds, seconds at top level]."""

    def __init__(self) -> None:
        self.spans: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
        self.depth = 0
        self.top_total = 0.0
        self.sql_started: float | None = None

    def add(self, label: str, seconds: float, *, top: bool) -> None:
        span = self.spans[label]
        span[0] += 1
        span[1] += seconds
        if top:
            span[2] += seconds
            self.top_total += seconds


_done: list[tuple[str, float, Record]] = []  # (service or floor, seconds, spans)


def _timed(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            record = _request.get()
            if record is None:
                return await fn(*args, **kwargs)
            record.depth += 1
            started = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                record.depth -= 1
                record.add(label, time.perf_counter() - started, top=record.depth == 0)

        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        record = _request.get()
        if record is None:
            return fn(*args, **kwargs)
        record.depth += 1
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            record.depth -= 1
            record.add(label, time.perf_counter() - started, top=record.depth == 0)

    return wrapper


def _container(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        record = _request.get()
        if record is None:
            return await fn(*args, **kwargs)
        inner, started = record.top_total, time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            inner = record.top_total - inner
            record.add(label, time.perf_counter() - started - inner, top=True)

    return wrapper


def install() -> None:
    """Wrap the stages (once per process)."""
    for module_name, attribute, label in STAGES:
        module = importlib.import_module(module_name)
        setattr(module, attribute, _timed(label, getattr(module, attribute)))
    for module_name, attribute, label in CONTAINERS:
        module = importlib.import_module(module_name)
        setattr(module, attribute, _container(label, getattr(module, attribute)))
    for cls, attribute, label in METHODS:
        setattr(cls, attribute, _timed(label, getattr(cls, attribute)))


_WORDS = re.compile(r"\s+")


def _sql_label(statement: str) -> str:
    words = _WORDS.sub(" ", statement.strip())
    if words.startswith("WITH ordered AS (SELECT pg_advisory_xact_lock"):
        return "  SQL: events INSERT (lock, then ids)"
    return "  SQL: " + words[:44]


def _before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    record = _request.get()
    if record is not None:
        record.sql_started = time.perf_counter()


def _after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    record = _request.get()
    if record is not None and record.sql_started is not None:
        record.add(_sql_label(statement), time.perf_counter() - record.sql_started, top=False)
        record.sql_started = None


TRACED = {"/api/v1/incidents": "service", "/floor/incidents": "floor"}


class Traced:
    """The process's app, with each ``POST /api/v1/incidents`` (the service's intake) and ``POST /floor/incidents``
    (its floor) timed from the first byte in to the last byte out; the service's with its stages."""

    def __init__(self, app: ASGIApp, *, engine: Callable[[], AsyncEngine]) -> None:
        self.app = app
        self.engine = engine
        self.listening = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = TRACED.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if kind is None:
            await self.app(scope, receive, send)
            return
        if not self.listening:  # the engine exists once the lifespan has started
            event.listen(self.engine().sync_engine, "before_cursor_execute", _before)
            event.listen(self.engine().sync_engine, "after_cursor_execute", _after)
            self.listening = True
        record = Record()
        token = _request.set(record) if kind == "service" else None
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            if token is not None:
                _request.reset(token)
            _done.append((kind, time.perf_counter() - started, record))


async def report(reset: bool = False) -> dict[str, Any]:
    """Means per request over the requests timed so far: the service's whole request and each span (calls,
    inclusive ms, top-level ms); the floor's whole request."""
    service = [(t, record) for kind, t, record in _done if kind == "service"]
    floor = [t for kind, t, _ in _done if kind == "floor"]
    n = len(service)
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for _, record in service:
        for label, (calls, inclusive, top) in record.spans.items():
            kept = totals[label]
            kept[0] += calls
            kept[1] += inclusive
            kept[2] += top
    answer = {
        "requests": n,
        "total_ms": sum(t for t, _ in service) / n * 1000 if n else 0.0,
        "floor_requests": len(floor),
        "floor_ms": sum(floor) / len(floor) * 1000 if floor else 0.0,
        "spans": {
            label: {"calls": calls / n, "ms": inclusive / n * 1000, "top_ms": top / n * 1000}
            for label, (calls, inclusive, top) in totals.items()
        },
    }
    if reset:
        _done.clear()
    return answer


_profiler: list[cProfile.Profile] = []


async def profile(start: bool = False, out: str | None = None) -> dict[str, str]:
    """``start=1``: run cProfile over the whole process from now; ``out=path``: stop it and write its stats there
    (a run of its own: the profiler slows Python down several times, so its figures are shares, not timings)."""
    if start:
        _profiler[:] = [cProfile.Profile()]
        _profiler[0].enable()
        return {"profiling": "started"}
    profiler = _profiler.pop()
    profiler.disable()
    profiler.dump_stats(out or "/dev/null")
    return {"profiling": "stopped", "out": out or ""}


class GcLog:
    """The process's full (generation 2) garbage collections: how many, how long (a pause of every request)."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._started)

    async def report(self, reset: bool = False) -> dict[str, Any]:
        """The full collections since the last reset: their number, the longest and the total, in ms."""
        ms = [p * 1000 for p in self.pauses]
        if reset:
            self.pauses.clear()
        return {"count": len(ms), "max_ms": max(ms, default=0.0), "total_ms": sum(ms), "frozen": gc.get_freeze_count()}
