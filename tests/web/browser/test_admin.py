"""The admin page (/admin) in Debian's Chromium: an admin adds a user, changes its role, resets its password and
deactivates it, each change checked through the API (and by signing in as that user), and reads those changes in the
audit view; a commander opening the page is told it is for admins. No city: the run's empty test database served
in-process (``live_server``), two units made over the API. Screenshots go to tests/web/browser/screenshots/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from core.users import Role, add_user
from tests.support.browser import Confined, confined_page
from tests.web.browser.conftest import SHOTS
from web.state import state_of

PASSWORD = "admin-page-test-password"
ADMIN, COMMANDER = "ops.admin", "ops.cmd"
PEOPLE = [
    ("duty.wang", "duty_officer", None),
    ("duty.zhao", "duty_officer", None),
    ("cmd.chen", "commander", None),
    ("obs.liu", "observer", None),
    ("crew.amb1", "field_unit", 1),
]
WAIT_MS = 10_000
VIEW = {"width": 1440, "height": 860}


@dataclass
class Site:
    origin: str
    api: httpx.AsyncClient  # signed in as the admin
    units: list[int]


async def _signed_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/token", data={"username": username, "password": password})


@pytest.fixture
async def site(live_app: Any, live_server: str) -> AsyncIterator[Site]:
    """An admin, a commander and two ambulances on the empty test database, served by a real uvicorn."""
    async with state_of(live_app).sessionmaker() as session:
        await add_user(session, username=ADMIN, password=PASSWORD, role=Role.admin)
        await add_user(session, username=COMMANDER, password=PASSWORD, role=Role.commander)
        await session.commit()
    async with httpx.AsyncClient(base_url=f"http://{live_server}", timeout=30) as api:
        signed = await _signed_in(api, ADMIN, PASSWORD)
        assert signed.status_code == 200, signed.text
        api.headers["Authorization"] = f"Bearer {signed.json()['access_token']}"
        api.cookies.clear()
        units = []
        for number, (lon, lat) in enumerate([(104.07, 30.66), (104.08, 30.65)], start=1):
            made = await api.post(
                "/api/v1/resources",
                json={
                    "type": "ambulance",
                    "name": f"急救{number}号",
                    "name_zh": f"急救{number}号",
                    "name_en": f"Ambulance {number}",
                    "status": "available",
                    "location": {"type": "Point", "coordinates": [lon, lat]},
                },
            )
            assert made.status_code == 201, made.text
            units.append(int(made.json()["id"]))
        # A night shift's people, a few of whom have signed in (for the last sign-in column).
        for username, role, unit in PEOPLE:
            body = {"username": username, "role": role, "password": PASSWORD, "unit_id": unit and units[unit - 1]}
            assert (await api.post("/api/v1/users", json=body)).status_code == 201
        for username in ("duty.wang", "cmd.chen"):
            assert (await _signed_in(api, username, PASSWORD)).status_code == 200
        assert (await _signed_in(api, "duty.zhao", "not-the-password")).status_code == 401  # a failure to read
        api.cookies.clear()
        yield Site(f"http://{live_server}", api, units)


async def open_admin(page: Confined, origin: str, username: str, lang: str) -> None:
    await page.page.set_viewport_size(VIEW)
    await page.page.add_init_script(
        f"if (!localStorage.getItem('commandpost.lang')) localStorage.setItem('commandpost.lang', '{lang}')"
    )
    await page.page.goto(origin + "/admin")
    await page.page.wait_for_url("**/login?next=*")
    await page.page.fill("input[autocomplete=username]", username)
    await page.page.fill("input[autocomplete=current-password]", PASSWORD)
    await page.page.click("#login-submit")
    await page.page.wait_for_url(origin + "/admin")


async def shot(page: Confined, name: str, *, full: bool = False) -> None:
    SHOTS.mkdir(exist_ok=True)
    await page.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full)


async def clean(page: Confined) -> None:
    """Nothing asked of another origin, no policy violation, no script error."""
    assert page.refused == [], page.refused
    assert await page.violations() == []
    errors = [m for m in page.console if "Uncaught" in m or "TypeError" in m or "ReferenceError" in m]
    assert errors == [], errors


async def user_named(site: Site, username: str) -> dict[str, Any]:
    listed = (await site.api.get("/api/v1/users", params={"limit": 1000})).json()["items"]
    return next(u for u in listed if u["username"] == username)


def row(username: str) -> str:
    return f"#users-body tr[data-username='{username}']"


async def read_secret(page: Confined) -> str:
    """The generated password from the dialog that shows it once; the dialog closed afterwards."""
    await page.page.wait_for_selector("#secret-dialog[open]", timeout=WAIT_MS)
    secret = str(await page.page.text_content("#secret-value"))
    assert len(secret) == 16 and secret.isalnum(), secret
    return secret


async def test_an_admin_adds_changes_resets_and_deactivates_a_user(site: Site) -> None:
    async with confined_page(site.origin, locale="zh-CN") as page:
        p = page.page
        await open_admin(page, site.origin, ADMIN, lang="zh")
        await p.wait_for_selector(row(ADMIN), timeout=WAIT_MS)
        # The admin's own row cannot deactivate itself (the API would refuse): the button says so before a click.
        assert await p.is_disabled(f"{row(ADMIN)} button[data-action=deactivate]")

        # Add a field unit's phone user, bound to the second ambulance, its password generated and shown once.
        await p.click("#add-user")
        await p.fill("#uf-username", "crew.li")
        await p.select_option("#uf-role", "field_unit")
        assert await p.is_visible("#uf-unit")
        await p.select_option("#uf-unit", str(site.units[1]))
        await shot(page, "admin-add-zh")
        await p.click("#uf-submit")
        first = await read_secret(page)
        await shot(page, "admin-password-zh")
        await p.click("#secret-done")
        assert await p.text_content("#secret-value") == ""  # gone from the page once closed
        made = await user_named(site, "crew.li")
        assert (made["role"], made["unit_id"], made["active"]) == ("field_unit", site.units[1], True)
        signed = await _signed_in(site.api, "crew.li", first)
        assert signed.status_code == 200, signed.text
        crew_token = {"Authorization": f"Bearer {signed.json()['access_token']}"}
        await p.wait_for_selector(f"{row('crew.li')} >> text=急救2号", timeout=WAIT_MS)

        # Change the role: a field unit becomes a duty officer (the unit goes with the old role, the old token ends).
        await p.click(f"{row('crew.li')} button[data-action=edit]")
        await p.select_option("#uf-role", "duty_officer")
        assert await p.is_hidden("#uf-unit-row") and await p.is_visible("#uf-role-note")
        await p.click("#uf-submit")
        await p.wait_for_selector(f"{row('crew.li')} >> text=值班员", timeout=WAIT_MS)
        changed = await user_named(site, "crew.li")
        assert (changed["role"], changed["unit_id"]) == ("duty_officer", None)
        assert (await site.api.get("/api/v1/me", headers=crew_token)).status_code == 401

        # Reset the password: a new one, shown once; the old one no longer signs in.
        await p.click(f"{row('crew.li')} button[data-action=reset]")
        await p.click("#uf-submit")
        second = await read_secret(page)
        assert second != first
        await p.click("#secret-done")
        assert (await _signed_in(site.api, "crew.li", first)).status_code == 401
        assert (await _signed_in(site.api, "crew.li", second)).status_code == 200

        # A typed password too short is refused on the page, before any request.
        await p.click(f"{row('crew.li')} button[data-action=reset]")
        await p.check("input[name=pw-mode][value=type]")
        await p.fill("#uf-password", "short")
        await p.click("#uf-submit")
        assert await p.text_content("#uf-error") == "密码至少 8 位"
        await p.click("#uf-cancel")
        assert (await _signed_in(site.api, "crew.li", second)).status_code == 200

        # Deactivate, after a confirmation whose focus is on Cancel; the user can no longer sign in.
        await p.click(f"{row('crew.li')} button[data-action=deactivate]")
        await p.wait_for_selector("#confirm-dialog[open]")
        assert await p.evaluate("document.activeElement.id") == "confirm-cancel"
        await p.click("#confirm-do")
        await p.wait_for_selector(f"{row('crew.li')}.inactive button[data-action=reactivate]", timeout=WAIT_MS)
        assert (await user_named(site, "crew.li"))["active"] is False
        assert (await _signed_in(site.api, "crew.li", second)).status_code == 401
        # The last sign-in column knows the admin's own sign-in (from the audit log).
        assert await p.text_content(f"{row(ADMIN)} td.when") != "—"
        await shot(page, "admin-users-zh")

        # The audit view shows the four changes, the same rows the API answers, newest first.
        audited = (await site.api.get("/api/v1/audit", params={"actor": ADMIN, "limit": 1000})).json()["items"]
        changes = [r for r in audited if r["action"].startswith("users.") and r["target"].get("username") == "crew.li"]
        actions = [r["action"] for r in changes]
        assert actions == ["users.edit", "users.reset_password", "users.edit", "users.create"], actions
        assert changes[2]["target"]["changes"]["role"] == ["field_unit", "duty_officer"]
        assert changes[0]["target"]["changes"]["active"] == [True, False]
        await p.click("#tab-audit")
        for entry in changes:
            await p.wait_for_selector(f"#audit-body tr[data-id='{entry['id']}']", timeout=WAIT_MS)
        role_change = await p.text_content(f"#audit-body tr[data-id='{changes[2]['id']}'] td.target")
        assert "角色: 现场单位 → 值班员" in str(role_change), role_change

        # Filtered by action: only the two edits are left.
        await p.fill("#a-action", "users.edit")
        await p.click("#audit-filters button[type=submit]")
        await p.wait_for_function("() => document.querySelectorAll('#audit-body tr[data-action]').length === 2")
        shown = await p.eval_on_selector_all("#audit-body tr[data-action]", "rows => rows.map(r => r.dataset.action)")
        assert shown == ["users.edit", "users.edit"]
        # And by time: the last hour has them; a period typed after every row, nothing; a garbled time is explained.
        await p.select_option("#a-range", "1h")
        await p.wait_for_function("() => document.querySelectorAll('#audit-body tr[data-action]').length === 2")
        await p.select_option("#a-range", "custom")
        await p.fill("#a-since", "2099-01-01 00:00")
        await p.click("#audit-filters button[type=submit]")
        await p.wait_for_selector("#audit-body td.empty", timeout=WAIT_MS)
        await p.fill("#a-since", "08/12/2026")
        await p.click("#audit-filters button[type=submit]")
        await p.wait_for_selector("#a-error", state="visible")
        assert "2026-12-08 02:00" in str(await p.text_content("#a-error"))
        await p.click("#a-clear")
        await p.wait_for_selector(f"#audit-body tr[data-id='{changes[3]['id']}']", timeout=WAIT_MS)
        assert await p.is_hidden("#a-error") and await p.is_hidden("#a-custom")
        # Everyone's rows again, the failed sign-in among them, marked.
        failed = await p.text_content("#audit-body tr.failed[data-action='auth.token']")
        assert "duty.zhao" in str(failed) and "身份未通过 401" in str(failed), failed
        await shot(page, "admin-audit-zh")
        await p.fill("#a-actor", ADMIN)
        await p.click("#audit-filters button[type=submit]")
        await p.wait_for_function("() => document.querySelectorAll('#audit-body tr.failed').length === 0")
        await p.wait_for_selector(f"#audit-body tr[data-id='{changes[0]['id']}']", timeout=WAIT_MS)

        # English, switched on the page: the labels change, the rows stay.
        await p.click("#lang-toggle")
        assert await p.text_content("#tab-audit") == "Audit log"
        role_change = await p.text_content(f"#audit-body tr[data-id='{changes[2]['id']}'] td.target")
        assert "role: Field unit → Duty officer" in str(role_change), role_change
        await shot(page, "admin-audit-en")
        await p.click("#tab-users")
        assert await p.text_content(f"{row('crew.li')} .state") == "Deactivated"
        await shot(page, "admin-users-en")
        # Reactivated: the user signs in again with the password of the reset.
        await p.click(f"{row('crew.li')} button[data-action=reactivate]")
        await p.wait_for_selector(f"{row('crew.li')}:not(.inactive) button[data-action=deactivate]", timeout=WAIT_MS)
        assert (await user_named(site, "crew.li"))["active"] is True
        assert (await _signed_in(site.api, "crew.li", second)).status_code == 200
        await clean(page)

        # The command room links the page for an admin.
        await p.goto(site.origin + "/")
        await p.wait_for_function("() => document.getElementById('who').textContent !== ''", timeout=WAIT_MS)
        assert await p.is_visible("#admin-link") and await p.text_content("#admin-link") == "People"
        await p.click("#admin-link")
        await p.wait_for_selector(row("crew.li"), timeout=WAIT_MS)


async def test_a_commander_is_told_the_page_is_for_admins(site: Site) -> None:
    async with confined_page(site.origin, locale="zh-CN") as page:
        refused: list[str] = []
        page.page.on("response", lambda r: refused.append(r.url) if r.status == 403 else None)
        await open_admin(page, site.origin, COMMANDER, lang="zh")
        await page.page.wait_for_selector("#refused", state="visible", timeout=WAIT_MS)
        text = str(await page.page.text_content("#refused"))
        assert "仅限管理员" in text and COMMANDER in text and "指挥员" in text, text
        assert [u for u in refused if "/api/v1/" in u], "the refusal came from the server's answer"
        assert await page.page.is_hidden("#users") and await page.page.is_hidden("#tabs")
        assert await page.page.locator("#users-body tr").count() == 0
        await shot(page, "admin-refused-zh")
        await page.page.click("#lang-toggle")
        assert "Administrators only" in str(await page.page.text_content("#refused"))
        await clean(page)
        # A commander's command room does not link it.
        await page.page.goto(site.origin + "/")
        await page.page.wait_for_function("() => document.getElementById('who').textContent !== ''", timeout=WAIT_MS)
        assert await page.page.is_hidden("#admin-link")


async def test_two_factor_and_jurisdictions_appear_when_the_users_api_carries_them(site: Site) -> None:
    """The columns for TOTP and jurisdictions (admin-forms.js EXTENSIONS), shown as the users API answers them. The
    answer is changed here in the browser to hold an enrolled admin and a scoped officer (no district is loaded in
    this test's database, so the district shows by its id)."""
    async with confined_page(site.origin, locale="zh-CN") as page:
        p = page.page

        async def extended(route: Any) -> None:
            answer = await route.fetch()
            body = await answer.json()
            for user in body["items"]:
                user["totp_enabled"] = user["username"] == ADMIN
                scope = [{"id": 7, "name": None, "name_en": None, "code": None}]
                user["jurisdictions"] = scope if user["username"] == "duty.wang" else []
            await route.fulfill(response=answer, json=body)

        await p.route("**/api/v1/users?*", extended)
        await open_admin(page, site.origin, ADMIN, lang="en")
        await p.wait_for_selector(row(ADMIN), timeout=WAIT_MS)
        assert await p.is_visible("th[data-ext=twofa]") and await p.is_visible("th[data-ext=jurisdictions]")
        assert await p.text_content(f"{row(ADMIN)} td.twofa") == "On"
        assert await p.text_content(f"{row('duty.wang')} td.jurisdictions") == "#7"
        assert await p.is_visible(f"{row(ADMIN)} button[data-action=reset-2fa]")
        assert await p.locator(f"{row('duty.zhao')} button[data-action=reset-2fa]").count() == 0
        await p.click(f"{row('duty.wang')} button[data-action=edit]")
        assert await p.is_visible("#uf-jurisdictions")
        await clean(page)
