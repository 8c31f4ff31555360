"""The command room in Debian's Chromium (Playwright), against a real server on the Chengdu data: the issue's proof
list, in order (each test builds on the city the earlier ones left). Screenshots go to
tests/web/browser/screenshots/ (git-ignored); the best are copied into docs/ by hand for the README."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.browser import Confined, confined_page
from tests.web.browser.conftest import PASSWORD, SHOTS, Room

WAIT_MS = 10_000
VIEW = {"width": 1600, "height": 900}
# Several incidents of different grades and categories across the centre of Chengdu.
REPORTS = [
    ("锦江区春熙路一化工仓库发生爆炸，已造成35人死亡", 104.0810, 30.6560),
    ("金牛区一居民楼发生火灾，造成12人死亡", 104.0450, 30.6900),
    ("一环路发生重大道路交通事故，造成4人死亡", 104.0700, 30.6750),
    ("武侯区一学校食堂发生食物中毒，60人中毒送医", 104.0430, 30.6420),
    ("成华区建设路发生群体性斗殴事件，5人受伤", 104.1020, 30.6700),
    ("青羊区暴雨导致内涝，转移安置群众1200人", 104.0550, 30.6680),
]


def report(text: str, lon: float, lat: float, **extra: Any) -> dict[str, Any]:
    return {"description": text, "location": {"type": "Point", "coordinates": [lon, lat]}, **extra}


async def create(room: Room, text: str, lon: float, lat: float) -> dict[str, Any]:
    made = await room.api.post("/api/v1/incidents", json=report(text, lon, lat))
    assert made.status_code == 201, made.text
    return dict(made.json())


async def sign_in(page: Confined, origin: str, username: str = "room.cmd", lang: str = "en") -> None:
    await page.page.set_viewport_size(VIEW)
    # A fresh browser starts in ``lang``; a choice made on the page then stays (the script runs on every load).
    await page.page.add_init_script(
        f"if (!localStorage.getItem('commandpost.lang')) localStorage.setItem('commandpost.lang', '{lang}')"
    )
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


async def map_has_incident(page: Confined, incident_id: int, timeout: int = WAIT_MS) -> None:
    await page.page.wait_for_function(
        "id => window.__commandpost.map.incidentIds().includes(id)", arg=incident_id, timeout=timeout
    )


def clean(page: Confined) -> None:
    """Nothing from another origin, no policy violation, no script error."""
    assert page.refused == [], page.refused
    errors = [m for m in page.console if "Uncaught" in m or "TypeError" in m or "ReferenceError" in m]
    assert errors == [], errors


async def test_sign_in_shows_chengdu_on_the_map(room: Room) -> None:
    login = await room.api.get("/login")
    assert 'autocomplete="username"' in login.text and 'autocomplete="current-password"' in login.text
    async with confined_page(room.origin) as page:
        await sign_in(page, room.origin)
        await page.page.wait_for_function("() => window.__commandpost.store.units.size > 50", timeout=WAIT_MS)
        await page.page.wait_for_function("() => window.__commandpost.map.loaded()", timeout=WAIT_MS)
        # The base map's tiles came from our own server (with the token: a 401 would leave the roads out).
        assert [u for u in page.requested if "/api/v1/tiles/roads/" in u]
        assert [u for u in page.requested if "/api/v1/tiles/jurisdictions/" in u]
        units = await page.page.evaluate("() => window.__commandpost.store.units.size")
        listed = (await room.api.get("/api/v1/resources?status=available&limit=1")).json()["total"]
        assert units >= listed > 50
        assert "OpenStreetMap" in await page.page.inner_text(".maplibregl-ctrl-attrib")
        assert await page.violations() == []
        clean(page)


async def test_incidents_flow_from_api_to_board_map_panel_and_dispatch(room: Room) -> None:
    async with confined_page(room.origin) as page:
        await sign_in(page, room.origin)
        made, seen_s = [], []
        for text, lon, lat in REPORTS:
            posted = time.monotonic()
            incident = await create(room, text, lon, lat)
            made.append(incident)
            await page.page.wait_for_selector(f'.board-row[data-id="{incident["id"]}"]', timeout=WAIT_MS)
            await map_has_incident(page, incident["id"])
            seen_s.append(time.monotonic() - posted)
        # Measured, not asserted (the issue asks 2 s; a test asserts no timing): printed for the run's log.
        print(f"API answer → board and map: max {max(seen_s):.2f} s over {len(seen_s)} incidents")
        grades = {i["grade"]["level"] for i in made}
        assert len(grades) >= 3, grades
        rows = await page.page.eval_on_selector_all(".board-row", "rows => rows.map(r => r.dataset.grade)")
        rank = {"I": 0, "II": 1, "III": 2, "IV": 3, "none": 4}
        assert [rank[g] for g in rows] == sorted(rank[g] for g in rows), rows  # grade I first
        await page.page.wait_for_timeout(800)  # the map's icons drawn
        await shot(page, "command-room")

        # Select the graded explosion: classification, grade rule and matched plans.
        first = made[0]
        await page.page.click(f'.board-row[data-id="{first["id"]}"]')
        await page.page.wait_for_selector(".panel-rule", timeout=WAIT_MS)
        assert first["grade"]["rule_id"] in await page.page.inner_text(".panel-rule")
        assert "Accident" in await page.page.inner_text(".panel-category")
        await page.page.wait_for_selector(".plans .plan", timeout=WAIT_MS)
        assert first["plan_matches"], "the explosion matches a plan"
        plan_name = first["plan_matches"][0]["name_en"] or first["plan_matches"][0]["name"]
        assert plan_name in await page.page.inner_text(".plans")
        await page.page.wait_for_timeout(500)
        await shot(page, "incident-panel")

        # Activate: tasks and recommendations appear.
        await page.page.click(".plans .activate >> nth=0")
        await page.page.wait_for_selector(".tasks .task", timeout=WAIT_MS)
        await page.page.wait_for_selector(".recs .rec", timeout=WAIT_MS)
        await page.page.click(".tasks .task-done >> nth=0")  # a task done from the panel
        await page.page.wait_for_selector(".tasks .task:has-text('· done')", timeout=WAIT_MS)
        recommended = await room.api.get(f"/api/v1/incidents/{first['id']}/recommendations")
        unit_id = recommended.json()["requirements"][0]["units"][0]["unit_id"]
        assert await page.page.evaluate(f"() => window.__commandpost.map.unitIcon({unit_id})") == (
            await page.page.evaluate(f"() => window.__commandpost.map.unitIcon({unit_id})")
        )
        before = await page.page.evaluate(f"() => window.__commandpost.map.unitIcon({unit_id})")
        assert before.endswith(":available"), before

        # Dispatch the first recommended unit: its status changes on the map, the incident's on the board.
        await page.page.click(".recs .dispatch-one >> nth=0")
        await page.page.wait_for_function(
            f"() => (window.__commandpost.map.unitIcon({unit_id}) || '').endsWith(':dispatched')", timeout=WAIT_MS
        )
        await page.page.wait_for_selector(f'.board-row[data-id="{first["id"]}"][data-status=responding]')
        await page.page.wait_for_selector(".dispatches .dispatch", timeout=WAIT_MS)
        await shot(page, "dispatched")

        # Nobody acknowledges (deadlines of 2 s here): the escalation arrives as a toast and stays in the list.
        await page.page.wait_for_selector(".toast.warn", timeout=20_000)
        await page.page.click("#esc-toggle")
        await page.page.wait_for_selector("#escalations .escalation", timeout=WAIT_MS)
        await shot(page, "escalations")
        room.notes["incident"] = first["id"]
        clean(page)


async def test_socket_dropped_then_caught_up_without_reload_or_duplicates(room: Room) -> None:
    async with confined_page(room.origin) as page:
        await sign_in(page, room.origin)
        await page.page.evaluate("() => { window.sameDocument = true; }")
        room.proxy.block()  # every connection through the proxy cut, new ones refused: the server never notices
        await page.page.wait_for_selector("#conn[data-state=reconnecting]", timeout=WAIT_MS)
        assert "reconnecting, last update" in await page.page.inner_text("#conn")
        await shot(page, "reconnecting")
        away = await create(room, "高新区一工地塔吊倒塌，2人被困", 104.0650, 30.6400)
        await page.page.wait_for_timeout(1500)
        assert await page.page.query_selector(f'.board-row[data-id="{away["id"]}"]') is None
        room.proxy.unblock()
        await page.page.wait_for_selector("#conn[data-state=live]", timeout=30_000)
        await page.page.wait_for_selector(f'.board-row[data-id="{away["id"]}"]', timeout=WAIT_MS)
        assert await page.page.evaluate("() => window.sameDocument") is True  # no reload
        ids = await page.page.eval_on_selector_all(".board-row", "rows => rows.map(r => r.dataset.id)")
        assert len(ids) == len(set(ids)), ids
        stats = await page.page.evaluate("() => window.__commandpost.store.stats")
        assert stats["reconnects"] >= 1
        clean(page)


def cap_message(identifier: str, msg_type: str = "Alert", references: str | None = None) -> bytes:
    """A red rainstorm warning over central Chengdu as a CAP 1.2 message (a polygon, closed)."""
    ring = "30.63,104.03 30.63,104.10 30.69,104.10 30.69,104.03 30.63,104.03"
    refs = f"<references>{references}</references>" if references else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier><sender>cma@example.cn</sender><sent>2026-12-07T10:00:00+08:00</sent>
  <status>Actual</status><msgType>{msg_type}</msgType><scope>Public</scope>{refs}
  <info><language>zh-CN</language><category>Met</category><event>暴雨红色预警</event>
    <urgency>Immediate</urgency><severity>Extreme</severity><certainty>Likely</certainty>
    <expires>2099-12-31T00:00:00+08:00</expires><headline>成都市暴雨红色预警</headline>
    <area><areaDesc>成都中心城区</areaDesc><polygon>{ring}</polygon></area></info>
</alert>""".encode()


