"""Every mutating request leaves who, what, when and how it ended in audit_log; a refused one too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi.routing import APIRoute
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.audit import AuditEntry
from core.db import create_sessionmaker
from core.events import Event
from core.settings import Settings
from core.users import Role, add_user
from tests.conftest import APPEND_ONLY_OFF, TokenFor
from tests.support.routes import walk_routes
from tests.web import probe_routes
from web.app import create_app
from web.audit import MUTATING_METHODS
from web.deps import SessionDep


async def _audit_rows(session: AsyncSession, action: str) -> list[AuditEntry]:
    return list(await session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


async def test_successful_mutation_is_audited_with_its_target(
    client: httpx.AsyncClient, token_for: TokenFor, session: AsyncSession
) -> None:
    auth = await token_for("commander", username="zhang.cmd")
    response = await client.post("/api/v1/_probe/commanders-only", headers=auth)
    assert response.status_code == 200
    [row] = await _audit_rows(session, "probe.commanders_only")
    assert (row.actor, row.role, row.outcome, row.method) == ("zhang.cmd", "commander", "ok", "POST")
    assert row.target == {"mark": response.json()["mark"]}
    assert row.request_id == response.headers["x-request-id"]
    # The change and its audit row were committed together.
    marked = select(Event).where(Event.type == "probe.done", Event.data["mark"].astext == response.json()["mark"])
    assert len((await session.scalars(marked)).all()) == 1


async def test_refused_mutation_is_audited_too(
    client: httpx.AsyncClient, token_for: TokenFor, session: AsyncSession
) -> None:
    auth = await token_for("observer", username="curious.observer")
    assert (await client.post("/api/v1/_probe/commanders-only", headers=auth)).status_code == 403
    assert (await client.post("/api/v1/_probe/commanders-only")).status_code == 401
    rows = await _audit_rows(session, "probe.commanders_only")
    assert [(r.actor, r.outcome, r.status_code) for r in rows] == [
        ("curious.observer", "forbidden", 403),
        (None, "unauthenticated", 401),
    ]


async def test_sign_in_attempts_are_audited(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await add_user(session, username="chen", password="password-123", role=Role.duty_officer)
    await session.commit()
    await client.post("/api/v1/auth/token", data={"username": "chen", "password": "wrong-guess"})
    await client.post("/api/v1/auth/token", data={"username": "chen", "password": "password-123"})
    rows = await _audit_rows(session, "auth.token")
    assert [(r.actor, r.outcome) for r in rows] == [("chen", "unauthenticated"), ("chen", "ok")]


async def test_read_only_routes_and_reads_write_nothing(
    client: httpx.AsyncClient, token_for: TokenFor, session: AsyncSession
) -> None:
    auth = await token_for("observer")
    before = len(list(await session.scalars(select(AuditEntry.id))))
    assert (await client.post("/api/v1/_probe/read-only", headers=auth)).status_code == 200
    assert (await client.get("/api/v1/me", headers=auth)).status_code == 200
    assert len(list(await session.scalars(select(AuditEntry.id)))) == before


def test_every_mutating_route_runs_in_the_audited_unit_of_work() -> None:
    """A mutating route without the session dependency would change state without an audit row."""
    session_dependency = SessionDep.__metadata__[0].dependency  # type: ignore[attr-defined]

    def uses_session(dependant: object) -> bool:
        deps = getattr(dependant, "dependencies", [])
        return any(d.call is session_dependency or uses_session(d) for d in deps)

    mutating = [
        (path, route)
        for path, route in walk_routes(create_app())
        if isinstance(route, APIRoute)
        and route.methods & MUTATING_METHODS
        and not (route.openapi_extra or {}).get("x-read-only")  # declared to write nothing (web/audit.py)
    ]
    assert len(mutating) >= 15, "the walk found the API's mutating routes"  # it once found none and passed
    for path, route in mutating:
        assert uses_session(route.dependant), f"{path} mutates without the session dependency"


@asynccontextmanager
async def _worker(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A worker of its own with the probe routes: started, then stopped when the block ends (as at shutdown)."""
    app.include_router(probe_routes.router)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def _burst_rows(session: AsyncSession, action: str) -> list[tuple[Any, ...]]:
    rows = await session.execute(
        select(AuditEntry.actor, AuditEntry.outcome, AuditEntry.status_code, AuditEntry.target)
        .where(AuditEntry.action == action)
        .order_by(AuditEntry.id)
    )
    return [tuple(row) for row in rows]


async def test_an_unauthenticated_flood_leaves_one_row_that_counts_it(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    async with _worker(create_app(settings, sessionmaker=sessionmaker)) as client:
        for n in range(300):
            headers = {"Authorization": "Bearer forged.token.value"} if n % 2 else {}
            assert (await client.post("/api/v1/_probe/commanders-only", headers=headers)).status_code == 401
        # The burst's row exists at once, with the count so far.
        [(actor, outcome, status, target)] = await _burst_rows(session, "probe.commanders_only")
        assert (actor, outcome, status, target["count"]) == (None, "unauthenticated", 401, 1)
    # The burst ended with the worker (or its window): its one row holds the count.
    [(_, _, _, target)] = await _burst_rows(session, "probe.commanders_only")
    assert target["count"] == 300 and target["burst_s"] == settings.audit_burst_seconds


async def test_a_burst_row_gets_its_total_when_the_burst_is_over(settings: Settings, engine: AsyncEngine) -> None:
    app = create_app(settings.model_copy(update={"audit_burst_seconds": 2.0}))  # its own engine: commits for real
    sessions = create_sessionmaker(engine)
    try:
        async with _worker(app) as client:
            answers = await asyncio.gather(*(client.post("/api/v1/_probe/commanders-only") for _ in range(5)))
            assert [a.status_code for a in answers] == [401] * 5
            counts: list[int] = []
            for _ in range(150):  # the burst closes after 2 s; wait for its row to say so, at most 15 s
                async with sessions() as session:
                    counts = [row[3]["count"] for row in await _burst_rows(session, "probe.commanders_only")]
                if counts == [5]:
                    break
                await asyncio.sleep(0.1)
            assert counts == [5], f"the burst's row was not brought up to date: {counts}"
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(APPEND_ONLY_OFF))  # the trail refuses deletes (migration 0021); tests clean up
            await conn.execute(delete(AuditEntry).where(AuditEntry.action == "probe.commanders_only"))


async def test_failed_sign_ins_leave_a_burst_row_and_one_lockout_row(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    await add_user(session, username="guessed.at", password="password-123", role=Role.observer)
    await session.commit()
    app = create_app(settings.model_copy(update={"signin_max_failures_per_name": 3}), sessionmaker=sessionmaker)
    async with _worker(app) as client:
        statuses = [
            (
                await client.post("/api/v1/auth/token", data={"username": "guessed.at", "password": f"guess-{n}"})
            ).status_code
            for n in range(5)
        ]
    assert statuses == [401, 401, 401, 429, 429]
    assert [(a, o, s, t["count"]) for a, o, s, t in await _burst_rows(session, "auth.token")] == [
        ("guessed.at", "unauthenticated", 401, 3),
        ("guessed.at", "too_many_requests", 429, 2),
    ]
    [(actor, outcome, status, target)] = await _burst_rows(session, "auth.lockout")
    assert (actor, outcome, status) == ("guessed.at", "too_many_requests", 429)
    assert target == {"per": "user name", "failures": 3, "window_s": 300.0, "locked_s": 60.0}
