"""Sign-in and "who am I"."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel

from core.errors import Unauthenticated
from core.users import get_by_username, verify_password
from web.audit import set_actor
from web.deps import AnyUser, SessionDep, SettingsDep
from web.security import issue_token

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


@router.post("/auth/token", name="auth.token", response_model=TokenOut)
async def issue(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=1024)],
) -> TokenOut:
    """Exchange a username and password for a bearer token. A wrong name and a wrong password look the same."""
    set_actor(request, username=username, role=None)
    user = await get_by_username(session, username=username)
    if not verify_password(user.password_hash if user else None, password) or user is None or not user.active:
        raise Unauthenticated("wrong username or password")
    set_actor(request, username=user.username, role=user.role)
    token, expires_at = issue_token(
        username=user.username, role=user.role, password_changed_at=user.password_changed_at, settings=settings
    )
    return TokenOut(access_token=token, role=user.role, expires_at=expires_at)


@router.get("/me", name="auth.me", response_model=MeOut, response_model_exclude_none=True)
async def me(user: AnyUser) -> MeOut:
    """The caller's name, role and, for a field unit, its unit."""
    return MeOut(username=user.username, role=user.role.value, unit_id=user.unit_id)