async def test_a_warning_is_drawn_when_issued_and_leaves_when_cancelled(room: Room) -> None:
    async with confined_page(room.origin) as page:
        await sign_in(page, room.origin)
        await page.page.wait_for_function("() => window.__commandpost.map.loaded()", timeout=WAIT_MS)
        headers = {"Content-Type": "application/cap+xml"}
        issued = await room.api.post("/api/v1/cap", content=cap_message("room-rain-1"), headers=headers)
        assert issued.status_code == 201, issued.text
        warning_id = issued.json()["items"][0]["id"]
        await page.page.wait_for_function(
            "id => window.__commandpost.map.warningIds().includes(id)", arg=warning_id, timeout=WAIT_MS
        )
        # Listed beside the board too, and a click brings its area into view.
        listed = page.page.locator(f'#warnings .warning[data-id="{warning_id}"]')
        await listed.wait_for(timeout=WAIT_MS)
        assert "Red" in await listed.inner_text() or "红色" in await listed.inner_text()
        before = await page.page.evaluate("() => window.__commandpost.map.view()")
        await listed.click()
        await page.page.wait_for_function("b => window.__commandpost.map.view() !== b", arg=before, timeout=WAIT_MS)
        await shot(page, "warning")
        cancel = cap_message("room-rain-2", "Cancel", "cma@example.cn,room-rain-1,2026-12-07T10:00:00+08:00")
        cancelled = await room.api.post("/api/v1/cap", content=cancel, headers=headers)
        assert cancelled.status_code in (200, 201), cancelled.text
        await page.page.wait_for_function(
            "id => !window.__commandpost.map.warningIds().includes(id)", arg=warning_id, timeout=WAIT_MS
        )
        await listed.wait_for(state="detached", timeout=WAIT_MS)
        clean(page)


