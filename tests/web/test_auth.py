"""Tokens and roles: sign-in, expiry, forgery, revocation by password reset, and the role gate."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

import web.security
from core.clock import utcnow
from core.db import create_sessionmaker, transaction
from core.settings import Settings
from core.users import Role, add_user, ensure_admin
from tests.conftest import TokenFor
from web.security import AuthCache, issue_token
from web.state import state_of

PASSWORD = "correct horse battery"


async def _sign_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/token", data={"username": username, "password": password})


async def test_token_then_me(client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    await add_user(session, username="wang.duty", password=PASSWORD, role=Role.duty_officer)
    await session.commit()
    response = await _sign_in(client, "wang.duty", PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["role"] == "duty_officer"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == settings.token_minutes * 60
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json() == {"username": "wang.duty", "role": "duty_officer"}


async def test_field_unit_me_names_its_unit(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    auth = await token_for("field_unit", unit_id=42)
    assert (await client.get("/api/v1/me", headers=auth)).json()["unit_id"] == 42


async def test_wrong_password_and_unknown_user_look_the_same(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await add_user(session, username="li.cmd", password=PASSWORD, role=Role.commander)
    await session.commit()
    wrong_password = await _sign_in(client, "li.cmd", "not the password")
    unknown_user = await _sign_in(client, "nobody", PASSWORD)
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert (
        wrong_password.json()
        == unknown_user.json()
        == {
            "error": "unauthenticated",
            "detail": "wrong username or password",
        }
    )


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer not-a-jwt", "Basic YWRtaW46YWRtaW4=", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."],
    ids=["none", "empty", "garbage", "basic", "alg-none"],
)
async def test_missing_or_malformed_token_is_401(client: httpx.AsyncClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = await client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401 and response.json()["error"] == "unauthenticated"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_forged_token_is_401(client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    await add_user(session, username="forger_target", password=PASSWORD, role=Role.admin)
    await session.commit()
    forged = jwt.encode(
        {"iss": "commandpost", "sub": "forger_target", "role": "admin", "pwd": 0, "iat": 1, "exp": 4_000_000_000},
        "some-other-key-of-enough-length-0123456789",
        algorithm="HS256",
    )
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


async def test_expired_token_is_401(client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    user = await add_user(session, username="late", password=PASSWORD, role=Role.observer)
    await session.commit()
    token, _ = issue_token(
        username="late",
        role="observer",
        password_changed_at=user.password_changed_at,
        settings=settings,
        now=utcnow() - timedelta(minutes=61),
    )
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and "expired" in response.json()["detail"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app: FastAPI, settings: Settings) -> FakeClock:
    """The app's auth cache on a clock the test moves."""
    fake = FakeClock()
    state_of(app).auth_cache = AuthCache(settings.auth_cache_seconds, clock=fake)
    return fake


async def test_password_reset_revokes_older_tokens(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, clock: FakeClock
) -> None:
    await ensure_admin(session, password=PASSWORD)
    await session.commit()
    old = (await _sign_in(client, "admin", PASSWORD)).json()["access_token"]
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {old}"})).status_code == 200
    assert await ensure_admin(session, password="a brand new password") == "reset"
    await session.commit()
    new = (await _sign_in(client, "admin", "a brand new password")).json()["access_token"]
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {new}"})).status_code == 200, (
        "a token signed after the reset works at once, whatever the cache holds"
    )
    clock.now += settings.auth_cache_seconds  # the longest a worker may go on trusting what it read
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {old}"})).status_code == 401
    assert (await _sign_in(client, "admin", PASSWORD)).status_code == 401


@pytest.mark.parametrize("cached", [True, False], ids=["auth cache", "no auth cache"])
async def test_deactivated_user_is_locked_out(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings, cached: bool
) -> None:
    clock = FakeClock()
    state_of(app).auth_cache = AuthCache(settings.auth_cache_seconds if cached else 0, clock=clock)
    user = await add_user(session, username="gone", password=PASSWORD, role=Role.commander)
    await session.commit()
    token = (await _sign_in(client, "gone", PASSWORD)).json()["access_token"]
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    user.active = False
    await session.commit()
    if cached:
        clock.now += settings.auth_cache_seconds  # the longest a worker may go on trusting what it read
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    assert (await _sign_in(client, "gone", PASSWORD)).status_code == 401


async def test_a_remembered_token_still_expires(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_user(session, username="brief", password=PASSWORD, role=Role.observer)
    await session.commit()
    user = await session.scalar(text("SELECT password_changed_at FROM app_user WHERE username = 'brief'"))
    token, expires_at = issue_token(username="brief", role="observer", password_changed_at=user, settings=settings)
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    # The token's claims are now remembered; the clock the cache reads moves past the token's expiry.
    monkeypatch.setattr(web.security, "utcnow", lambda: expires_at + timedelta(seconds=1))
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and "expired" in response.json()["detail"]


@pytest.mark.parametrize(
    ("role", "status"),
    [("commander", 200), ("admin", 200), ("duty_officer", 403), ("observer", 403), ("field_unit", 403)],
)
async def test_role_gate(client: httpx.AsyncClient, token_for: TokenFor, role: str, status: int) -> None:
    auth = await token_for(role, unit_id=1 if role == "field_unit" else None)
    response = await client.post("/api/v1/_probe/commanders-only", headers=auth)
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["error"] == "forbidden" and role in response.json()["detail"]


async def test_no_secret_key_means_no_tokens(app: FastAPI, settings: Settings, session: AsyncSession) -> None:
    await add_user(session, username="keyless", password=PASSWORD, role=Role.observer)
    await session.commit()
    state_of(app).settings = settings.model_copy(update={"secret_key": None})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await _sign_in(client, "keyless", PASSWORD)
    assert response.status_code == 503 and "SECRET_KEY" in response.json()["detail"]


async def test_workers_starting_together_create_admin_once(engine: AsyncEngine) -> None:
    """Several workers bootstrap ``admin`` at start-up at the same moment: one creates it, the others find it."""
    sessions = create_sessionmaker(engine)

    async def bootstrap() -> str:
        async with transaction(sessions) as session:
            return await ensure_admin(session, password="started-together-1")

    try:
        outcomes = await asyncio.gather(*(bootstrap() for _ in range(4)))
        assert sorted(outcomes) == ["created", "unchanged", "unchanged", "unchanged"]
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM app_user WHERE username = 'admin'"))
