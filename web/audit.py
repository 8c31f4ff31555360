"""Which requests are audited, and the audit rows they leave.

Every POST, PUT, PATCH and DELETE that reaches a route is audited, unless the route declares itself read-only with
``openapi_extra=READ_ONLY`` (e.g. classification, which computes and writes nothing).

- A signed-in caller's success: its row joins the request's own transaction (change and record commit together).
- A signed-in caller's failure (403, 404, 409, ...): one row, in a transaction of its own.
- Failures of callers who proved no identity (no token, a bad one, a wrong password, a sign-in refused with 429)
  are counted, not stored one by one, so that a flood cannot fill the table: per client address, route (action)
  and status, the first failure of a burst writes its row at once, with ``target.count`` = 1 and
  ``target.burst_s`` (its actor: the name the first caller claimed, if any); later failures only add to a counter
  (in Redis, shared by all workers; else in memory).
  When the burst's ``audit_burst_seconds`` are over (or at shutdown), the worker that wrote the row sets
  ``target.count`` to the burst's total; the next failure starts a new burst and a new row. 300 unauthenticated
  POSTs in one burst leave one row that says 300. (Should that worker die first, its row keeps the count 1.)
- A user name or a client address reaching its sign-in limit leaves one ``auth.lockout`` row (web/signin.py),
  with the failures that reached it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.audit import add_to_audit_target, record_audit, take_changes
from web.counters import Counters, MemoryCounters

log = logging.getLogger(__name__)

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READ_ONLY: dict[str, Any] = {"x-read-only": True}
# Routes whose traffic is audited per burst (per caller, route and status), not one row per request: location fixes,
# many a second from every unit, are their own record.
IN_BURSTS: dict[str, Any] = {"x-audit": "burst"}
# A burst's counter outlives the burst a little, so that its total can still be read when the burst closes.
_COUNTER_GRACE_S = 60.0


def is_audited(request: Request) -> bool:
    """True for a mutating request that matched a route not declared read-only."""
    route = request.scope.get("route")
    if route is None or request.method not in MUTATING_METHODS:
        return False
    return not (getattr(route, "openapi_extra", None) or {}).get("x-read-only", False)


def audited_in_bursts(request: Request) -> bool:
    """True for a route declared with ``openapi_extra=IN_BURSTS``."""
    route = request.scope.get("route")
    return (getattr(route, "openapi_extra", None) or {}).get("x-audit") == "burst"


def set_actor(request: Request, *, username: str | None, role: str | None) -> None:
    """Remember who is calling, for the audit row. ``role`` is None until the caller has proven who they are
    (a sign-in attempt names the user it tries, with no role)."""
    request.state.actor = username[:64] if username else None
    request.state.role = role


def add_target(request: Request, **target: Any) -> None:
    """Add what the request acted on (e.g. the id it created) to its audit row."""
    existing: dict[str, Any] = getattr(request.state, "audit_target", {})
    request.state.audit_target = {**existing, **target}


def add_row_on_failure(request: Request, **fields: Any) -> None:
    """Queue an audit row of its own (``fields`` override the request's, e.g. another ``action``) to be written when
    the request fails, after its unit of work has been rolled back."""
    request.state.rows_on_failure = [*getattr(request.state, "rows_on_failure", []), fields]


def _fields(request: Request) -> dict[str, Any]:
    route = request.scope.get("route")
    target = {k: str(v) for k, v in request.path_params.items()}
    target.update(getattr(request.state, "audit_target", {}))
    return {
        "action": getattr(route, "name", None) or f"{request.method} {request.url.path}",
        "actor": getattr(request.state, "actor", None),
        "role": getattr(request.state, "role", None),
        "method": request.method,
        "path": request.url.path,
        "target": target,
        "client_ip": request.client.host if request.client else None,
        "request_id": getattr(request.state, "request_id", None),
    }


async def audit_success(session: AsyncSession, request: Request) -> None:
    """The audit row of a successful mutation, in the mutation's own transaction (a route audited in bursts counts
    its success after the commit instead: ``audit_burst_success``). What the services noted as changed
    (``core.audit.note_change``) joins the target as ``changes``: ``{field: [before, after]}``."""
    changes = take_changes(session)
    if changes:
        noted = getattr(request.state, "audit_target", {}).get("changes") or {}
        add_target(request, changes={**noted, **changes})
    if not audited_in_bursts(request):
        await record_audit(session, outcome="ok", **_fields(request))


async def audit_read(request: Request, sessionmaker: async_sessionmaker[AsyncSession], **target: Any) -> None:
    """The audit row of a read of personal data (a GET is not audited otherwise), committed in a transaction of its
    own before the data leaves: should it fail, the request fails and nothing is read unrecorded."""
    add_target(request, **target)
    async with sessionmaker() as session:
        await record_audit(session, outcome="ok", status_code=200, **_fields(request))
        await session.commit()


async def audit_burst_success(request: Request, bursts: BurstAudit) -> None:
    """Count a committed success of a route audited in bursts; the first of a burst writes the burst's row."""
    if audited_in_bursts(request):
        await bursts.record(request, outcome="ok", status_code=200, shared=False)


