"""People who sign in, managed by admins over the API: list, add, change role, unit or whether they may sign in, reset a
password. Every change is audited with what it was before and after (never a password); a deactivated user, a changed
role or a reset password ends that user's tokens and sign-ins at once (the auth cache within AUTH_CACHE_SECONDS)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from core.audit import read_audit
from core.clock import ScenarioAt
from core.users import AppUser, Role, add_user, change_user, list_users, reset_password
from web.audit import add_target
from web.deps import CurrentUser, SessionDep, require
from web.listing import ListOf, list_of
from web.state import state_of

router = APIRouter(prefix="/users", tags=["users"])
audit_router = APIRouter(tags=["users"])

Admin = Annotated[CurrentUser, Depends(require(Role.admin))]


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    role: Role
    unit_id: int | None
    active: bool
    created_at: datetime
    password_changed_at: datetime


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    role: Role
    unit_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    password: SecretStr = Field(min_length=8, max_length=1024)


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    unit_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    active: bool | None = None


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: SecretStr = Field(min_length=8, max_length=1024)


def _out(user: AppUser) -> UserOut:
    return UserOut.model_validate(user)


@router.get("", name="users.list")
async def users(
    session: SessionDep,
    admin: Admin,
    role: Role | None = None,
    active: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ListOf[UserOut]:
    """Users by name; filtered by role and by whether they may sign in."""
    found, total = await list_users(session, role=role, active=active, limit=limit, offset=offset)
    return list_of([_out(u) for u in found], total)


@router.post("", name="users.create", status_code=201)
async def create_user(body: UserIn, request: Request, session: SessionDep, admin: Admin) -> UserOut:
    """A new user; a field unit's is bound to its unit. A taken name is 409."""
    made = await add_user(
        session, username=body.username, password=body.password.get_secret_value(), role=body.role, unit_id=body.unit_id
    )
    add_target(request, user_id=made.id, username=made.username, role=made.role, unit_id=made.unit_id)
    return _out(made)


@router.patch("/{user_id}", name="users.edit")
async def edit_user(user_id: int, body: UserPatch, request: Request, session: SessionDep, admin: Admin) -> UserOut:
    """Change role, unit or whether the user may sign in (not one's own role or activity: 409)."""
    user, changed = await change_user(
        session, user_id=user_id, by=admin.username, role=body.role, unit_id=body.unit_id, active=body.active
    )
    add_target(request, username=user.username, changes=changed)
    state_of(request).auth_cache.forget(user.username)
    return _out(user)


@router.post("/{user_id}/password", name="users.reset_password", status_code=204, response_class=Response)
async def set_password(user_id: int, body: PasswordIn, request: Request, session: SessionDep, admin: Admin) -> Response:
    """A new password for the user; their tokens and sign-ins end."""
    user = await reset_password(session, user_id=user_id, password=body.password.get_secret_value())
    add_target(request, username=user.username)
    state_of(request).auth_cache.forget(user.username)
    return Response(status_code=204)


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str | None
    role: str | None
    action: str
    method: str | None
    path: str | None
    target: dict[str, object]
    outcome: str
    status_code: int | None
    client_ip: str | None
    request_id: str | None


@audit_router.get("/audit", name="audit.list")
async def audit_trail(
    session: SessionDep,
    admin: Admin,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=128)] = None,
    outcome: Annotated[str | None, Query(max_length=32)] = None,
    since: ScenarioAt | None = None,
    until: ScenarioAt | None = None,
    target: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}=.{1,128}$",
            description="key=value: rows whose target has it, e.g. incident_id=42",
        ),
    ] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ListOf[AuditOut]:
    """The audit trail, newest first (admins only; read-only: no route changes it, and the database refuses to:
    migration 0021). Filter by actor, action, outcome, time (``since`` inclusive, ``until`` exclusive) and target;
    page back with ``before_id`` (the smallest id of the page before)."""
    key_value = None
    if target is not None:
        key, _, value = target.partition("=")
        key_value = (key, value)
    rows = await read_audit(
        session,
        actor=actor,
        action=action,
        outcome=outcome,
        since=since,
        until=until,
        target=key_value,
        limit=limit,
        before_id=before_id,
    )
    return list_of([AuditOut.model_validate(r) for r in rows])
