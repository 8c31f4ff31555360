"""Refresh tokens (core/refresh.py, web/routes/auth.py): rotation, reuse ends the sign-in, sign-out, the cookie."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.users import Role, add_user, ensure_admin

PASSWORD = "correct horse battery"


async def _sign_in(client: httpx.AsyncClient, username: str = "li.cmd") -> dict[str, str]:
    response = await client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    client.cookies.clear()  # the body alone speaks
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": token})


async def _user(session: AsyncSession, username: str = "li.cmd") -> None:
    await add_user(session, username=username, password=PASSWORD, role=Role.commander)
    await session.commit()


async def test_refresh_rotates_and_the_new_access_token_works(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await _user(session)
    first = await _sign_in(client)
    assert first["refresh_token"] and first["refresh_expires_at"]
    renewed = await _refresh(client, first["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    body = renewed.json()
    assert body["role"] == "commander" and body["refresh_token"] != first["refresh_token"]
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["username"] == "li.cmd"
    again = await _refresh(client, body["refresh_token"])  # the successor is good once too
    assert again.status_code == 200, again.text


async def test_reusing_an_old_refresh_token_revokes_the_family(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await _user(session)
    first = await _sign_in(client)
    second = (await _refresh(client, first["refresh_token"])).json()
    third = (await _refresh(client, second["refresh_token"])).json()  # the owner went on: no answer was lost
    reuse = await _refresh(client, first["refresh_token"])
    assert reuse.status_code == 401 and reuse.json()["error"] == "unauthenticated"
    assert "used twice" in reuse.json()["detail"]
    # The thief's copy and the owner's newer token are both dead now.
    assert (await _refresh(client, third["refresh_token"])).status_code == 401
    revoked = await session.scalar(text("SELECT count(*) FROM refresh_token WHERE revoked_at IS NOT NULL"))
    assert revoked == 3
    # Another sign-in of the same user is untouched.
    other = await _sign_in(client)
    assert (await _refresh(client, other["refresh_token"])).status_code == 200


async def test_logout_revokes_and_is_idempotent(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await _user(session)
    tokens = await _sign_in(client)
    out = await client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 204
    assert (await _refresh(client, tokens["refresh_token"])).status_code == 401
    assert (await client.post("/api/v1/auth/logout", json={"refresh_token": "nonsense"})).status_code == 204
    nothing = await client.post("/api/v1/auth/logout")
    assert nothing.status_code == 401 and nothing.json()["error"] == "unauthenticated"


async def test_the_cookie_alone_renews(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await _user(session)
    signed = await client.post("/api/v1/auth/token", data={"username": "li.cmd", "password": PASSWORD})
    cookie = signed.headers["set-cookie"]
    assert "cp_refresh=" in cookie and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert "Path=/api/v1/auth" in cookie
    renewed = await client.post("/api/v1/auth/refresh")  # httpx sends the cookie back, as a browser would
    assert renewed.status_code == 200, renewed.text
    assert renewed.cookies.get("cp_refresh") == renewed.json()["refresh_token"]


async def test_unknown_or_bad_refresh_tokens_are_401(client: httpx.AsyncClient) -> None:
    assert (await _refresh(client, "x" * 43)).status_code == 401
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": "x" * 300})).status_code == 422


async def test_a_new_password_ends_older_sign_ins(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await ensure_admin(session, password=PASSWORD)
    await session.commit()
    tokens = await _sign_in(client, "admin")
    await ensure_admin(session, password="a brand new password")
    await session.commit()
    assert (await _refresh(client, tokens["refresh_token"])).status_code == 401


async def test_a_deactivated_user_cannot_refresh(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await _user(session)
    tokens = await _sign_in(client)
    await session.execute(text("UPDATE app_user SET active = false WHERE username = 'li.cmd'"))
    await session.commit()
    assert (await _refresh(client, tokens["refresh_token"])).status_code == 401


async def test_a_renewal_whose_answer_was_lost_is_renewed_again_once(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """The answer to a renewal never arrived (the phone's network dropped): the same token again, within the grace
    and before its replacement was ever used, renews; the lost replacement is retired, so presenting it later ends
    the sign-in; past the grace the same mistake ends it at once."""
    await _user(session)
    first = await _sign_in(client)
    lost = (await _refresh(client, first["refresh_token"])).json()  # never reached the phone
    again = await _refresh(client, first["refresh_token"])
    assert again.status_code == 200, again.text
    kept = again.json()
    assert kept["refresh_token"] not in (lost["refresh_token"], first["refresh_token"])
    assert (await _refresh(client, kept["refresh_token"])).status_code == 200  # the phone goes on as usual
    late = await _refresh(client, lost["refresh_token"])  # the lost one, turning up later: someone else has it
    assert late.status_code == 401 and "used twice" in late.json()["detail"]

    other = await _sign_in(client)
    renewed = (await _refresh(client, other["refresh_token"])).json()
    await session.execute(
        text("UPDATE refresh_token SET used_at = used_at - interval '31 seconds' WHERE used_at IS NOT NULL")
    )
    await session.commit()
    past = await _refresh(client, other["refresh_token"])  # past the 30 s grace: a theft as before
    assert past.status_code == 401 and "used twice" in past.json()["detail"]
    assert (await _refresh(client, renewed["refresh_token"])).status_code == 401
