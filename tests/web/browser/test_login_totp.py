"""The sign-in page with TOTP, in Chromium against the real server: a commander with TOTP on is asked for the code
after the password, a wrong code is refused on the page, the right one signs in."""

from __future__ import annotations

import pytest

from core import totp
from core.clock import utcnow
from tests.support.browser import confined_page
from tests.web.browser.conftest import PASSWORD, Room

pytest.importorskip("pyotp")
pytestmark = pytest.mark.timeout(400)
WAIT_MS = 10_000


async def test_a_user_with_totp_signs_in_with_the_code_the_page_asks_for(room: Room) -> None:
    login = {"username": "room.2fa", "password": PASSWORD}
    offered = await room.api.post("/api/v1/auth/totp/enrol", data=login)
    assert offered.status_code == 200, offered.text
    secret = offered.json()["secret"]
    step = totp.step_at(utcnow())
    confirmed = await room.api.post("/api/v1/auth/totp/confirm", data={**login, "code": totp.code_at(secret, step)})
    assert confirmed.status_code == 200, confirmed.text
    room.api.cookies.clear()

    async with confined_page(room.origin) as page:
        await page.page.add_init_script("localStorage.setItem('commandpost.lang', 'en')")
        await page.page.goto(room.origin + "/login")
        assert not await page.page.is_visible("#totp")
        await page.page.fill("input[autocomplete=username]", "room.2fa")
        await page.page.fill("input[autocomplete=current-password]", PASSWORD)
        await page.page.click("#login-submit")
        await page.page.wait_for_selector("#totp", state="visible", timeout=WAIT_MS)
        assert "six-digit code" in await page.page.inner_text("#login-error")
        right = totp.code_at(secret, step + 1)
        await page.page.fill("input[autocomplete=one-time-code]", "000000" if right != "000000" else "111111")
        await page.page.click("#login-submit")
        await page.page.wait_for_function(
            "() => document.getElementById('login-error').textContent.includes('wrong')", timeout=WAIT_MS
        )
        assert page.page.url.startswith(room.origin + "/login")
        await page.page.fill("input[autocomplete=one-time-code]", right)
        await page.page.click("#login-submit")
        await page.page.wait_for_url(room.origin + "/", timeout=WAIT_MS)
        assert page.refused == []
