"""Sign-in and "who am I"."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Cookie, Form, Request, Response
from pydantic import BaseModel, Field

from core import refresh
from core.errors import Unauthenticated
from core.settings import Settings
from core.users import AppUser, get_by_username, verify_password_off_loop
from web.audit import add_row_on_failure, add_target, set_actor
from web.deps import SessionDep, SettingsDep, SignedIn
from web.security import issue_token
from web.signin import Trip
from web.state import state_of

router = APIRouter(tags=["auth"])


# The refresh token also travels as this cookie: HttpOnly (no script reads it), SameSite=Strict (no other site sends
# it) and only to the auth routes. The pages keep their access token in memory and renew it with the cookie alone.
REFRESH_COOKIE = "cp_refresh"
REFRESH_COOKIE_PATH = "/api/v1/auth"


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str
    expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=256)


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
    response: Response,
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
    issued = await refresh.issue(session, user=user, idle_hours=settings.refresh_idle_hours)
    return _tokens(request, response, user, issued, settings)


def _tokens(
    request: Request, response: Response, user: AppUser, issued: refresh.Issued, settings: Settings
) -> TokenOut:
    """An access token for ``user`` beside the refresh token ``issued`` (also set as the HttpOnly cookie)."""
    token, expires_at = issue_token(
        username=user.username, role=user.role, password_changed_at=user.password_changed_at, settings=settings
    )
    response.set_cookie(
        REFRESH_COOKIE,
        issued.token,
        expires=issued.expires_at,
        path=REFRESH_COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return TokenOut(
        access_token=token,
        role=user.role,
        expires_at=expires_at,
        refresh_token=issued.token,
        refresh_expires_at=issued.expires_at,
    )


def _presented(body: RefreshIn | None, cookie: str | None) -> str:
    token = body.refresh_token if body is not None else cookie
    if not token:
        raise Unauthenticated("send the refresh token (body 'refresh_token' or the sign-in's cookie)")
    return token


@router.post("/auth/refresh", name="auth.refresh", response_model=TokenOut)
async def renew(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    body: Annotated[RefreshIn | None, Body()] = None,
    cp_refresh: Annotated[str | None, Cookie(max_length=256)] = None,
) -> TokenOut:
    """A new access token and a new refresh token for a refresh token (rotation: each is good once). No bearer
    token is needed: the access token may have expired. A refresh token used a second time ends its whole sign-in
    (someone else holds it too): 401, and every token of that sign-in is refused from then on."""
    try:
        renewal = await refresh.rotate(
            session,
            token=_presented(body, cp_refresh),
            idle_hours=settings.refresh_idle_hours,
            session_hours=settings.refresh_session_hours,
            reuse_grace_s=settings.refresh_reuse_grace_seconds,
        )
    except refresh.Reused as reused:
        # The request fails, yet the revocation must stay: committed here, before the error rolls back the rest.
        await session.rollback()
        await refresh.revoke_family(session, family_id=reused.family_id)
        await session.commit()
        raise
    set_actor(request, username=renewal.user.username, role=renewal.user.role)
    return _tokens(request, response, renewal.user, renewal.refresh, settings)


@router.post("/auth/logout", name="auth.logout", status_code=204)
async def logout(
    request: Request,
    response: Response,
    session: SessionDep,
    body: Annotated[RefreshIn | None, Body()] = None,
    cp_refresh: Annotated[str | None, Cookie(max_length=256)] = None,
) -> None:
    """Sign out: the refresh token's whole sign-in is revoked (its access tokens run out within TOKEN_MINUTES).
    Idempotent: an unknown or already revoked token is 204 too. The cookie is cleared."""
    user = await refresh.revoke(session, token=_presented(body, cp_refresh))
    if user is not None:  # the audit row names who signed out (an unknown token's row names no one)
        set_actor(request, username=user.username, role=user.role)
    add_target(request, revoked=user is not None)
    response.delete_cookie(REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, httponly=True, samesite="strict")


def _audit_lockout(request: Request, trip: Trip) -> None:
    """One row when a name or an address is first blocked, with the failures that blocked it."""
    target = {"per": trip.per, "failures": trip.failures, "window_s": trip.window_s, "locked_s": trip.locked_s}
    add_row_on_failure(request, outcome="too_many_requests", status_code=429, action="auth.lockout", target=target)


@router.get("/me", name="auth.me", response_model=MeOut, response_model_exclude_none=True)
async def me(user: SignedIn) -> MeOut:
    """The caller's name, role and, for a field unit, its unit."""
    return MeOut(username=user.username, role=user.role.value, unit_id=user.unit_id)
