"""Sign-in (password, and a TOTP code for users who have one), TOTP enrolment, and "who am I"."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Cookie, Form, Request, Response
from pydantic import BaseModel, Field

from core import refresh
from core.clock import utcnow
from core.errors import TotpEnrolmentRequired, TotpInvalid, TotpRequired, Unauthenticated, Unavailable
from core.settings import Settings
from core.users import AppUser, confirm_totp, get_by_username, offer_totp, use_totp_code, verify_password_off_loop
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
    jurisdiction_ids: list[int] | None = None  # scoped to these jurisdictions (and those inside); absent: unscoped


class TotpOffer(BaseModel):
    """A TOTP secret offered for enrolment, shown this once (never again: it is stored sealed)."""

    secret: str
    otpauth_uri: str
    issuer: str
    username: str


class TotpOn(BaseModel):
    totp_enabled: bool
    totp_enabled_at: datetime


Username = Annotated[str, Form(min_length=1, max_length=64)]
Password = Annotated[str, Form(min_length=1, max_length=1024)]
# Six digits; a little longer is let through to be refused as a wrong code (spaces typed, an app's 8 digits).
Code = Annotated[str, Form(min_length=1, max_length=16)]


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
    username: Username,
    password: Password,
    totp: Annotated[str | None, Form(max_length=16, description="the TOTP code, for a user who has TOTP on")] = None,
) -> TokenOut:
    """Exchange a username and password (and, for a user with TOTP on, the current code as ``totp``) for a bearer
    token. A wrong name and a wrong password look the same.

    After the right password: no code is 401 ``totp_required`` (not counted as a failure: the page asks for it); a
    wrong, expired or already used code is 401 ``totp_invalid``, counted like a wrong password; a user whose role
    must use TOTP (COMMANDPOST_TOTP_REQUIRED_ROLES) and has none is 401 ``totp_enrolment_required`` (enrol with
    POST /auth/totp/enrol). Too many failures for the name, or from the client's address, and it is 429 with
    ``Retry-After`` before any password is checked (web/signin.py)."""
    user = await _password_checked(request, session, username=username, password=password)
    if user.totp_secret is not None:
        if not totp:
            raise TotpRequired("this user signs in with a TOTP code too: send it as 'totp'")
        key = _key(settings)
        if not await use_totp_code(session, user=user, code=totp.strip(), key=key, now=utcnow()):
            await _failed(request, username=username)
            raise TotpInvalid("the TOTP code is wrong, expired or already used")
    elif user.role in settings.totp_required_roles:
        raise TotpEnrolmentRequired(
            f"a {user.role} signs in with TOTP: enrol first (POST /api/v1/auth/totp/enrol, then /confirm)"
        )
    await state_of(request).signin_guard.succeeded(username=username)
    set_actor(request, username=user.username, role=user.role)
    issued = await refresh.issue(session, user=user, idle_hours=settings.refresh_idle_hours)
    return _tokens(request, response, user, issued, settings)


async def _password_checked(request: Request, session: SessionDep, *, username: str, password: str) -> AppUser:
    """The active user ``username`` whose password ``password`` is, or 401 (counted against the name and the
    address); 429 before any check once either is blocked."""
    set_actor(request, username=username, role=None)
    guard = state_of(request).signin_guard
    await guard.check(username=username, address=_address(request))
    user = await get_by_username(session, username=username)
    matches = await verify_password_off_loop(user.password_hash if user else None, password)
    if not matches or user is None or not user.active:
        await _failed(request, username=username)
        raise Unauthenticated("wrong username or password")
    set_actor(request, username=user.username, role=user.role)
    return user


def _address(request: Request) -> str:
    return request.client.host if request.client else "-"


async def _failed(request: Request, *, username: str) -> None:
    for trip in await state_of(request).signin_guard.failed(username=username, address=_address(request)):
        _audit_lockout(request, trip)


def _key(settings: Settings) -> str:
    if settings.secret_key is None:
        raise Unavailable("COMMANDPOST_SECRET_KEY is not set, so TOTP secrets cannot be sealed or read")
    return settings.secret_key.get_secret_value()


@router.post(
    "/auth/totp/enrol",
    name="auth.totp_enrol",
    response_model=TotpOffer,
    responses={429: {"description": "too many failed sign-ins for the name or from the address"}},
)
async def totp_enrol(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    username: Username,
    password: Password,
) -> TotpOffer:
    """Start TOTP enrolment: a new secret and its ``otpauth://`` URI for an authenticator app, shown this once.
    The password is asked again (not a token: a stolen token must not enrol someone else's phone, and a user whose
    role must use TOTP has no token before enrolling). Asking again replaces an offer not yet confirmed; TOTP
    already on is 409 (an admin resets it: DELETE /users/{id}/totp). Failures count as failed sign-ins."""
    user = await _password_checked(request, session, username=username, password=password)
    secret, uri = await offer_totp(session, user=user, key=_key(settings), issuer=settings.totp_issuer)
    add_target(request, username=user.username)
    response.headers["Cache-Control"] = "no-store"
    return TotpOffer(secret=secret, otpauth_uri=uri, issuer=settings.totp_issuer, username=user.username)


@router.post("/auth/totp/confirm", name="auth.totp_confirm", response_model=TotpOn)
async def totp_confirm(
    request: Request, session: SessionDep, settings: SettingsDep, username: Username, password: Password, code: Code
) -> TotpOn:
    """Turn TOTP on with a current code of the offered secret: from now on signing in needs a code. A wrong code is
    401 ``totp_invalid`` (counted as a failed sign-in); nothing offered, or TOTP already on, is 409."""
    user = await _password_checked(request, session, username=username, password=password)
    if not await confirm_totp(session, user=user, code=code.strip(), key=_key(settings), now=utcnow()):
        await _failed(request, username=username)
        raise TotpInvalid("the code does not match the offered secret (is the phone's clock right?)")
    add_target(request, username=user.username)
    assert user.totp_enabled_at is not None
    return TotpOn(totp_enabled=True, totp_enabled_at=user.totp_enabled_at)


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
    (someone else holds it too): 401, and every token of that sign-in is refused from then on. A sign-in made
    before the user's role had to use TOTP (COMMANDPOST_TOTP_REQUIRED_ROLES set since) is not renewed until the
    user enrols: 401 ``totp_enrolment_required``."""
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
    if renewal.user.totp_secret is None and renewal.user.role in settings.totp_required_roles:
        raise TotpEnrolmentRequired(
            f"a {renewal.user.role} signs in with TOTP now: enrol (POST /api/v1/auth/totp/enrol), then sign in again"
        )
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
    scope = list(user.jurisdiction_ids) if user.jurisdiction_ids is not None else None
    return MeOut(username=user.username, role=user.role.value, unit_id=user.unit_id, jurisdiction_ids=scope)
