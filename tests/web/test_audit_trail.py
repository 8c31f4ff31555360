"""The audit trail is complete: every mutating route of the OpenAPI document is in the table below, with the row a
successful call leaves (who, what, when, outcome, target, and before/after where the change has one) or the reason
it leaves none; a refused call leaves a "forbidden" row naming who tried. An admin reads and filters the trail over
the API, bounded; no route changes it, and the database refuses to (migration 0021).

The calls are those of the role matrix (tests/web/matrix_world.py), each in a savepoint rolled back afterwards. A
route added later gets a row here (the people routes of TOTP sign-in and the admin page are added at their merge):
``Row(caller, target keys, changes=(fields with [before, after]))`` or ``NoRow("why")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.audit import AuditEntry, add_to_audit_target, record_audit
from core.settings import Settings
from tests.conftest import TokenFor
from tests.web.matrix_world import PASSWORD, MatrixWorld, make_world, request_for
from web.audit import MUTATING_METHODS


@dataclass(frozen=True)
class Row:
    """A successful call by ``caller`` leaves one row of the route's action with these target keys; ``changes``:
    the fields whose [before, after] it holds; ``burst``: counted in bursts (the first call of a burst writes it)."""

    caller: str
    target: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()
    burst: bool = False


@dataclass(frozen=True)
class NoRow:
    why: str


@dataclass(frozen=True)
class Elsewhere:
    """A route whose successful call the walk cannot make in one request (a TOTP confirmation needs the code of an
    enrolment begun before): its row is checked by ``test`` (``module::function``), which must exist."""

    test: str


# fmt: off
AUDIT: dict[str, Row | NoRow] = {
    "POST /api/v1/auth/token": Row("commander"),
    "POST /api/v1/auth/refresh": Row("commander"),
    "POST /api/v1/auth/logout": Row("commander", ("revoked",)),
    "POST /api/v1/auth/totp/enrol": Row("commander", ("username",)),
    "POST /api/v1/auth/totp/confirm": Elsewhere(
        "tests/web/test_totp.py::test_enrol_confirm_and_sign_in_with_a_code_that_is_good_once"
    ),
    "DELETE /api/v1/users/{user_id}/totp": Row("admin", ("user_id", "username")),
    "POST /api/v1/classify": NoRow("read-only (x-read-only): computes a classification, writes nothing"),
    "POST /api/v1/incidents": Row("duty_officer", ("incident_id", "replay")),
    "PATCH /api/v1/incidents/{incident_id}": Row("duty_officer", ("incident_id",), changes=("title",)),
    "POST /api/v1/incidents/{incident_id}/transition": Row("commander", ("incident_id",), changes=("status",)),
    "POST /api/v1/incidents/{incident_id}/grade": Row("commander", ("incident_id",), changes=("level",)),
    "POST /api/v1/incidents/{incident_id}/duplicate": Row(
        "duty_officer", ("incident_id",), changes=("duplicate_status", "possible_duplicate_of")
    ),
    "POST /api/v1/incidents/{incident_id}/notes": Row("crew", ("incident_id", "note_id")),
    "POST /api/v1/incidents/{incident_id}/dispatches": Row("commander", ("incident_id", "dispatch_ids", "unit_ids")),
    "POST /api/v1/dispatches/{dispatch_id}/ack": Row("crew", ("dispatch_id",)),
    "POST /api/v1/dispatches/{dispatch_id}/escalation/ack": Row("commander", ("dispatch_id", "unit_id", "handled_by")),
    "POST /api/v1/units/{unit_id}/status": Row("crew", ("unit_id",), changes=("status",)),
    "POST /api/v1/deliveries/{delivery_id}/handled": Row(
        "commander", ("delivery_id", "incident_id", "handled_by"), changes=("handled_by",)
    ),
    "POST /api/v1/exercises/clear": Row("commander", ("incidents", "units_released", "warnings_ended")),
    "POST /api/v1/units/{unit_id}/location": Row("crew", ("unit_id", "count", "burst_s"), burst=True),
    "POST /api/v1/units/locations": Row("gateway", ("fixes", "accepted", "count", "burst_s"), burst=True),
    "POST /api/v1/resources": Row("commander", ("resource_id", "type")),
    "POST /api/v1/resources/import": Row("commander", ("kind", "file", "imported", "rejected")),
    "POST /api/v1/layers/{kind}/import": Row("commander", ("kind", "file", "imported", "rejected")),
    "POST /api/v1/plans": Row("commander", ("plan_id", "version", "outcome")),
    "POST /api/v1/plans/check": NoRow("read-only (x-read-only): a dry run of the plans over incidents, writes nothing"),
    "POST /api/v1/incidents/{incident_id}/activations": Row(
        "commander", ("incident_id", "activation_id", "plan_id", "level", "outcome")
    ),
    "POST /api/v1/tasks/{task_id}/start": Row("duty_officer", ("task_id", "incident_id"), changes=("status",)),
    "POST /api/v1/tasks/{task_id}/complete": Row("duty_officer", ("task_id", "incident_id"), changes=("status",)),
    "POST /api/v1/tasks/{task_id}/reassign": Row("duty_officer", ("task_id", "incident_id"), changes=("assignee",)),
    "POST /api/v1/cap": Row("duty_officer", ("warning_id", "replay")),
    "POST /api/v1/warnings/{warning_id}/incident": Row("duty_officer", ("warning_id", "incident_id")),
    "POST /api/v1/cap-feeds": Row("duty_officer", ("feed_id",)),
    "DELETE /api/v1/cap-feeds/{feed_id}": Row("duty_officer", ("feed_id",)),
    "POST /api/v1/contacts": Row("duty_officer", ("contact_id",)),
    "POST /api/v1/contacts/import": Row("duty_officer", ("imported",)),
    "POST /api/v1/push-subscriptions": Row("crew", ("subscription_id",)),
    "DELETE /api/v1/push-subscriptions": Row("crew", ("subscription_id",)),
    "POST /api/v1/users": Row("admin", ("user_id", "username", "role", "unit_id")),
    "PATCH /api/v1/users/{user_id}": Row("admin", ("user_id", "username"), changes=("role",)),
    "POST /api/v1/users/{user_id}/password": Row("admin", ("user_id", "username")),  # never the password
    "POST /api/v1/incidents/{incident_id}/photos": Row("crew", ("incident_id", "photo_id", "size_bytes")),
}
# fmt: on
NO_BEARER = {
    "POST /api/v1/auth/token",
    "POST /api/v1/auth/refresh",
    "POST /api/v1/auth/logout",
    "POST /api/v1/auth/totp/enrol",
}


async def _refresh_token(client: httpx.AsyncClient, world: MatrixWorld) -> str:
    signed_in = await client.post(
        "/api/v1/auth/token", data={"username": world.usernames["commander"], "password": PASSWORD}
    )
    assert signed_in.status_code == 200, signed_in.text
    return str(signed_in.json()["refresh_token"])


async def _call(client: httpx.AsyncClient, world: MatrixWorld, route: str, caller: str) -> httpx.Response:
    """The matrix's call, made to succeed where it needs something the world lacks (a live refresh token, a push
    subscription of the caller's own)."""
    method, path = route.split(" ", 1)
    kwargs = request_for(world, method, path, caller)
    if path in ("/api/v1/auth/refresh", "/api/v1/auth/logout"):
        kwargs["json"] = {"refresh_token": await _refresh_token(client, world)}
    if route == "DELETE /api/v1/push-subscriptions" and caller != "observer":
        made = await client.request(**request_for(world, "POST", path, caller))
        assert made.status_code == 201, made.text
        kwargs["params"] = {"endpoint": made.json()["endpoint"]}
    return await client.request(**kwargs)


