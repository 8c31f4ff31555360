"""Which requests are audited, and the audit row a request leaves (success in its own transaction, failure apart).

Every POST, PUT, PATCH and DELETE that reaches a route is audited, unless the route declares itself read-only with
``openapi_extra=READ_ONLY`` (e.g. classification, which computes and writes nothing).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.audit import record_audit

log = logging.getLogger(__name__)

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READ_ONLY: dict[str, Any] = {"x-read-only": True}


def is_audited(request: Request) -> bool:
    """True for a mutating request that matched a route not declared read-only."""
    route = request.scope.get("route")
    if route is None or request.method not in MUTATING_METHODS:
        return False
    return not (getattr(route, "openapi_extra", None) or {}).get("x-read-only", False)


def set_actor(request: Request, *, username: str | None, role: str | None) -> None:
    """Remember who is calling, for the audit row (also for failed sign-ins, with the name they tried)."""
    request.state.actor = username[:64] if username else None
    request.state.role = role


def add_target(request: Request, **target: Any) -> None:
    """Add what the request acted on (e.g. the id it created) to its audit row."""
    existing: dict[str, Any] = getattr(request.state, "audit_target", {})
    request.state.audit_target = {**existing, **target}


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
    """The audit row of a successful mutation, in the mutation's own transaction."""
    await record_audit(session, outcome="ok", **_fields(request))


async def audit_failure(request: Request, *, outcome: str, status_code: int) -> None:
    """The audit row of a refused or failed mutation, in a transaction of its own.

    Best effort: when the database itself is the failure, the row cannot be written and the log says so.
    """
    if not is_audited(request):
        return
    sessionmaker: async_sessionmaker[AsyncSession] | None = getattr(request.app.state, "sessionmaker", None)
    if sessionmaker is None:
        return
    try:
        async with sessionmaker() as session:
            await record_audit(session, outcome=outcome, status_code=status_code, **_fields(request))
            await session.commit()
    except Exception:  # the response must still go out; the failure is logged
        log.warning("could not write the audit row of a failed %s %s", request.method, request.url.path, exc_info=True)
