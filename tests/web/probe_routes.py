"""Routes that exist only in tests, to exercise the request machinery (roles, errors, the unit of work)."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import text

from core.errors import Conflict
from core.events import queue_event
from core.users import AppUser, Role
from web.audit import READ_ONLY, add_target
from web.deps import AnyUser, CurrentUser, SessionDep, require

router = APIRouter(prefix="/api/v1/_probe")


class Body(BaseModel):
    count: int = Field(ge=0)
    name: str


@router.post("/commanders-only", name="probe.commanders_only")
async def commanders_only(
    request: Request, session: SessionDep, user: Annotated[CurrentUser, Depends(require(Role.commander))]
) -> dict[str, Any]:
    # The event's id exists only once the unit of work commits (after this returns): a mark names it instead.
    mark = secrets.token_hex(8)
    queue_event(session, type="probe.done", data={"by": user.username, "mark": mark})
    add_target(request, mark=mark)
    return {"mark": mark, "role": user.role.value}


@router.post("/validated", name="probe.validated")
async def validated(body: Body, user: AnyUser, session: SessionDep) -> dict[str, int]:
    return {"count": body.count}


@router.post("/read-only", name="probe.read_only", openapi_extra=READ_ONLY)
async def read_only(user: AnyUser, session: SessionDep) -> dict[str, bool]:
    return {"ok": True}


@router.post("/write-then-conflict", name="probe.write_then_conflict")
async def write_then_conflict(user: AnyUser, session: SessionDep) -> None:
    session.add(AppUser(username="half.written", password_hash="x", role="observer"))
    await session.flush()  # really written, as the event queued next would be at commit: all of it must go
    queue_event(session, type="probe.half_written", data={})
    raise Conflict("stale version: the incident changed since you read it")


@router.post("/fails-at-commit", name="probe.fails_at_commit")
async def fails_at_commit(user: AnyUser, session: SessionDep) -> dict[str, str]:
    # Not flushed: the unique violation surfaces only when the dependency commits, after this returns.
    session.add(AppUser(username=user.username, password_hash="x", role="observer"))
    return {"status": "created"}


# Values PostgreSQL (or asyncpg) refuses, sent straight to the database, past the door: the error mapping's safety net.
_UNSTORABLE = {
    "2147483648": ("SELECT CAST(:v AS integer)", 2**31),
    "overflow": ("SELECT CAST(:v AS integer) + 1", 2**31 - 1),
    "nul": ("SELECT CAST(:v AS text)", "a\x00b"),
    "surrogate": ("SELECT CAST(:v AS text)", "a\ud800b"),
}


@router.get("/store/{what}", name="probe.store")
async def store(what: str, user: AnyUser, session: SessionDep) -> None:
    sql, value = _UNSTORABLE[what]
    await session.execute(text(sql), {"v": value})


@router.get("/boom", name="probe.boom")
async def boom(user: AnyUser) -> None:
    raise RuntimeError("secret internals that must not leak")


@router.get("/sleep", name="probe.sleep")
async def sleep(user: AnyUser, session: SessionDep, seconds: float = 0.0) -> dict[str, float]:
    """A statement that runs as long as asked (the statement timeout's test)."""
    await session.execute(text("SELECT pg_sleep(:seconds)"), {"seconds": seconds})
    return {"slept": seconds}


class Value(BaseModel):
    value: str


@router.post("/bad-value/{where}", name="probe.bad_value")
async def bad_value(where: str, body: Value, user: AnyUser, session: SessionDep) -> None:
    """A statement that fails on the value it was given, each message quoting it: refused by the driver ("client")
    or by the server as bad data ("server", SQLSTATE 22P02: a 422), or naming a table that does not exist
    ("catalog", SQLSTATE 42P01: a 500)."""
    sql = {
        "client": "SELECT CAST(:value AS integer)",
        "server": "SELECT CAST(CAST(:value AS text) AS integer)",
        "catalog": "SELECT CAST(CAST(:value AS text) AS regclass)",
    }[where]
    await session.execute(text(sql), {"value": body.value})


@router.post("/duplicate-user", name="probe.duplicate_user")
async def duplicate_user(body: Value, user: AnyUser, session: SessionDep) -> None:
    """A unique violation, whose server message quotes the duplicated value."""
    for _ in range(2):
        session.add(AppUser(username=body.value, password_hash="x", role="observer"))
        await session.flush()


# PostgreSQL's own errors of a database restarting or a race it broke, raised by PostgreSQL itself (the error class
# the driver and SQLAlchemy make of them is the real one).
PG_STATES = {"deadlock": "40P01", "serialization": "40001", "starting_up": "57P03", "shutdown": "57P01"}


@router.post("/sqlstate/{name}", name="probe.sqlstate")
async def sqlstate(name: str, user: AnyUser, session: SessionDep) -> None:
    code = PG_STATES[name]
    await session.execute(text(f"DO $$ BEGIN RAISE EXCEPTION 'probe' USING ERRCODE = '{code}'; END $$"))