async def _rows_after(session: AsyncSession, last_id: int) -> list[AuditEntry]:
    return list(await session.scalars(select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id)))


def _check_row(row: AuditEntry, spec: Row, world: MatrixWorld, answer: httpx.Response, window: tuple[Any, Any]) -> None:
    request = answer.request
    assert (row.actor, row.role) == (world.usernames[spec.caller], _role(spec.caller)), (row.actor, row.role)
    assert (row.outcome, row.method, row.path) == ("ok", request.method, request.url.path)
    assert row.request_id == answer.headers["x-request-id"]
    assert window[0] <= row.at <= window[1], (row.at, window)
    missing = [key for key in spec.target if key not in row.target]
    assert missing == [], f"target {row.target} lacks {missing}"
    changes = row.target.get("changes", {})
    for field in spec.changes:
        assert field in changes, f"no before/after of {field}: {row.target}"
        before, after = changes[field]
        assert before != after, changes


def _role(caller: str) -> str:
    return "field_unit" if caller.startswith("crew") else caller


def documented_mutations(app: FastAPI) -> list[str]:
    return [
        f"{m.upper()} {p}"
        for p, ops in app.openapi()["paths"].items()
        for m in ops
        if m.upper() in MUTATING_METHODS and not p.startswith("/api/v1/_probe/")
    ]