async def audit_apart(
    request: Request,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    outcome: str,
    status_code: int | None,
    **changes: Any,
) -> int | None:
    """Write the request's audit row (``changes`` override its fields) in a transaction of its own; its id.

    Best effort: when the database itself is the failure, the row cannot be written and the log says so.
    """
    try:
        async with sessionmaker() as session:
            fields = _fields(request) | changes
            entry_id = await record_audit(session, outcome=outcome, status_code=status_code, **fields)
            await session.commit()
            return entry_id
    except Exception:  # the response must still go out; the failure is logged
        log.warning("could not write the audit row of a failed %s %s", request.method, request.url.path, exc_info=True)
        return None


async def audit_failure(request: Request, bursts: BurstAudit, *, outcome: str, status_code: int) -> None:
    """The audit row of a refused or failed mutation (``is_audited``): its own row for a signed-in caller, a burst's
    otherwise (``bursts``: the app's, which writes through the app's sessionmaker)."""
    for row in getattr(request.state, "rows_on_failure", []):
        await audit_apart(request, bursts.sessionmaker, **row)
    if getattr(request.state, "role", None) is None or audited_in_bursts(request):
        await bursts.record(request, outcome=outcome, status_code=status_code)
    else:
        await audit_apart(request, bursts.sessionmaker, outcome=outcome, status_code=status_code)


@dataclass(frozen=True)
class _Burst:
    key: str
    entry_id: int
    closes_at: float
    counters: Counters


class BurstAudit:
    """Failures of callers who proved no identity: one audit row per burst, which ends up holding the count.

    Failures are counted in ``counters`` (Redis: one row per burst across all workers, so that a flood spread over
    them still leaves one). The successes of a route audited in bursts (a signed-in caller's location fixes, many a
    second) are counted in this worker's memory: a burst leaves one row per worker that saw it, each with its own
    count, and a fix costs no Redis round trip for its audit."""

    def __init__(
        self,
        counters: Counters,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        burst_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.counters = counters
        self.local: Counters = MemoryCounters(clock=clock)
        self.sessionmaker = sessionmaker
        self.burst_s = burst_s
        self._clock = clock
        self._open: dict[str, _Burst] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def record(self, request: Request, *, outcome: str, status_code: int, shared: bool = True) -> None:
        """Count the request; the first of a burst writes the burst's row. ``shared``: counted across workers."""
        client = request.client.host if request.client else "-"
        fields = _fields(request)
        # A signed-in caller's traffic (a route audited in bursts) is counted per caller; a stranger's per address.
        who = fields["actor"] if fields["role"] is not None else "-"
        key = f"audit:{status_code}:{fields['action']}:{client}:{who}"
        counters = self.counters if shared else self.local
        if await counters.hit(key, window_s=self.burst_s + _COUNTER_GRACE_S) != 1:
            return
        target = {**fields["target"], "count": 1, "burst_s": self.burst_s}
        entry_id = await audit_apart(
            request, self.sessionmaker, outcome=outcome, status_code=status_code, target=target
        )
        if entry_id is None:
            await counters.forget(key)  # no row for this burst: let the next one try again
            return
        self._open[key] = _Burst(key, entry_id, self._clock() + self.burst_s, counters)
        self._wake.set()

    async def close(self, *, everything: bool = False) -> None:
        """Write the totals of the bursts that are over (all of them, with ``everything``) into their rows."""
        now = self._clock()
        for burst in [b for b in self._open.values() if everything or b.closes_at <= now]:
            del self._open[burst.key]
            count = await burst.counters.take(burst.key)
            if count > 1:
                async with self.sessionmaker() as session:
                    await add_to_audit_target(session, entry_id=burst.entry_id, count=count)
                    await session.commit()

    async def _run(self) -> None:
        while True:
            closes_at = min((b.closes_at for b in self._open.values()), default=None)
            timeout = None if closes_at is None else max(0.0, closes_at - self._clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            try:
                await self.close()
            except Exception:  # the database or Redis is away: those bursts keep the count they have
                log.warning("could not write the totals of unauthenticated failure bursts", exc_info=True)

    def start(self) -> None:
        """Close bursts as they end, in the background."""
        self._task = asyncio.create_task(self._run(), name="audit-bursts")

    async def stop(self) -> None:
        """Stop closing in the background and write the totals of the bursts still open."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self.close(everything=True)
        except Exception:
            log.warning("could not write the totals of unauthenticated failure bursts at shutdown", exc_info=True)