async def test_language_switch_changes_the_labels(room: Room) -> None:
    async with confined_page(room.origin) as page:
        await sign_in(page, room.origin, lang="en")
        assert await page.page.inner_text(".topbar h1") == "Emergency Command Room"
        assert await page.page.inner_text("#board-title") == "Incidents"
        await page.page.click("#lang-toggle")
        assert await page.page.inner_text(".topbar h1") == "应急指挥中心"
        assert await page.page.inner_text("#board-title") == "事件"
        assert "实时" in await page.page.inner_text("#conn")
        incident = room.notes.get("incident")
        if incident is not None:
            await page.page.click(f'.board-row[data-id="{incident}"]')
            await page.page.wait_for_selector(".panel-rule", timeout=WAIT_MS)
            assert "事故灾难" in await page.page.inner_text(".panel-category")
        await page.page.wait_for_timeout(800)
        await shot(page, "command-room-zh")
        # Remembered: a new page load stays in Chinese.
        await page.page.reload()
        await page.page.wait_for_selector("#conn[data-state=live]", timeout=WAIT_MS)
        assert await page.page.inner_text(".topbar h1") == "应急指挥中心"
        clean(page)


async def test_observer_sees_everything_and_no_write_buttons(room: Room) -> None:
    async with confined_page(room.origin) as page:
        await sign_in(page, room.origin, username="room.obs")
        rows = await page.page.query_selector_all(".board-row")
        assert rows
        await rows[0].click()
        await page.page.wait_for_selector(".panel-rule", timeout=WAIT_MS)
        await page.page.wait_for_timeout(700)  # the panel's parts loaded
        assert await page.page.query_selector_all("[data-write]") == []
        assert await page.page.query_selector_all(".activate, .dispatch-one, .dispatch-all") == []
        clean(page)


async def test_a_field_user_is_sent_to_the_field_page(room: Room) -> None:
    async with confined_page(room.origin) as page:
        await page.page.goto(room.origin + "/login")
        await page.page.fill("input[autocomplete=username]", "room.field")
        await page.page.fill("input[autocomplete=current-password]", PASSWORD)
        await page.page.click("#login-submit")
        await page.page.wait_for_url(room.origin + "/field")


