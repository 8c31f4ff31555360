"""Liveness and readiness, for load balancers and orchestrators. No authentication: they reveal only up/down."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from web.errors import error_body
from web.state import AppState, StateDep

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz", name="health.live")
async def healthz() -> dict[str, str]:
    """200 while the process serves requests."""
    return {"status": "ok"}


async def _check_database(state: AppState) -> None:
    async with state.sessionmaker() as session:
        await session.execute(text("SELECT 1"))


def _reason(exc: BaseException) -> str:
    """What went wrong, for the log only."""
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return f"{type(exc).__name__}: {str(exc)[:200]}" if str(exc) else type(exc).__name__


@router.get("/readyz", name="health.ready", responses={503: {"description": "a dependency does not answer"}})
async def readyz(state: StateDep) -> Any:
    """200 when PostgreSQL (and Redis, when configured) answer; otherwise 503 naming what is unavailable.

    Anyone may ask, so the answer says up or down and nothing else: why (an exception's text names hosts and
    ports) goes to the server's log.
    """
    timeout = state.settings.readiness_timeout_s
    checks: dict[str, Callable[[], Awaitable[Any]]] = {"database": lambda: _check_database(state)}
    if state.redis is not None:
        checks["redis"] = state.redis.ping
    results = await asyncio.gather(
        *(asyncio.wait_for(check(), timeout) for check in checks.values()), return_exceptions=True
    )
    status = dict.fromkeys(checks, "ok")
    for name, result in zip(checks, results, strict=True):
        if isinstance(result, BaseException):
            log.warning("readiness: %s unavailable: %s", name, _reason(result))
            status[name] = "unavailable"
    failed = [f"{name}: unavailable" for name, up in status.items() if up != "ok"]
    if failed:
        return JSONResponse(error_body("unavailable", "; ".join(failed), checks=status), status_code=503)
    return {"status": "ready", "checks": status}