async def test_every_mutating_route_leaves_its_audit_row(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    connection: AsyncConnection,
    token_for: TokenFor,
    settings: Settings,
) -> None:
    world = await make_world(client, session, token_for, settings)
    routes = documented_mutations(app)
    unplaced = [route for route in routes if route not in AUDIT]
    assert unplaced == [], f"place these mutating routes in {__name__}.AUDIT: {unplaced}"
    assert sorted(AUDIT) == sorted(routes), sorted(set(AUDIT) - set(routes))
    problems = []
    for route in routes:
        spec = AUDIT[route]
        if isinstance(spec, Elsewhere):
            module, _, function = spec.test.partition("::")
            source = (Path(__file__).resolve().parents[2] / module).read_text(encoding="utf-8")
            assert f"def {function}(" in source, spec.test
            continue
        action = None
        for caller in ("observer", spec.caller if isinstance(spec, Row) else "commander"):
            if caller == "observer" and (route in NO_BEARER or isinstance(spec, NoRow)):
                continue
            savepoint = await connection.begin_nested()
            try:
                last_id = int(await session.scalar(select(func.coalesce(func.max(AuditEntry.id), 0))) or 0)
                started = await session.scalar(select(func.now()))
                answer = await _call(client, world, route, caller)
                rows = await _rows_after(session, last_id)
                window = (started, await session.scalar(select(func.clock_timestamp())))
                try:
                    if caller == "observer":  # refused: a row that says so, naming who tried
                        assert answer.status_code == 403, answer.text
                        [row] = [r for r in rows if r.outcome != "ok"]
                        assert (row.actor, row.role, row.outcome, row.status_code) == (
                            world.usernames["observer"],
                            "observer",
                            "forbidden",
                            403,
                        ), row.target
                        action = row.action
                    elif isinstance(spec, NoRow):
                        assert answer.status_code < 300, answer.text
                        assert rows == [], [(r.action, r.outcome) for r in rows]
                    else:
                        assert answer.status_code < 300, answer.text
                        mine = [r for r in rows if r.path == answer.request.url.path and r.method == route.split()[0]]
                        assert len(mine) == 1, [(r.action, r.path, r.outcome) for r in rows]
                        assert action in (None, mine[0].action), (action, mine[0].action)
                        _check_row(mine[0], spec, world, answer, window)
                except (AssertionError, ValueError) as exc:
                    problems.append(f"{route} as {caller}: {exc!r}"[:600])
            finally:
                await savepoint.rollback()
    assert problems == [], "\n".join(problems)


async def _seed(session: AsyncSession) -> dict[str, int]:
    """Rows of three actors and two outcomes, two on incident 42 (as a path parameter and as an id), one an hour
    earlier than the rest (written so: the trail refuses to be changed afterwards)."""
    earlier = insert(AuditEntry).values(
        action="incidents.edit", outcome="ok", actor="wang", target={"x": 1}, at=func.now() - timedelta(hours=1)
    )
    ids = {
        "old": int((await session.execute(earlier.returning(AuditEntry.id))).scalar_one()),
        "mine": await record_audit(
            session, action="incidents.transition", outcome="ok", actor="li", target={"incident_id": "42"}
        ),
        "int": await record_audit(
            session, action="dispatch.create", outcome="ok", actor="li", target={"incident_id": 42}
        ),
        "refused": await record_audit(session, action="incidents.edit", outcome="forbidden", actor="zhao"),
    }
    await session.commit()
    return ids


