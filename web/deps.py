"""Request dependencies: the database session (the request's unit of work), the caller and their role."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from command import service as command
from core.errors import Forbidden, NotFound, Unauthenticated
from core.events import take_pending_event_ids
from core.settings import Settings
from core.users import Role, Signer, signer
from incidents import service as incident_service
from incidents.schemas import IncidentRecord
from web.audit import audit_burst_success, audit_success, is_audited, set_actor
from web.security import AuthCache, TokenClaims, password_stamp, verify_token
from web.state import state_of


async def get_settings(request: Request) -> Settings:
    """The settings the app was created with. (``async``: FastAPI runs a plain ``def`` dependency in a worker
    thread, a hop every request would pay for nothing.)"""
    return state_of(request).settings


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed after the endpoint returns and before the response is sent.

    Services only flush, and queue their events, which the commit writes as its last statement (core.events); their
    ids are rung to the live stream once it has committed. A mutating request's audit row joins the same transaction,
    so the change and its record of who made it commit together or not at all. Any error rolls everything back.
    GET and HEAD requests read in autocommit mode: they write nothing, so they need no transaction.
    """
    state = state_of(request)
    factory = state.read_sessionmaker if request.method in ("GET", "HEAD") else state.sessionmaker
    async with factory() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        if is_audited(request):
            await audit_success(session, request)
        await session.commit()
        await state.live.announce(take_pending_event_ids(session))
        if is_audited(request):
            await audit_burst_success(request, state.audit_bursts)


# scope="function": the commit happens before the response leaves, so a 201 means the change is durable.
SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]

_bearer = HTTPBearer(auto_error=False, description="A token from POST /api/v1/auth/token")


@dataclass(frozen=True)
class CurrentUser:
    """The authenticated caller."""

    username: str
    role: Role
    unit_id: int | None
    jurisdiction_ids: tuple[int, ...] | None = None  # scoped to these jurisdictions (and those inside); None: not

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin


async def current_user(
    request: Request,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> CurrentUser:
    """The caller proven by the bearer token. The user must still exist, be active, and have the password the
    token was issued under (a reset password revokes older tokens)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("this endpoint needs 'Authorization: Bearer <token>'")
    state = state_of(request)
    caller = await user_from_token(
        state.read_sessionmaker, settings=settings, token=credentials.credentials, cache=state.auth_cache
    )
    set_actor(request, username=caller.username, role=caller.role.value)
    return caller


async def user_from_token(
    sessions: async_sessionmaker[AsyncSession], *, settings: Settings, token: str, cache: AuthCache | None = None
) -> CurrentUser:
    """The user a token proves (HTTP bearer header, or a websocket's token: web/socket_auth.py), or Unauthenticated.

    The database is asked (through ``sessions``) only when the cache cannot answer.

    ``cache``: the app's AuthCache (a token verified before, its user read recently); without one, all is checked now.
    """
    claims = cache.claims(token, settings=settings) if cache is not None else verify_token(token, settings=settings)
    cached = cache.signer(claims.username) if cache is not None else None
    if cached is not None and _proves(cached, claims):
        user: Signer | None = cached
    else:  # not cached, or cached as not matching: a token signed since (new password) must not wait for expiry

        async def load() -> Signer | None:
            async with sessions() as session:
                return await signer(session, username=claims.username)

        user = await cache.read_signer(claims.username, load) if cache is not None else await load()
    if user is None or not _proves(user, claims):
        raise Unauthenticated("the token is not valid")
    return CurrentUser(
        username=user.username, role=Role(user.role), unit_id=user.unit_id, jurisdiction_ids=user.jurisdiction_ids
    )


def authenticated_from_cache(cache: AuthCache, *, settings: Settings, token: str) -> CurrentUser | None:
    """The caller a token proves when the cache alone can tell (a token verified before or valid now, its user read
    within the cache's window and still matching); otherwise None, and ``current_user`` must decide."""
    try:
        claims = cache.claims(token, settings=settings)
    except Unauthenticated:
        return None
    user = cache.signer(claims.username)
    if user is None or not _proves(user, claims):
        return None
    return CurrentUser(
        username=user.username, role=Role(user.role), unit_id=user.unit_id, jurisdiction_ids=user.jurisdiction_ids
    )


def _proves(user: Signer, claims: TokenClaims) -> bool:
    return user.active and claims.password_stamp == password_stamp(user.password_changed_at)


def require(*roles: Role) -> Callable[..., Coroutine[Any, Any, CurrentUser]]:
    """A dependency that lets through the given roles, and admin always."""
    allowed = frozenset(roles) | {Role.admin}

    async def check(user: Annotated[CurrentUser, Depends(current_user)]) -> CurrentUser:
        if user.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise Forbidden(f"role {user.role.value!r} may not do this (allowed: {names})")
        return user

    return check


# Every person: a gateway account (a machine that reports locations) reads nothing and is refused everywhere else.
PEOPLE = tuple(role for role in Role if role is not Role.gateway)
AnyUser = Annotated[CurrentUser, Depends(require(*PEOPLE))]
SignedIn = Annotated[CurrentUser, Depends(current_user)]


# ------------------------------------------------------------------------ what the caller may see (command's rule)


def caller_of(user: CurrentUser) -> command.Caller:
    """The caller as the command rules know it."""
    return command.Caller(
        username=user.username, role=user.role, unit_id=user.unit_id, jurisdiction_ids=user.jurisdiction_ids
    )


async def incident_scope(user: AnyUser) -> incident_service.IncidentScope:
    """The incidents the caller may see, as SQL for a read to apply (lists, tiles, the plans' dry run)."""
    return command.incident_scope(caller_of(user))


ScopeDep = Annotated[incident_service.IncidentScope, Depends(incident_scope)]


async def visible_incident(
    incident_id: Annotated[int, Path(le=2**63 - 1)], session: SessionDep, scope: ScopeDep
) -> IncidentRecord:
    """The incident in the path as the caller may see it: one hidden from the caller is the same 404 as one that
    does not exist. (A route that also checks a role must declare that check first, so that a role refused is 403
    whether or not the incident exists.)"""
    return await incident_service.get_incident(session, incident_id=incident_id, scope=scope)


VisibleIncident = Annotated[IncidentRecord, Depends(visible_incident)]


async def incident_in_scope(
    incident_id: Annotated[int, Path(le=2**63 - 1)], session: SessionDep, scope: ScopeDep
) -> None:
    """For a route that acts on the incident in its path by role (dispatch, edit, transition …): a caller scoped to
    jurisdictions gets 404 for an incident outside them, as if it did not exist. Costs nothing for an unscoped
    caller (the route reads the incident itself). Declared after the route's role check, so that a role refused is
    403 first."""
    if not scope.everything:
        await incident_service.get_incident(session, incident_id=incident_id, scope=scope)


InScope = Annotated[None, Depends(incident_in_scope)]


async def logged_in_scope(session: AsyncSession, scope: incident_service.IncidentScope, incident_id: int) -> None:
    """After logging an incident for a caller scoped to jurisdictions: Forbidden (and nothing is kept: the request
    rolls back) when it lies outside them; they may not act there, and would not see what they made."""
    if scope.everything:
        return
    try:
        await incident_service.get_incident(session, incident_id=incident_id, scope=scope)
    except NotFound:
        raise Forbidden("the location lies outside your jurisdictions; the incident was not logged") from None
