"""The command room in Debian's Chromium (Playwright), against a real server on the Chengdu data: the issue's proof
list. Screenshots go to tests/web/browser/screenshots/ (git-ignored)."""

from __future__ import annotations

import time
from typing import Any

from tests.support.browser import Confined, confined_page
from tests.web.browser.conftest import PASSWORD, SHOTS, Room

WAIT_MS = 10_000


def _report(text: str, lon: float, lat: float, **extra: Any) -> dict[str, Any]:
    return {"description": text, "location": {"type": "Point", "coordinates": [lon, lat]}, **extra}


async def sign_in(page: Confined, origin: str, username: str = "room.cmd") -> None:
    await page.page.goto(origin + "/")
    await page.page.wait_for_url("**/login?next=*")
    await page.page.fill("input[autocomplete=username]", username)
    await page.page.fill("input[autocomplete=current-password]", PASSWORD)
    await page.page.click("#login-submit")
    await page.page.wait_for_url(origin + "/")
    await page.page.wait_for_selector("#conn[data-state=live]", timeout=WAIT_MS)


async def shot(page: Confined, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    await page.page.screenshot(path=str(SHOTS / f"{name}.png"))


async def test_sign_in_shows_chengdu_on_the_map(room: Room) -> None:
    async with confined_page(room.origin) as page:
        await page.page.set_viewport_size({"width": 1600, "height": 900})
        await sign_in(page, room.origin)
        # The base map's tiles came from our own server, with the token; the units from the store.
        await page.page.wait_for_function(
            "() => window.__commandpost.store.units.size > 50", timeout=WAIT_MS
        )
        await page.page.wait_for_timeout(1500)
        tiles = [u for u in page.requested if "/api/v1/tiles/roads/" in u]
        assert tiles, page.requested[:20]
        attribution = await page.page.inner_text(".maplibregl-ctrl-attrib")
        assert "OpenStreetMap" in attribution
        await shot(page, "signed-in")
        assert page.refused == [], page.refused
        assert await page.violations() == []
        print(page.console)