async def test_an_admin_reads_and_filters_the_trail_bounded(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor
) -> None:
    ids = await _seed(session)
    admin = await token_for("admin")

    async def found(**params: Any) -> list[int]:
        answer = await client.get("/api/v1/audit", params=params, headers=admin)
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["items"]]

    assert await found(actor="li") == [ids["int"], ids["mine"]]  # newest first
    assert await found(action="incidents.edit") == [ids["refused"], ids["old"]]
    assert await found(action="incidents.edit", outcome="forbidden") == [ids["refused"]]
    assert await found(target="incident_id=42") == [ids["int"], ids["mine"]]  # as a path parameter and as an id
    assert await found(target="incident_id=43") == []
    everything = await found(limit=1000)
    assert set(ids.values()) <= set(everything)
    now = await session.scalar(select(func.now()))
    assert now is not None
    between = (now - timedelta(minutes=30)).isoformat()  # after the old row, before the others
    assert ids["old"] not in await found(since=between) and ids["mine"] in await found(since=between)
    assert ids["old"] in await found(until=between) and ids["mine"] not in await found(until=between)
    assert await found(since=now.isoformat(), until=(now + timedelta(seconds=1)).isoformat(), actor="zhao") == [
        ids["refused"]
    ]  # since inclusive, until exclusive
    assert await found(limit=1, actor="li") == [ids["int"]]
    assert await found(before_id=ids["int"], actor="li") == [ids["mine"]]
    for bad in ({"limit": 1001}, {"limit": 0}, {"actor": "x" * 65}, {"target": "no-equals-sign"}, {"target": "=1"}):
        assert (await client.get("/api/v1/audit", params=bad, headers=admin)).status_code == 422, bad
    assert (await client.get("/api/v1/audit", headers=await token_for("commander"))).status_code == 403


def test_no_route_writes_to_the_trail(app: FastAPI) -> None:
    """The trail's one route reads it; no other route's path names it."""
    paths = [(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops if "audit" in p]
    assert paths == [("GET", "/api/v1/audit")]


async def test_the_database_refuses_to_change_or_delete_audit_rows(session: AsyncSession) -> None:
    entry = await record_audit(session, action="incidents.edit", outcome="ok", actor="wang", target={"x": 1})
    burst = await record_audit(
        session, action="auth.token", outcome="unauthenticated", target={"count": 1, "burst_s": 60.0}
    )
    await session.commit()
    refused = [
        ("UPDATE audit_log SET actor = 'someone.else' WHERE id = :id", entry),
        ("UPDATE audit_log SET outcome = 'ok' WHERE id = :id", burst),
        ('UPDATE audit_log SET target = target || \'{"count": 5, "x": 2}\' WHERE id = :id', burst),
        ("UPDATE audit_log SET target = target || '{\"count\": 5}' WHERE id = :id", entry),  # not a burst's row
        ("UPDATE audit_log SET target = target || '{\"count\": 0}' WHERE id = :id", burst),  # a total only grows
        ("DELETE FROM audit_log WHERE id = :id", entry),
        ("DELETE FROM audit_log WHERE id = :id", burst),
    ]
    for sql, row_id in refused:
        nested = await session.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(text(sql), {"id": row_id})
        await nested.rollback()
    # What the burst machinery does (web/audit.py) is allowed: a burst's row gets its total.
    await add_to_audit_target(session, entry_id=burst, count=300)
    await session.commit()
    rows = {r.id: r for r in await session.scalars(select(AuditEntry).where(AuditEntry.id.in_([entry, burst])))}
    assert rows[entry].actor == "wang" and rows[entry].target == {"x": 1}
    assert rows[burst].target == {"count": 300, "burst_s": 60.0} and rows[burst].outcome == "unauthenticated"
