"""TOTP two-factor sign-in: enrolment (a secret shown once, confirmed with a code, stored sealed), sign-in with the
password and a code (401 ``totp_required`` / ``totp_invalid`` in the one error shape), a code good once, wrong codes
counted by the sign-in limits, roles that must use it (COMMANDPOST_TOTP_REQUIRED_ROLES), and an admin's reset."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
import redis.asyncio as redis_async
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import totp
from core.audit import AuditEntry
from core.clock import utcnow
from core.settings import Settings
from core.users import Role, add_user, get_by_username
from tests.conftest import TokenFor
from web.app import create_app

pytest.importorskip("pyotp")

PASSWORD = "two-factor-password"
MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def make_client(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], redis: redis_async.Redis
) -> AsyncIterator[MakeClient]:
    """A client of a fresh app whose settings differ by ``overrides`` (its Redis keys go with the run's)."""
    async with AsyncExitStack() as stack:

        async def make(**overrides: Any) -> httpx.AsyncClient:
            app = create_app(settings.model_copy(update=overrides), sessionmaker=sessionmaker)
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            return await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://test"))

        yield make


async def _person(session: AsyncSession, name: str, role: Role = Role.commander) -> None:
    await add_user(session, username=name, password=PASSWORD, role=role)
    await session.commit()


async def _sign_in(client: httpx.AsyncClient, name: str, code: str | None = None) -> httpx.Response:
    form = {"username": name, "password": PASSWORD} | ({"totp": code} if code is not None else {})
    return await client.post("/api/v1/auth/token", data=form)


async def _enrolled(client: httpx.AsyncClient, name: str) -> tuple[str, int]:
    """Enrol ``name``: its secret and the step the confirming code spent."""
    offered = await client.post("/api/v1/auth/totp/enrol", data={"username": name, "password": PASSWORD})
    assert offered.status_code == 200, offered.text
    secret = offered.json()["secret"]
    step = totp.step_at(utcnow())
    form = {"username": name, "password": PASSWORD, "code": totp.code_at(secret, step)}
    confirmed = await client.post("/api/v1/auth/totp/confirm", data=form)
    assert confirmed.status_code == 200, confirmed.text
    return secret, step


def _error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and body["detail"] and set(body) <= {"error", "detail", "retry_after"}


async def _audit(session: AsyncSession, action: str) -> list[AuditEntry]:
    return list(await session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


async def test_enrol_confirm_and_sign_in_with_a_code_that_is_good_once(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor
) -> None:
    await _person(session, "cmd.otp")
    assert (await _sign_in(client, "cmd.otp")).status_code == 200  # no TOTP yet: the password alone

    wrong_password = await client.post("/api/v1/auth/totp/enrol", data={"username": "cmd.otp", "password": "nope"})
    _error(wrong_password, 401, "unauthenticated")
    nothing_offered = {"username": "cmd.otp", "password": PASSWORD, "code": "123456"}
    _error(await client.post("/api/v1/auth/totp/confirm", data=nothing_offered), 409, "conflict")

    offered = await client.post("/api/v1/auth/totp/enrol", data={"username": "cmd.otp", "password": PASSWORD})
    assert offered.status_code == 200 and offered.headers["cache-control"] == "no-store"
    secret = offered.json()["secret"]
    uri = offered.json()["otpauth_uri"]
    assert (
        uri.startswith("otpauth://totp/Commandpost:cmd.otp?")
        and f"secret={secret}" in uri
        and "issuer=Commandpost" in uri
    )
    # Offered, not yet on: signing in still takes the password alone.
    assert (await _sign_in(client, "cmd.otp")).status_code == 200

    step = totp.step_at(utcnow())
    bad = {
        "username": "cmd.otp",
        "password": PASSWORD,
        "code": "000000" if totp.code_at(secret, step) != "000000" else "111111",
    }
    _error(await client.post("/api/v1/auth/totp/confirm", data=bad), 401, "totp_invalid")
    good = {"username": "cmd.otp", "password": PASSWORD, "code": totp.code_at(secret, step)}
    confirmed = await client.post("/api/v1/auth/totp/confirm", data=good)
    assert confirmed.status_code == 200 and confirmed.json()["totp_enabled"] is True

    # Stored sealed, never in the clear; never shown again; enrolling again is refused.
    user = await get_by_username(session, username="cmd.otp")
    assert user is not None
    await session.refresh(user)
    assert user.totp_secret and secret not in user.totp_secret and user.totp_pending is None
    _error(
        await client.post("/api/v1/auth/totp/enrol", data={"username": "cmd.otp", "password": PASSWORD}),
        409,
        "conflict",
    )
    admin = await token_for("admin")
    listed = (await client.get("/api/v1/users?role=commander", headers=admin)).text
    assert secret not in listed and '"totp_enabled":true' in listed

    no_code = await _sign_in(client, "cmd.otp")
    _error(no_code, 401, "totp_required")
    assert no_code.headers["www-authenticate"] == "Bearer"
    _error(await _sign_in(client, "cmd.otp", "12345x"), 401, "totp_invalid")
    _error(await _sign_in(client, "cmd.otp", totp.code_at(secret, step)), 401, "totp_invalid")  # spent by confirming
    later = totp.code_at(secret, step + 1)  # the next step, within the drift allowed
    signed = await _sign_in(client, "cmd.otp", later)
    assert signed.status_code == 200, signed.text
    _error(await _sign_in(client, "cmd.otp", later), 401, "totp_invalid")  # replayed within its window
    _error(await _sign_in(client, "cmd.otp", totp.code_at(secret, step + 5)), 401, "totp_invalid")  # too far ahead

    rows = [*await _audit(session, "auth.totp_enrol"), *await _audit(session, "auth.totp_confirm")]
    assert {r.outcome for r in rows} >= {"ok", "unauthenticated", "conflict", "totp_invalid"}
    assert not any(secret in str(r.target) for r in rows)


async def test_wrong_codes_count_toward_the_sign_in_limit_and_a_missing_one_does_not(
    make_client: MakeClient, session: AsyncSession
) -> None:
    client = await make_client(signin_max_failures_per_name=3)
    await _person(session, "cmd.guessed")
    secret, step = await _enrolled(client, "cmd.guessed")
    for _ in range(5):  # a page's first try without the code: not a failure
        _error(await _sign_in(client, "cmd.guessed"), 401, "totp_required")
    right = totp.code_at(secret, step + 1)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(3):
        _error(await _sign_in(client, "cmd.guessed", wrong), 401, "totp_invalid")
    blocked = await _sign_in(client, "cmd.guessed", right)
    _error(blocked, 429, "too_many_requests")
    assert int(blocked.headers["retry-after"]) > 0


async def test_a_role_that_must_use_totp_enrols_before_it_signs_in(
    make_client: MakeClient, session: AsyncSession
) -> None:
    client = await make_client(totp_required_roles=["admin", "commander"], totp_issuer="City EOC")
    await _person(session, "cmd.required")
    await _person(session, "duty.free", Role.duty_officer)
    _error(await _sign_in(client, "cmd.required"), 401, "totp_enrolment_required")
    assert (await _sign_in(client, "duty.free")).status_code == 200  # not a role that must
    offered = await client.post("/api/v1/auth/totp/enrol", data={"username": "cmd.required", "password": PASSWORD})
    assert "otpauth://totp/City%20EOC:cmd.required" in offered.json()["otpauth_uri"]
    secret = offered.json()["secret"]
    step = totp.step_at(utcnow())
    form = {"username": "cmd.required", "password": PASSWORD, "code": totp.code_at(secret, step)}
    assert (await client.post("/api/v1/auth/totp/confirm", data=form)).status_code == 200
    _error(await _sign_in(client, "cmd.required"), 401, "totp_required")
    assert (await _sign_in(client, "cmd.required", totp.code_at(secret, step + 1))).status_code == 200


async def test_a_sign_in_from_before_the_requirement_is_not_renewed_until_the_user_enrols(
    make_client: MakeClient, session: AsyncSession
) -> None:
    before = await make_client()
    after = await make_client(totp_required_roles=["commander"])  # the same database: a restart with the setting
    await _person(session, "cmd.earlier")
    refresh_token = (await _sign_in(before, "cmd.earlier")).json()["refresh_token"]
    _error(
        await after.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token}), 401, "totp_enrolment_required"
    )
    await _enrolled(after, "cmd.earlier")
    renewed = await after.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})
    assert renewed.status_code == 200, renewed.text


