"""The intake page's place search against ``GET /api/v1/places`` on the Chengdu extract: the officer finds 春熙路 by
typing its pinyin, picks it from the keyboard, and the address stays as typed. (Needs the place search of branch
h-places: run on the merged tree.)"""

from __future__ import annotations

import pytest

from tests.support.browser import confined_page
from tests.web.browser.conftest import Room
from tests.web.browser.test_intake import open_intake, sent_id, type_more
from tests.web.browser.test_room import WAIT_MS, clean, shot

# The package's city (the Chengdu extract imported, a server started) is built in the first test's setup, which the
# timeout counts too; two browsers drawing maps in software on a shared 2-core machine need more than the default.
pytestmark = pytest.mark.timeout(400)


async def test_a_place_found_by_pinyin_and_picked_from_the_keyboard(room: Room) -> None:
    async with confined_page(room.origin) as page:
        await open_intake(page, room.origin, lang="zh")
        await type_more(page, "春熙路步行街一家餐馆厨房起火，有人被困")
        await page.page.focus("#address")
        await page.page.keyboard.type("chunxilu", delay=20)
        await page.page.wait_for_selector("#places li", timeout=WAIT_MS)
        names = await page.page.locator("#places li").all_inner_texts()
        assert any("春熙路" in n for n in names), names
        index = next(i for i, n in enumerate(names) if "春熙路" in n)
        await shot(page, "intake-zh-places")
        for _ in range(index):
            await page.page.keyboard.press("ArrowDown")
        await page.page.keyboard.press("Enter")
        await page.page.wait_for_function("() => window.__intake.draft().location !== null", timeout=WAIT_MS)
        assert "春熙路" in await page.page.inner_text("#where")
        assert await page.page.input_value("#address") == "chunxilu", "the address stays as typed"
        picked = await page.page.evaluate("() => window.__intake.draft().location")
        await page.page.keyboard.press("Control+Enter")
        incident_id = await sent_id(page)
        clean(page)
    made = (await room.api.get(f"/api/v1/incidents/{incident_id}")).json()
    assert made["address_text"] == "chunxilu"
    assert made["location"]["coordinates"] == [picked["lon"], picked["lat"]]
    assert made["jurisdiction"] is not None
