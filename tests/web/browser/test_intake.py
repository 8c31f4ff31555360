"""The intake page in Debian's Chromium (Playwright), against the real server on the Chengdu data (the package's
``room``): the officer types a Chinese report and sees the preview change, corrects the subtype, places it, sends it
and the command room (another browser) shows it; a duplicate is offered and taken as a note; a double click makes one
incident; the half-typed form survives a reload and an expired session. Screenshots of the form mid-typing, in
Chinese and English, go to tests/web/browser/screenshots/."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.browser import Confined, confined_page
from tests.web.browser.conftest import PASSWORD, Room
from tests.web.browser.test_room import WAIT_MS, clean, create, shot, sign_in

VIEW = {"width": 1440, "height": 900}
# Places of their own, away from the incidents the room's tests make (a duplicate must be one this test made).
NORTH = (104.0712, 30.7018)
EAST = (104.0900, 30.6580)
WEST = (104.0128, 30.6601)
SOUTH = (104.0600, 30.6630)

# The package's city (the Chengdu extract imported, a server started) is built in the first test's setup, which the
# timeout counts too; two browsers drawing maps in software on a shared 2-core machine need more than the default.
pytestmark = pytest.mark.timeout(400)


async def open_intake(page: Confined, origin: str, lang: str = "zh") -> None:
    """Sign in on the way to /intake (the login page sends the officer back there)."""
    await page.page.set_viewport_size(VIEW)
    await page.page.add_init_script(
        f"if (!localStorage.getItem('commandpost.lang')) localStorage.setItem('commandpost.lang', '{lang}')"
    )
    await page.page.goto(origin + "/intake")
    await page.page.wait_for_url("**/login?next=*")
    await page.page.fill("input[autocomplete=username]", "room.cmd")
    await page.page.fill("input[autocomplete=current-password]", PASSWORD)
    await page.page.click("#login-submit")
    await page.page.wait_for_url(origin + "/intake")
    await page.page.wait_for_selector("#who:not(:empty)", timeout=WAIT_MS)


async def type_more(page: Confined, text: str) -> None:
    """Type at the end of the report box, key by key, as an officer does."""
    await page.page.focus("#report")
    await page.page.keyboard.press("End")
    await page.page.keyboard.type(text, delay=15)


async def preview(page: Confined, attribute: str, value: str) -> None:
    await page.page.wait_for_selector(f"#preview[data-{attribute}='{value}']", timeout=WAIT_MS)


async def place_by_lonlat(page: Confined, lon: float, lat: float) -> None:
    await page.page.fill("#lonlat", f"{lon},{lat}")
    await page.page.press("#lonlat", "Enter")
    await page.page.wait_for_function("() => window.__intake.draft().location !== null", timeout=WAIT_MS)


async def map_settled(page: Confined) -> None:
    """The map has drawn what it was asked to (for a screenshot)."""
    await page.page.wait_for_function("() => window.__intake.mapReady()", timeout=WAIT_MS)
    await page.page.evaluate("() => new Promise((done) => window.__intake.idle(done))")


async def sent_id(page: Confined) -> int:
    await page.page.wait_for_selector("#notice:not([hidden]) a", timeout=WAIT_MS)
    return int((await page.page.inner_text("#notice a")).strip().lstrip("#"))


async def test_a_chinese_report_from_typing_to_the_command_room(room: Room) -> None:
    async with confined_page(room.origin) as watch, confined_page(room.origin) as page:
        await sign_in(watch, room.origin, lang="zh")
        await open_intake(page, room.origin, lang="zh")
        assert "OpenStreetMap" in await page.page.inner_text(".maplibregl-ctrl-attrib")

        await type_more(page, "东门大桥附近一居民楼")
        await page.page.wait_for_function("() => window.__intake.preview() !== null", timeout=WAIT_MS)
        await type_more(page, "发生火灾")
        await preview(page, "subtype", "building_fire")
        assert await page.page.get_attribute("#preview", "data-level") == ""
        await type_more(page, "，已造成3人死亡，12人受伤")
        await page.page.wait_for_function(
            "() => document.querySelector('#preview').dataset.level !== ''", timeout=WAIT_MS
        )
        assert "3" in await page.page.inner_text("#preview-facts")
        assert (await page.page.inner_text("#preview-rule")).strip()
        await page.page.fill("#address", "东门大桥与滨江东路交叉口北侧")
        await place_by_lonlat(page, *NORTH)
        await page.page.fill("#caller-name", "李女士")
        await page.page.fill("#caller-phone", "138 0013 8000")
        await map_settled(page)
        await shot(page, "intake-zh-typing")

        # The officer knows better: a gas explosion, not a fire. The preview follows the correction.
        await page.page.select_option("#subtype", "explosion")
        await preview(page, "subtype", "explosion")
        assert "已人工修正" in await page.page.inner_text("#preview-subtype")

        await page.page.click("#submit")
        incident_id = await sent_id(page)
        # The command room, another browser, has it within 2 s, with the address as the officer typed it.
        await watch.page.wait_for_function(
            "id => window.__commandpost.store.incidents.has(id)", arg=incident_id, timeout=2000
        )
        seen = await watch.page.evaluate("id => window.__commandpost.store.incidents.get(id)", incident_id)
        assert seen["address_text"] == "东门大桥与滨江东路交叉口北侧"
        assert seen["subtype"] == "explosion" and seen["location"]["coordinates"] == list(NORTH)
        assert "李女士" not in str(seen)
        caller = (await room.api.get(f"/api/v1/incidents/{incident_id}/caller")).json()
        assert (caller["name"], caller["phone_display"]) == ("李女士", "+86 138 0013 8000")
        # The room's panel for it (the intake's link, /?incident=ID) shows the address as typed.
        await watch.page.goto(f"{room.origin}/?incident={incident_id}")
        # (read in one go: the panel redraws as the store changes)
        await watch.page.wait_for_function(
            "t => document.querySelector('#panel .panel-address')?.textContent === t",
            arg="东门大桥与滨江东路交叉口北侧",
            timeout=WAIT_MS,
        )
        # Sent: the form and its draft are empty again.
        assert await page.page.input_value("#report") == ""
        assert await page.page.evaluate("() => localStorage.getItem('commandpost.intake.draft')") is None
        clean(page)
        clean(watch)


async def test_the_english_form_mid_typing(room: Room) -> None:
    async with confined_page(room.origin) as page:
        await open_intake(page, room.origin, lang="en")
        await type_more(page, "A truck overturned on the Second Ring Road, 2 people dead and 5 injured")
        await preview(page, "subtype", "road_traffic")
        await page.page.fill("#address", "Second Ring Road, near Shuangqiao Road")
        await place_by_lonlat(page, *SOUTH)
        await page.page.fill("#caller-phone", "+86 28 8555 1234")
        await map_settled(page)
        await shot(page, "intake-en-typing")
        assert "Grade" in await page.page.inner_text("#preview")
        # No location, no sending: the form says so first.
        await page.page.click("#clear")
        await type_more(page, "Smoke from a warehouse roof")
        await page.page.click("#submit")
        await page.page.wait_for_selector("#form-error:not([hidden])", timeout=WAIT_MS)
        assert "No location" in await page.page.inner_text("#form-error")
        assert "No location" in await page.page.inner_text("#where")
        clean(page)


async def test_a_duplicate_is_offered_and_taken_as_a_note(room: Room) -> None:
    original = await create(room, "建设北路一商场起火，1人受伤", *EAST)
    async with confined_page(room.origin) as page:
        await open_intake(page, room.origin, lang="zh")
        await type_more(page, "建设北路商场着火了，浓烟很大")
        await preview(page, "subtype", "building_fire")
        await place_by_lonlat(page, EAST[0] + 0.0005, EAST[1])
        await page.page.wait_for_selector("#duplicate:not([hidden])", timeout=WAIT_MS)
        link = await page.page.get_attribute("#duplicate-link", "href")
        assert link == f"/?incident={original['id']}"
        await map_settled(page)
        await shot(page, "intake-zh-duplicate")
        await page.page.click("#add-note")
        await page.page.wait_for_selector("#notice:not([hidden])", timeout=WAIT_MS)
        assert f"#{original['id']}" in await page.page.inner_text("#notice")
        # The link leads to the incident in the command room, its note on the timeline.
        await page.page.goto(f"{room.origin}/?incident={original['id']}")
        await page.page.wait_for_function(
            "t => document.querySelector('#panel .timeline .note-text')?.textContent === t",
            arg="建设北路商场着火了，浓烟很大",
            timeout=WAIT_MS,
        )
        clean(page)
    timeline = (await room.api.get(f"/api/v1/incidents/{original['id']}/timeline")).json()["items"]
    notes = [e for e in timeline if e["kind"] == "note"]
    assert [(n["actor"], n["data"]["text"]) for n in notes] == [("room.cmd", "建设北路商场着火了，浓烟很大")]


# The page's own api() (the same module instance, so the same session), posting one body twice at once with one key.
RESEND = """async ({ text, at }) => {
    const src = document.querySelector('script[type=module]').src.replace('intake.js', 'auth.js');
    const { api } = await import(src);
    const body = { description: text, location: { type: 'Point', coordinates: at } };
    const headers = { 'Idempotency-Key': 'intake-test-double' };
    const both = await Promise.all([1, 2].map(() => api('/api/v1/incidents', { method: 'POST', body, headers })));
    return both.map((i) => i.id);
}"""


async def _incidents_saying(room: Room, text: str) -> list[dict[str, Any]]:
    listed = (await room.api.get("/api/v1/incidents", params={"limit": 200})).json()["items"]
    return [i for i in listed if i["description"] == text]


async def test_a_double_click_makes_one_incident(room: Room) -> None:
    text = "府河边一处工地脚手架倒塌，2人被困"
    async with confined_page(room.origin) as page:
        await open_intake(page, room.origin, lang="zh")
        await type_more(page, text)
        await page.page.wait_for_function("() => window.__intake.preview() !== null", timeout=WAIT_MS)
        await place_by_lonlat(page, *WEST)
        await page.page.dblclick("#submit")
        await sent_id(page)
        # And the key itself: the same body sent twice at once, as a slow network's retry would, is one incident.
        key_made = await page.page.evaluate(RESEND, {"text": "府河边脚手架倒塌（重发）", "at": list(WEST)})
        clean(page)
    assert len(await _incidents_saying(room, text)) == 1
    assert key_made[0] == key_made[1]
    assert len(await _incidents_saying(room, "府河边脚手架倒塌（重发）")) == 1


async def test_the_half_typed_form_survives_a_reload_and_an_expired_session(room: Room) -> None:
    async with confined_page(room.origin) as page:
        await open_intake(page, room.origin, lang="zh")
        await type_more(page, "天府广场地铁站内有人晕倒")
        await page.page.fill("#address", "天府广场地铁站B口")
        await page.page.fill("#caller-phone", "028-8888 8888")
        await page.page.check("#callback")
        await page.page.wait_for_function("() => window.__intake.mapReady()", timeout=WAIT_MS)
        box = await page.page.locator("#map").bounding_box()
        assert box is not None
        await page.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        await page.page.wait_for_function("() => window.__intake.draft().location !== null", timeout=WAIT_MS)
        assert "地图选点" in await page.page.inner_text("#where")
        placed = await page.page.evaluate("() => window.__intake.draft().location")

        await page.page.reload()
        await page.page.wait_for_selector("#who:not(:empty)", timeout=WAIT_MS)
        assert await page.page.input_value("#report") == "天府广场地铁站内有人晕倒"
        assert await page.page.input_value("#address") == "天府广场地铁站B口"
        assert await page.page.input_value("#caller-phone") == "028-8888 8888"
        assert await page.page.is_checked("#callback")
        assert await page.page.evaluate("() => window.__intake.draft().location") == placed
        await page.page.wait_for_function("() => window.__intake.preview() !== null", timeout=WAIT_MS)

        # The session ends (its refresh cookie is gone): the next load signs in again and comes back to the draft.
        await page.page.context.clear_cookies()
        await page.page.reload()
        await page.page.wait_for_url("**/login?next=*")
        await page.page.fill("input[autocomplete=username]", "room.cmd")
        await page.page.fill("input[autocomplete=current-password]", PASSWORD)
        await page.page.click("#login-submit")
        await page.page.wait_for_url(room.origin + "/intake")
        await page.page.wait_for_selector("#who:not(:empty)", timeout=WAIT_MS)
        assert await page.page.input_value("#report") == "天府广场地铁站内有人晕倒"
        assert await page.page.is_checked("#callback")
        await page.page.click("#submit")
        incident_id = await sent_id(page)
        clean(page)
    made = (await room.api.get(f"/api/v1/incidents/{incident_id}")).json()
    assert (made["address_text"], made["callback_requested"]) == ("天府广场地铁站B口", True)