def test_the_required_roles_setting_is_checked() -> None:
    assert Settings(totp_required_roles="admin, commander").totp_required_roles == ["admin", "commander"]  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="TOTP_REQUIRED_ROLES"):
        Settings(totp_required_roles="admin,chief")  # type: ignore[arg-type]


async def test_an_admin_resets_a_lost_phone_and_it_is_audited(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor
) -> None:
    await _person(session, "cmd.lost")
    secret, step = await _enrolled(client, "cmd.lost")
    signed = await _sign_in(client, "cmd.lost", totp.code_at(secret, step + 1))
    old = {"Authorization": f"Bearer {signed.json()['access_token']}"}
    user = await get_by_username(session, username="cmd.lost")
    assert user is not None

    officer = await token_for("commander")
    _error(await client.delete(f"/api/v1/users/{user.id}/totp", headers=officer), 403, "forbidden")
    admin = await token_for("admin", username="totp.admin")
    _error(await client.delete("/api/v1/users/987654321/totp", headers=admin), 404, "not_found")
    assert (await client.delete(f"/api/v1/users/{user.id}/totp", headers=admin)).status_code == 204

    assert (await client.get("/api/v1/me", headers=old)).status_code == 401  # its sign-ins end
    assert (await _sign_in(client, "cmd.lost")).status_code == 200  # the password alone again
    again = await client.post("/api/v1/auth/totp/enrol", data={"username": "cmd.lost", "password": PASSWORD})
    assert again.status_code == 200 and again.json()["secret"] != secret
    [row] = [r for r in await _audit(session, "users.reset_totp") if r.outcome == "ok"]
    assert row.actor == "totp.admin" and row.target["username"] == "cmd.lost" and row.target["totp_was_on"] is True
