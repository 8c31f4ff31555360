"""Every mutating request leaves who, what, when and how it ended in audit_log; a refused one too."""

from __future__ import annotations

import httpx
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import AuditEntry
from core.events import Event
from core.users import Role, add_user
from tests.conftest import TokenFor
from tests.support.routes import walk_routes
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
    assert row.target == {"event_id": response.json()["event_id"]}
    assert row.request_id == response.headers["x-request-id"]
    # The change and its audit row were committed together.
    assert await session.get(Event, response.json()["event_id"]) is not None


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
