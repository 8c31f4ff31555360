"""The application's state: what a worker builds once at start-up (web/app.py's lifespan) and every request shares,
as one typed object instead of untyped ``app.state.x`` look-ups; ``state_of`` is the one way to reach it.

This module is the only one that touches Starlette's ``app.state`` (tests/web/test_state.py holds the rest of
web/ and the tests to that): a misspelt name is a mypy error here, not an ``AttributeError`` at request time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import redis.asyncio as redis_async
from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from command.service import FixBatcher
from core.settings import Settings
from notify.service import LiveStream
from web.audit import BurstAudit
from web.counters import Counters
from web.metrics import Sampler
from web.scheduler import Scheduler
from web.security import AuthCache
from web.signin import SignInGuard

_KEY = "commandpost"  # the one attribute of Starlette's app.state this module keeps the AppState under


@dataclass(eq=False)
class AppState:
    """Everything the lifespan builds, once per worker. Not frozen: a test swaps a part (a settings copy, an auth
    cache on a fake clock) for the time it runs."""

    settings: Settings
    # None when a test lends its own sessionmaker (web.app.create_app); then the sessionmakers are that one.
    engine: AsyncEngine | None
    sessionmaker: async_sessionmaker[AsyncSession]
    # Autocommit sessions for GET and HEAD (core.db.create_read_sessionmaker), on the same engine.
    read_sessionmaker: async_sessionmaker[AsyncSession]
    redis: redis_async.Redis | None  # None: no Redis configured, one worker with in-process counters and bus
    counters: Counters
    signin_guard: SignInGuard
    audit_bursts: BurstAudit
    auth_cache: AuthCache
    live: LiveStream
    scheduler: Scheduler | None  # None unless this process embeds the sweeps (and owns its engine)
    metrics: Sampler  # this worker's event lag and pool, for GET /metrics (web/metrics.py)
    # Single location fixes committed together (command/fix_batcher.py); None on a test's borrowed sessionmaker.
    fixes: FixBatcher | None = None


def install(app: Starlette, state: AppState) -> None:
    """Keep ``state`` on ``app`` (the lifespan does, once it has built everything)."""
    setattr(app.state, _KEY, state)


def state_of(where: HTTPConnection | Starlette) -> AppState:
    """The state of the app serving a request or a websocket (or of the app itself)."""
    app = where if isinstance(where, Starlette) else where.app
    state = getattr(app.state, _KEY, None)
    if not isinstance(state, AppState):
        raise RuntimeError("the app has not started: its lifespan builds the application state")
    return state


async def app_state(connection: HTTPConnection) -> AppState:
    """``state_of`` as a dependency, for HTTP routes and websockets alike. (``async``: FastAPI runs a plain ``def``
    dependency in a worker thread, a hop every request would pay for nothing.)"""
    return state_of(connection)


StateDep = Annotated[AppState, Depends(app_state)]
