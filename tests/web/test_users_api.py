"""People over the API (admins only): add, list, change role or unit, deactivate, reset a password; each change
audited with before and after and never a password; a deactivated user, a changed role or a reset password ends
that user's tokens at once in this worker; nobody changes their own role or locks themselves out."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import AuditEntry
from tests.conftest import TokenFor


async def _sign_in(client: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/token", data={"username": name, "password": password})


async def _audit(session: AsyncSession, action: str) -> list[AuditEntry]:
    return list(await session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


async def test_an_admin_manages_people_and_every_change_is_audited(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor
) -> None:
    admin = await token_for("admin", username="chief.admin")
    body = {"username": "li.duty", "role": "duty_officer", "password": "first-password"}
    made = await client.post("/api/v1/users", json=body, headers=admin)
    assert made.status_code == 201, made.text
    user = made.json()
    assert user["role"] == "duty_officer" and user["active"] is True and "password" not in user
    assert (await client.post("/api/v1/users", json=body, headers=admin)).status_code == 409  # the name is taken

    listed = (await client.get("/api/v1/users?role=duty_officer", headers=admin)).json()
    assert [u["username"] for u in listed["items"]] == ["li.duty"] and listed["total"] == 1

    signed = await _sign_in(client, "li.duty", "first-password")
    assert signed.status_code == 200
    token = {"Authorization": f"Bearer {signed.json()['access_token']}"}
    assert (await client.get("/api/v1/me", headers=token)).json()["role"] == "duty_officer"

    # Promoted: the old token (of the old role) ends; a new sign-in carries the new role.
    promoted = await client.patch(f"/api/v1/users/{user['id']}", json={"role": "commander"}, headers=admin)
    assert promoted.status_code == 200 and promoted.json()["role"] == "commander"
    assert (await client.get("/api/v1/me", headers=token)).status_code == 401
    token = {"Authorization": f"Bearer {(await _sign_in(client, 'li.duty', 'first-password')).json()['access_token']}"}
    assert (await client.get("/api/v1/me", headers=token)).json()["role"] == "commander"

    # Deactivated: the token ends and signing in fails; reactivated: signing in works again.
    off = await client.patch(f"/api/v1/users/{user['id']}", json={"active": False}, headers=admin)
    assert off.status_code == 200 and off.json()["active"] is False
    assert (await client.get("/api/v1/me", headers=token)).status_code == 401
    assert (await _sign_in(client, "li.duty", "first-password")).status_code == 401
    assert (await client.patch(f"/api/v1/users/{user['id']}", json={"active": True}, headers=admin)).status_code == 200

    # A reset password: the old one no longer works, the new one does.
    reset = await client.post(
        f"/api/v1/users/{user['id']}/password", json={"password": "second-password"}, headers=admin
    )
    assert reset.status_code == 204
    assert (await _sign_in(client, "li.duty", "first-password")).status_code == 401
    assert (await _sign_in(client, "li.duty", "second-password")).status_code == 200

    edits = await _audit(session, "users.edit")
    assert [e.target["changes"] for e in edits] == [
        {"role": ["duty_officer", "commander"]},
        {"active": [True, False]},
        {"active": [False, True]},
    ]
    assert all(e.actor == "chief.admin" and e.outcome == "ok" for e in edits)
    created = await _audit(session, "users.create")
    resets = await _audit(session, "users.reset_password")
    assert created[0].target["username"] == "li.duty" and resets[0].target["username"] == "li.duty"
    rows = [*created, *edits, *resets]
    assert not any("first-password" in str(r.target) or "second-password" in str(r.target) for r in rows)


async def test_only_admins_and_never_against_themselves(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor
) -> None:
    admin = await token_for("admin", username="self.admin")
    for role in ("commander", "duty_officer", "observer", "field_unit"):
        other = await token_for(role, unit_id=1 if role == "field_unit" else None)
        assert (await client.get("/api/v1/users", headers=other)).status_code == 403
        refused = await client.post(
            "/api/v1/users", json={"username": "x", "role": "observer", "password": "p" * 8}, headers=other
        )
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert (await client.get("/api/v1/users")).status_code == 401
    me = next(
        u for u in (await client.get("/api/v1/users", headers=admin)).json()["items"] if u["username"] == "self.admin"
    )
    for change in ({"active": False}, {"role": "observer"}):
        refused = await client.patch(f"/api/v1/users/{me['id']}", json=change, headers=admin)
        assert refused.status_code == 409, refused.text
    assert (await client.get("/api/v1/me", headers=admin)).status_code == 200  # still an admin, still signed in


async def test_bad_input_is_refused_in_the_one_error_shape(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    admin = await token_for("admin")
    cases = [
        {"username": "no spaces allowed", "role": "observer", "password": "long-enough"},
        {"username": "short.pw", "role": "observer", "password": "short"},
        {"username": "crew.1", "role": "field_unit", "password": "long-enough"},  # a field unit needs its unit
        {"username": "obs.1", "role": "observer", "password": "long-enough", "unit_id": 3},  # only field units have one
        {"username": "who", "role": "emperor", "password": "long-enough"},
        {"username": "x" * 65, "role": "observer", "password": "long-enough"},
    ]
    for body in cases:
        refused = await client.post("/api/v1/users", json=body, headers=admin)
        assert refused.status_code == 422 and refused.json()["error"] == "invalid", (body, refused.text)
    made = (
        await client.post(
            "/api/v1/users", json={"username": "obs.2", "role": "observer", "password": "long-enough"}, headers=admin
        )
    ).json()
    refused = await client.patch(f"/api/v1/users/{made['id']}", json={"role": "field_unit"}, headers=admin)
    assert refused.status_code == 422 and refused.json()["field"] == "unit_id"
    assert (await client.patch("/api/v1/users/999999", json={"active": False}, headers=admin)).status_code == 404


async def test_admins_read_the_audit_trail_and_nobody_edits_it(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    admin = await token_for("admin", username="audit.admin")
    for i in range(3):
        body = {"username": f"aud.{i}", "role": "observer", "password": "long-enough"}
        assert (await client.post("/api/v1/users", json=body, headers=admin)).status_code == 201
    refused = await client.post(
        "/api/v1/users", json={"username": "aud.0", "role": "observer", "password": "long-enough"}, headers=admin
    )
    assert refused.status_code == 409

    page = (await client.get("/api/v1/audit?action=users.create&limit=2", headers=admin)).json()
    assert [e["outcome"] for e in page["items"]] == ["conflict", "ok"]  # newest first
    assert page["items"][1]["target"]["username"] == "aud.2" and page["items"][1]["actor"] == "audit.admin"
    older = (
        await client.get(f"/api/v1/audit?action=users.create&before_id={page['items'][-1]['id']}", headers=admin)
    ).json()
    assert [e["target"]["username"] for e in older["items"]] == ["aud.1", "aud.0"]
    mine = (await client.get("/api/v1/audit?actor=audit.admin&outcome=ok", headers=admin)).json()["items"]
    assert [e["action"] for e in mine].count("users.create") == 3 and "auth.token" in {e["action"] for e in mine}
    future = (await client.get("/api/v1/audit?since=2099-01-01T00:00:00Z", headers=admin)).json()
    assert future["items"] == []

    for role in ("commander", "duty_officer", "observer"):
        assert (await client.get("/api/v1/audit", headers=await token_for(role))).status_code == 403
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert (await client.request(method, "/api/v1/audit", headers=admin)).status_code == 405
    assert (await client.get("/api/v1/audit?limit=1001", headers=admin)).status_code == 422
    assert (await client.get("/api/v1/audit?since=yesterday", headers=admin)).status_code == 422
