"""Sign-in and "who am I"."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel

from core.errors import Unauthenticated
from core.users import get_by_username, verify_password_off_loop
from web.audit import add_row_on_failure, set_actor
from web.deps import SessionDep, SettingsDep, SignedIn
from web.security import issue_token
from web.signin import Trip
from web.state import state_of

router = APIRouter(tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str
    expires_at: datetime


class MeOut(BaseModel):
    username: str
    role: str
    unit_id: int | None = None


@router.post(
    "/auth/token",
    name="auth.token",
    response_model=TokenOut,
    responses={429: {"description": "too many failed sign-ins for the name or from the address; see Retry-After"}},
)
async def issue(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=1024)],
) -> TokenOut:
    """Exchange a username and password for a bearer token. A wrong name and a wrong password look the same.

    Too many failures for the name, or from the client's address, and it is 429 with ``Retry-After`` before any
    password is checked (web/signin.py)."""
    set_actor(request, username=username, role=None)
    guard = state_of(request).signin_guard
    address = request.client.host if request.client else "-"
    await guard.check(username=username, address=address)
    user = await get_by_username(session, username=username)
    matches = await verify_password_off_loop(user.password_hash if user else None, password)
    if not matches or user is None or not user.active:
        for trip in await guard.failed(username=username, address=address):
            _audit_lockout(request, trip)
        raise Unauthenticated("wrong username or password")
    await guard.succeeded(username=username)
    set_actor(request, username=user.username, role=user.role)
    token, expires_at = issue_token(
        username=user.username, role=user.role, password_changed_at=user.password_changed_at, settings=settings
    )
    return TokenOut(access_token=token, role=user.role, expires_at=expires_at)


def _audit_lockout(request: Request, trip: Trip) -> None:
    """One row when a name or an address is first blocked, with the failures that blocked it."""
    target = {"per": trip.per, "failures": trip.failures, "window_s": trip.window_s, "locked_s": trip.locked_s}
    add_row_on_failure(request, outcome="too_many_requests", status_code=429, action="auth.lockout", target=target)


@router.get("/me", name="auth.me", response_model=MeOut, response_model_exclude_none=True)
async def me(user: SignedIn) -> MeOut:
    """The caller's name, role and, for a field unit, its unit."""
    return MeOut(username=user.username, role=user.role.value, unit_id=user.unit_id)