async def test_keyboard_moves_along_the_board_and_opens(room: Room) -> None:
    async with confined_page(room.origin) as page:
        await sign_in(page, room.origin)
        await page.page.focus("#board-list")
        await page.page.keyboard.press("ArrowDown")
        await page.page.keyboard.press("ArrowDown")
        focused = await page.page.evaluate("() => document.activeElement.dataset.id")
        assert focused is not None
        await page.page.keyboard.press("Enter")
        await page.page.wait_for_selector("#panel:not([hidden]) .panel-rule", timeout=WAIT_MS)
        await page.page.keyboard.press("Escape")
        assert await page.page.is_hidden("#panel")


async def test_renewal_mid_shift_and_a_revoked_session_returns_here_after_sign_in(room: Room) -> None:
    async with confined_page(room.origin) as page:
        await sign_in(page, room.origin)
        await page.page.goto(room.origin + "/?wall=1")
        await page.page.wait_for_selector("#conn[data-state=live]", timeout=WAIT_MS)
        assert await page.page.evaluate("() => document.body.classList.contains('wall')")
        if "incident" in room.notes:  # the escalation the dispatch test left unhandled is listed after a new load
            await page.page.wait_for_selector("#esc-toggle:not([data-count='0'])", timeout=WAIT_MS)
        await page.page.wait_for_timeout(800)
        await shot(page, "wall-screen")
        # Renewed twice (each refresh token good once, rotated by the cookie): the page goes on working.
        cookies = []
        for _ in range(2):
            assert (await page.page.evaluate("() => window.__commandpost.renew()")).count(".") == 2  # a JWT
            cookies.append(next(c["value"] for c in await page.page.context.cookies() if c["name"] == "cp_refresh"))
        assert cookies[0] != cookies[1]
        made = await create(room, "天府广场发现可疑包裹", 104.0657, 30.6574)
        await page.page.wait_for_selector(f'.board-row[data-id="{made["id"]}"]', timeout=WAIT_MS)
        # Signed out elsewhere (the session revoked): the next renewal sends the person to sign in, then back here.
        await page.page.evaluate("() => fetch('/api/v1/auth/logout', { method: 'POST' })")
        await page.page.evaluate("() => window.__commandpost.renew().catch(() => null)")
        await page.page.wait_for_url("**/login?next=%2F%3Fwall%3D1", timeout=WAIT_MS)
        await page.page.fill("input[autocomplete=username]", "room.cmd")
        await page.page.fill("input[autocomplete=current-password]", PASSWORD)
        await page.page.click("#login-submit")
        await page.page.wait_for_url(room.origin + "/?wall=1")
        await page.page.wait_for_selector("#conn[data-state=live]", timeout=WAIT_MS)


async def test_a_reload_keeps_the_trails_of_units_out_on_a_job(room: Room) -> None:
    """The trail of a unit on its way is drawn from its stored fixes when the page loads, not only from the moves
    seen live since."""
    report = {
        "description": "成华区建设路一商铺起火，1人受伤",
        "location": {"type": "Point", "coordinates": [104.10, 30.68]},
    }
    made = await room.api.post("/api/v1/incidents", json=report)
    assert made.status_code == 201, made.text
    incident = made.json()["id"]
    advice = (await room.api.get(f"/api/v1/incidents/{incident}/recommendations?type=fire_engine&count=1")).json()
    unit_id = advice["items"][0]["unit_id"]
    sent = await room.api.post(f"/api/v1/incidents/{incident}/dispatches", json={"unit_ids": [unit_id]})
    assert sent.status_code == 201, sent.text
    unit = (await room.api.get(f"/api/v1/resources/{unit_id}")).json()
    lon, lat = unit["location"]["coordinates"]
    # Three fixes towards the fire, observed a few seconds apart, 50 minutes ago: within the trail's hour, and older
    # than any fix a later test of this package sends for the same unit (which would otherwise arrive out of order).
    for step in range(1, 4):
        at = (datetime.now(UTC) - timedelta(minutes=50) + timedelta(seconds=step * 5)).isoformat()
        fix = {"type": "Point", "coordinates": [lon + step * 0.0004, lat + step * 0.0003], "at": at}
        answer = await room.api.post(f"/api/v1/units/{unit_id}/location", json=fix)
        assert answer.status_code == 200 and answer.json()["fix"]["trusted"], answer.text
    async with confined_page(room.origin) as page:
        await sign_in(page, room.origin)
        await page.page.wait_for_function(
            "id => (window.__commandpost.store.tracks.get(id) || []).length >= 3", arg=unit_id, timeout=WAIT_MS
        )
        trail = await page.page.evaluate("id => window.__commandpost.store.tracks.get(id)", unit_id)
        assert trail[-1] == pytest.approx([lon + 0.0012, lat + 0.0009])  # oldest first, the newest last
        clean(page)
    await room.api.post(f"/api/v1/units/{unit_id}/status", json={"status": "available"})
