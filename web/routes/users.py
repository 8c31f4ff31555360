"""People who sign in, managed by admins over the API: list, add, change role, unit, jurisdictions or whether they may
sign in, reset a password or a user's TOTP. Every change is audited with what it was before and after (never a
password or a secret); a deactivated user, a changed role, a reset password or TOTP ends that user's tokens and
sign-ins at once (the auth cache within AUTH_CACHE_SECONDS); changed jurisdictions apply to the user's next request
and close their open command streams."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from core.audit import read_audit
from core.clock import ScenarioAt
from core.users import MAX_JURISDICTIONS, AppUser, Role, add_user, change_user, list_users, reset_password, reset_totp
from gis import service as gis
from web.audit import add_target
from web.deps import CurrentUser, SessionDep, require
from web.listing import ListOf, list_of
from web.state import state_of

router = APIRouter(prefix="/users", tags=["users"])
audit_router = APIRouter(tags=["users"])

Admin = Annotated[CurrentUser, Depends(require(Role.admin))]


class JurisdictionRef(BaseModel):
    """A jurisdiction a user is scoped to. ``name`` is null when it no longer exists (the user sees nothing there)."""

    id: int
    name: str | None
    name_en: str | None = None
    code: str | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    role: Role
    unit_id: int | None
    active: bool
    created_at: datetime
    password_changed_at: datetime
    # Empty: unscoped (sees everything the role sees); else only incidents in these and those inside them.
    jurisdictions: list[JurisdictionRef] = []
    totp_enabled: bool = False
    totp_enabled_at: datetime | None = None


# A jurisdiction by id, or by its name, English name or code (one that names two is refused: give the id).
JurisdictionName = Annotated[str, Field(min_length=1, max_length=200)]
JurisdictionId = Annotated[int, Field(ge=1, le=2**63 - 1)]
Jurisdictions = Annotated[list[JurisdictionId | JurisdictionName], Field(max_length=MAX_JURISDICTIONS)]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    role: Role
    unit_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    password: SecretStr = Field(min_length=8, max_length=1024)
    jurisdictions: Jurisdictions | None = None


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    unit_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    active: bool | None = None
    jurisdictions: Jurisdictions | None = Field(default=None, description="[] or null: unscoped again")


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: SecretStr = Field(min_length=8, max_length=1024)


async def _outs(session: SessionDep, users: list[AppUser]) -> list[UserOut]:
    """The users as the API shows them, their jurisdictions named (one query for them all)."""
    ids = sorted({j for u in users for j in u.jurisdiction_ids or ()})
    places = await gis.jurisdiction_places(session, ids)
    out = []
    for user in users:
        shown = UserOut.model_validate(user)
        shown.jurisdictions = [
            JurisdictionRef(id=j, name=places[j].name, name_en=places[j].name_en, code=places[j].code)
            if j in places
            else JurisdictionRef(id=j, name=None)
            for j in user.jurisdiction_ids or ()
        ]
        out.append(shown)
    return out


async def _out(session: SessionDep, user: AppUser) -> UserOut:
    return (await _outs(session, [user]))[0]


async def _jurisdiction_ids(session: SessionDep, given: list[int | str] | None) -> list[int] | None:
    return await gis.resolve_jurisdictions(session, given) if given else None


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
    return list_of(await _outs(session, found), total)


@router.post("", name="users.create", status_code=201)
async def create_user(body: UserIn, request: Request, session: SessionDep, admin: Admin) -> UserOut:
    """A new user; a field unit's is bound to its unit; a duty officer, commander or observer may be scoped to
    ``jurisdictions`` (ids or names; unknown or ambiguous is 422). A taken name is 409."""
    made = await add_user(
        session,
        username=body.username,
        password=body.password.get_secret_value(),
        role=body.role,
        unit_id=body.unit_id,
        jurisdiction_ids=await _jurisdiction_ids(session, body.jurisdictions),
    )
    add_target(
        request,
        user_id=made.id,
        username=made.username,
        role=made.role,
        unit_id=made.unit_id,
        jurisdictions=made.jurisdiction_ids,
    )
    return await _out(session, made)


@router.patch("/{user_id}", name="users.edit")
async def edit_user(user_id: int, body: UserPatch, request: Request, session: SessionDep, admin: Admin) -> UserOut:
    """Change role, unit, jurisdictions (``[]`` or null: unscoped) or whether the user may sign in (not one's own
    role or activity: 409). A role that cannot be scoped (admin, field_unit, gateway) drops the jurisdictions."""
    rescope = "jurisdictions" in body.model_fields_set
    user, changed = await change_user(
        session,
        user_id=user_id,
        by=admin.username,
        role=body.role,
        unit_id=body.unit_id,
        active=body.active,
        jurisdiction_ids=await _jurisdiction_ids(session, body.jurisdictions) if rescope else None,
        rescope=rescope,
    )
    add_target(request, username=user.username, changes=changed)
    state_of(request).auth_cache.forget(user.username)
    return await _out(session, user)


@router.post("/{user_id}/password", name="users.reset_password", status_code=204, response_class=Response)
async def set_password(user_id: int, body: PasswordIn, request: Request, session: SessionDep, admin: Admin) -> Response:
    """A new password for the user; their tokens and sign-ins end."""
    user = await reset_password(session, user_id=user_id, password=body.password.get_secret_value())
    add_target(request, username=user.username)
    state_of(request).auth_cache.forget(user.username)
    return Response(status_code=204)


@router.delete("/{user_id}/totp", name="users.reset_totp", status_code=204, response_class=Response)
async def clear_totp(
    user_id: Annotated[int, Path(ge=1, le=2**63 - 1)], request: Request, session: SessionDep, admin: Admin
) -> Response:
    """Turn the user's TOTP off (a lost phone): they sign in with their password alone, or, when their role must
    use TOTP, enrol again first. Their tokens and sign-ins end."""
    user, was_on = await reset_totp(session, user_id=user_id)
    add_target(request, username=user.username, totp_was_on=was_on)
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
