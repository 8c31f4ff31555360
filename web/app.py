"""The application factory: settings, lifespan (engine, Redis), middleware, error handlers and routers."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import redis.asyncio as redis_async
from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from command.service import FixBatcher
from core.db import create_engine, create_read_sessionmaker, create_sessionmaker, transaction
from core.settings import Settings, get_settings
from core.users import ensure_admin, set_password_threads
from notify.service import build_live_stream
from web import errors, openapi
from web.audit import BurstAudit
from web.counters import build_counters
from web.door import BodyKind, BodyLimit, InputGuard, bounded_integers
from web.headers import SecurityHeadersMiddleware
from web.logs import install_redaction
from web.metrics import SCRAPE_HOOKS, Sampler, delivery_states
from web.observe import RememberPeer, RequestRecorder
from web.request_ids import RequestIdMiddleware
from web.routes import auth, classify, dispatch, docs, field, health, live, locations, metrics, pages, users
from web.routes import deliveries as delivery_routes
from web.routes import desk as desk_routes
from web.routes import incidents as incident_routes
from web.routes import layers as layer_routes
from web.routes import photos as photo_routes
from web.routes import places as place_routes
from web.routes import plans as plan_routes
from web.routes import reports as report_routes
from web.routes import resources as resource_routes
from web.routes import roads as road_routes
from web.routes import tiles as tile_routes
from web.routes import warnings as warning_routes
from web.scheduler import Scheduler
from web.security import AuthCache
from web.signin import SignInGuard
from web.state import AppState, install

log = logging.getLogger(__name__)


class Service(FastAPI):
    """The FastAPI app with the request id and the security headers in front of its whole middleware stack
    (Starlette puts its error middleware outermost), so that every answer carries them, even a 500.

    In front of all, the client's address: the socket's peer, unless that peer is one of COMMANDPOST_TRUSTED_PROXIES,
    whose X-Forwarded-For then names it (the right-most entry that is not a trusted proxy), and whose
    X-Forwarded-Proto sets the scheme the security headers see (HSTS over HTTPS). This is the one place that reads
    X-Forwarded-For: ``commandpost serve`` turns uvicorn's own reading off.
    """

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        # The settings the middleware in front is built with, before the lifespan builds the state (web/state.py)
        # holding the same object.
        self.settings = settings
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        stack: ASGIApp = SecurityHeadersMiddleware(super().build_middleware_stack(), self.settings)
        # The access line and the latency histogram (web/observe.py): they see the request id and the real client.
        stack = RequestRecorder(stack, self.router.routes)
        stack = RequestIdMiddleware(stack)
        trusted: list[str] = self.settings.trusted_proxies
        if trusted:
            stack = cast(ASGIApp, ProxyHeadersMiddleware(stack, trusted_hosts=trusted))  # type: ignore[arg-type]
        return RememberPeer(stack)


async def _bootstrap_admin(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    if settings.admin_password is None:
        return
    try:
        async with transaction(sessionmaker) as session:
            done = await ensure_admin(session, password=settings.admin_password.get_secret_value())
        log.info("admin user %s from COMMANDPOST_ADMIN_PASSWORD", done)
    except Exception as exc:  # the service must still start; readiness reports the database
        log.warning("could not create or reset the admin user at start-up: %s", exc)


def _redis_client(settings: Settings) -> redis_async.Redis:
    """The worker's Redis client. Its pool waits (up to ``redis_pool_wait_s``) for one of its ``redis_max_connections``
    to be free rather than failing at once: redis-py's default pool refuses the 101st concurrent command, which a
    burst of 200 requests each counting something in Redis reaches."""
    assert settings.redis_url is not None
    pool = redis_async.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_pool_wait_s,
        socket_connect_timeout=2,
        socket_timeout=5,
    )
    return redis_async.Redis.from_pool(pool)


def create_app(
    settings: Settings | None = None,
    *,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
) -> FastAPI:
    """Build the service. Tests may hand in a ``sessionmaker`` bound to their own connection."""
    settings = settings or get_settings()
    install_redaction()
    set_password_threads(settings.password_hash_threads)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine: AsyncEngine | None = None
        if sessionmaker is None:
            engine = create_engine(settings)
            writes, reads = create_sessionmaker(engine), create_read_sessionmaker(engine)
        else:
            writes = reads = sessionmaker
        redis = _redis_client(settings) if settings.redis_url else None
        counters = build_counters(redis, settings.redis_prefix)
        audit_bursts = BurstAudit(counters, writes, burst_s=settings.audit_burst_seconds)
        if engine is not None:  # never in the background on a borrowed (test) connection: closed at shutdown
            audit_bursts.start()
        await _bootstrap_admin(settings, writes)
        # One engine (and pool) per process: the hub reads committed events through the app's own engine. Only a
        # test's borrowed sessionmaker differs: it is one connection inside one uncommitted transaction, which the
        # hub's background polls must neither share (asyncpg runs one statement at a time per connection) nor read
        # through (they would see uncommitted rows). The hub then gets an engine of its own, in tests only.
        hub_engine = create_engine(settings) if engine is None else None
        live = build_live_stream(settings, create_read_sessionmaker(hub_engine) if hub_engine else reads, redis)
        await live.start()
        # Sweeps run in one process among all that embed them (advisory-lock election); never on a borrowed
        # sessionmaker (tests), whose one connection must not be shared with a background job.
        scheduler = (
            Scheduler(settings, engine, announce=live.announce)
            if engine is not None and settings.scheduler_embedded
            else None
        )
        if scheduler is not None:
            await scheduler.start()
        pool_max = settings.db_pool_size + settings.db_max_overflow
        sampler = Sampler(live, engine, every_s=settings.metrics_sample_seconds, pool_max=pool_max)
        sampler.start()
        fixes = (
            FixBatcher(
                writes,
                keep_days=settings.location_keep_days,
                stream_s=settings.location_stream_seconds,
                announce=live.announce,
                max_waiting=settings.location_max_waiting,
            )
            if engine is not None
            else None
        )
        if fixes is not None:
            fixes.start()
        count_deliveries = delivery_states(reads)
        SCRAPE_HOOKS.append(count_deliveries)
        install(
            app,
            AppState(
                settings=settings,
                engine=engine,
                sessionmaker=writes,
                read_sessionmaker=reads,
                redis=redis,
                counters=counters,
                signin_guard=SignInGuard(counters, settings),
                audit_bursts=audit_bursts,
                auth_cache=AuthCache(settings.auth_cache_seconds),
                live=live,
                scheduler=scheduler,
                metrics=sampler,
                fixes=fixes,
            ),
        )
        # What startup made (modules, the plan library, metadata: some 160,000 objects) lives as long as the
        # process: out of the collector's sight, a full collection takes microseconds instead of 70-80 ms in which
        # no request or websocket is served (bench/live.py's tail).
        # Once per process (a test suite starts many apps; what later ones make is theirs to free).
        if gc.get_freeze_count() == 0:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            if scheduler is not None:
                await scheduler.stop()
            if fixes is not None:
                await fixes.stop()
            SCRAPE_HOOKS.remove(count_deliveries)
            await sampler.stop()
            await live.stop()
            await audit_bursts.stop()
            if hub_engine is not None:
                await hub_engine.dispose()
            if redis is not None:
                await redis.aclose()
            if engine is not None:
                await engine.dispose()

    app = Service(
        settings,
        title="Commandpost",
        summary="Emergency management command and dispatch",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # web/routes/docs.py serves Swagger UI from the venv, not from a CDN
        redoc_url=None,
        dependencies=[Depends(bounded_integers)],
    )
    errors.install(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    docs.install(app)
    app.include_router(live.router)
    app.include_router(field.router)
    app.include_router(auth.router, prefix="/api/v1")
    app.include_router(classify.router, prefix="/api/v1")
    app.include_router(incident_routes.router, prefix="/api/v1")
    app.include_router(desk_routes.router, prefix="/api/v1")
    app.include_router(dispatch.router, prefix="/api/v1")
    app.include_router(locations.router, prefix="/api/v1")
    app.include_router(resource_routes.router, prefix="/api/v1")
    app.include_router(layer_routes.router, prefix="/api/v1")
    app.include_router(tile_routes.router, prefix="/api/v1")
    app.include_router(road_routes.router, prefix="/api/v1")
    app.include_router(place_routes.router, prefix="/api/v1")
    app.include_router(plan_routes.router, prefix="/api/v1")
    app.include_router(warning_routes.router, prefix="/api/v1")
    app.include_router(delivery_routes.router, prefix="/api/v1")
    app.include_router(users.router, prefix="/api/v1")
    app.include_router(users.audit_router, prefix="/api/v1")
    app.include_router(photo_routes.router, prefix="/api/v1")
    app.include_router(report_routes.router, prefix="/api/v1")
    pages.install(app)
    # The door (web/door.py): the body limit outermost, so the guard inside reads at most that much.
    limits = body_limits(settings)
    app.add_middleware(InputGuard, max_checked=limits[BodyKind.json])
    app.add_middleware(BodyLimit, routes=app.router.routes, limits=limits)
    openapi.install(app, limits)
    return app


def body_limits(settings: Settings) -> dict[BodyKind, int]:
    """The request body limit of each kind of route, in bytes, from the settings."""
    return {
        BodyKind.json: settings.max_body_kb * 1024,
        BodyKind.upload: settings.max_upload_mb * 1_000_000,  # as web/routes/uploads.py counts a megabyte
        BodyKind.plan: settings.plan_max_kb * 1024,
        BodyKind.cap: settings.cap_max_kb * 1024,
        BodyKind.photo: settings.max_photo_mb * 1_000_000,
        BodyKind.note: 32 * 1024,
    }
