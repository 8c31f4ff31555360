"""The field page in Debian's Chromium on a phone-sized touch screen (360×740), against the served Chengdu city of
this package's ``room`` fixture: the issue's proof list, in order (each test builds on what the earlier left: unit 1,
the crew ``room.field``'s, is dispatched, acknowledged, on scene, recalled and sent again). A second browser
context is the command room. Screenshots go to tests/web/browser/screenshots/."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.support import images
from tests.support.browser import CHROMIUM, Confined
from tests.web.browser.conftest import PASSWORD, SHOTS, Room
from tests.web.browser.test_room import WAIT_MS, sign_in

PHONE = {"width": 360, "height": 740}
HERE = {"longitude": 104.0560, "latitude": 30.6650, "accuracy": 12}
SCENE = (104.0640, 30.6590)


@dataclass
class Phone:
    """The crew's phone: a page in a mobile, touch, geolocated context confined to the service's origin."""

    context: Any
    page: Any
    origin: str
    refused: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    async def open(self) -> Any:
        self.page = await self.context.new_page()
        self.page.on("console", lambda m: self.console.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.console.append(str(e)))
        return self.page

    def clean(self) -> None:
        assert self.refused == [], self.refused
        errors = [m for m in self.console if "Uncaught" in m or "TypeError" in m or "ReferenceError" in m]
        assert errors == [], errors


@asynccontextmanager
async def phone(origin: str, lang: str = "zh") -> AsyncIterator[tuple[Phone, Any]]:
    """A phone and, in the same browser, a second context for the command room."""
    from playwright import async_api

    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        try:
            context = await browser.new_context(
                viewport=PHONE,
                is_mobile=True,
                has_touch=True,
                geolocation=HERE,
                permissions=["geolocation", "notifications"],
                locale="zh-CN" if lang == "zh" else "en-GB",
                service_workers="allow",
            )
            device = Phone(context, None, origin)

            async def only_origin(route: Any) -> None:
                if route.request.url.startswith(origin + "/"):
                    await route.continue_()
                else:
                    device.refused.append(route.request.url)
                    await route.abort()

            await context.route("**/*", only_origin)
            await context.add_init_script(
                f"if (!localStorage.getItem('commandpost.lang')) localStorage.setItem('commandpost.lang', '{lang}')"
            )
            await device.open()
            yield device, browser
        finally:
            await browser.close()


async def sign_in_phone(device: Phone) -> None:
    page = device.page
    await page.goto(device.origin + "/login")
    await page.fill("input[autocomplete=username]", "room.field")
    await page.fill("input[autocomplete=current-password]", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_url(device.origin + "/field")
    await page.wait_for_selector("#conn[data-state=live]", timeout=WAIT_MS)


async def snap(page: Any, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"))


async def dispatch_unit(room: Room, title: str, address: str) -> tuple[int, int]:
    report = {
        "description": f"{title}，3人被困",
        "title": title,
        "address_text": address,
        "location": {"type": "Point", "coordinates": list(SCENE)},
    }
    made = await room.api.post("/api/v1/incidents", json=report)
    assert made.status_code == 201, made.text
    incident = made.json()["id"]
    sent = await room.api.post(f"/api/v1/incidents/{incident}/dispatches", json={"unit_ids": [room.field_unit]})
    assert sent.status_code == 201, sent.text
    return incident, sent.json()["items"][0]["id"]


async def free_unit(room: Room) -> None:
    """Unit 1 back to available (its open dispatch, if any, ends), as the room's next test expects the city."""
    unit = (await room.api.get(f"/api/v1/resources/{room.field_unit}")).json()
    if unit["status"] != "available":
        done = await room.api.post(f"/api/v1/units/{room.field_unit}/status", json={"status": "available"})
        assert done.status_code == 200, done.text


async def language(page: Any, lang: str) -> None:
    """Switch the page's language (the button may be under the alert: clicked by script, as a test aid)."""
    if await page.evaluate("() => window.__field.lang()") != lang:
        await page.evaluate("() => document.getElementById('lang-toggle').click()")


async def timeline(room: Room, incident: int) -> list[dict[str, Any]]:
    got = await room.api.get(f"/api/v1/incidents/{incident}/timeline?limit=200")
    return list(got.json()["items"])


# --------------------------------------------------------------------------------------------------- the tests


async def test_the_field_page_is_installable(room: Room) -> None:
    """The page, its manifest and its worker as a browser finds them (the first test also waits for the city)."""
    page = await room.api.get("/field")
    assert page.status_code == 200 and 'rel="manifest" href="/field.webmanifest"' in page.text
    assert "geolocation=(self)" in page.headers["permissions-policy"]
    manifest = await room.api.get("/field.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    body = manifest.json()
    assert body["start_url"] == "/field" and body["display"] == "standalone"
    assert any(icon["sizes"] == "192x192" for icon in body["icons"])
    for icon in body["icons"]:
        assert (await room.api.get(icon["src"])).status_code == 200, icon
    worker = await room.api.get("/field-sw.js")
    assert (
        worker.headers["content-type"].startswith("text/javascript") and worker.headers["cache-control"] == "no-cache"
    )
    assert worker.headers["service-worker-allowed"] == "/" and "{{" not in worker.text
    assert "script-src 'self'" in worker.headers["content-security-policy"]


async def test_a_dispatch_alerts_until_acknowledged_and_the_room_sees_it(room: Room) -> None:
    await free_unit(room)
    async with phone(room.origin) as (device, browser):
        room_context = await browser.new_context()
        room_page = Confined(await room_context.new_page(), room.origin)
        await sign_in(room_page, room.origin)
        page = device.page
        await sign_in_phone(device)
        # On duty: the tap that lets the page make sound, and the location shared from then on.
        await page.tap("#f-duty")
        await page.wait_for_function(
            "([lon, lat]) => window.__field.state.position && Math.abs(window.__field.state.position.lon - lon) < 1e-6",
            arg=[HERE["longitude"], HERE["latitude"]],
            timeout=WAIT_MS,
        )
        for _ in range(50):  # the fix reaches the server (polled on the API, no timing asserted)
            unit = (await room.api.get(f"/api/v1/resources/{room.field_unit}")).json()
            if unit["location"]["coordinates"] == [HERE["longitude"], HERE["latitude"]]:
                break
            await page.wait_for_timeout(200)
        assert unit["location"]["coordinates"] == [HERE["longitude"], HERE["latitude"]], unit

        incident, dispatch = await dispatch_unit(room, "锦江区居民楼火灾", "锦江区东大街下东大街段88号3单元")
        await page.wait_for_selector("#f-alert:not([hidden])", timeout=WAIT_MS)
        assert "东大街下东大街段88号" in await page.inner_text("#f-alert-address")
        alarm = await page.evaluate("() => window.__field.alarm()")
        assert alarm["sounding"] and alarm["beeps"] >= 1 and alarm["audio"] == "running", alarm
        await page.wait_for_selector(".f-eta", timeout=WAIT_MS)  # distance and ETA by road, behind the banner
        await snap(page, "field-alert-zh")
        await language(page, "en")
        assert "Acknowledge" in await page.inner_text("#f-ack")
        await snap(page, "field-alert-en")

        # The command room (a second context, signed in first) opens the incident's panel before the crew acknowledges.
        await room_page.page.wait_for_selector(f'.board-row[data-id="{incident}"]', timeout=WAIT_MS)
        await room_page.page.click(f'.board-row[data-id="{incident}"]')
        await room_page.page.wait_for_selector(".dispatches .dispatch", timeout=WAIT_MS)
        assert await room_page.page.query_selector(".dispatches .dispatch.acked") is None

        await page.tap("#f-ack")
        await page.wait_for_selector("#f-alert", state="hidden", timeout=WAIT_MS)
        assert (await page.evaluate("() => window.__field.alarm()"))["sounding"] is False
        await page.wait_for_function("() => window.__field.queued().length === 0", timeout=WAIT_MS)
        await room_page.page.wait_for_selector(".dispatches .dispatch.acked", timeout=WAIT_MS)
        acked = (await room.api.get(f"/api/v1/dispatches/{dispatch}")).json()
        assert acked["acknowledged_by"] == "room.field"
        await page.wait_for_selector(".f-acked", timeout=WAIT_MS)
        await page.wait_for_selector("#f-map canvas", timeout=WAIT_MS)
        assert "OpenStreetMap" in await page.inner_text("#f-map")

        # A photo from the scene: sent from the phone, shown in the room's panel as a thumbnail.
        await page.set_input_files(
            "#f-photo-input", files=[{"name": "scene.png", "mimeType": "image/png", "buffer": images.png(gps=True)}]
        )
        await page.wait_for_function("() => document.getElementById('f-photo-state').textContent.includes('#')")
        await room_page.page.wait_for_selector(".photos img.photo-thumb[src^='blob:']", timeout=WAIT_MS)
        kept = (await room.api.get(f"/api/v1/incidents/{incident}/photos")).json()["items"]
        assert (
            len(kept) == 1 and kept[0]["unit_id"] == room.field_unit and kept[0]["location_kept"] is True
        )  # on duty: shared
        await room_context.close()
        device.clean()


async def test_offline_actions_arrive_once_in_order_with_their_times(room: Room) -> None:
    async with phone(room.origin) as (device, _):
        page = device.page
        await sign_in_phone(device)
        await page.wait_for_selector("#f-dispatch-body[data-dispatch]", timeout=WAIT_MS)
        incident = await page.evaluate("() => window.__field.state.incident.id")
        before = await timeline(room, incident)

        await device.context.set_offline(True)
        await page.wait_for_selector("#conn[data-state=reconnecting]", timeout=WAIT_MS)
        await page.tap("button[data-status=on_scene]")
        await page.fill("#f-note-text", "二楼仍有浓烟，已疏散12人")
        await page.tap("#f-note-add")
        queued = await page.evaluate("() => window.__field.queued()")
        assert [q["kind"] for q in queued] == ["status", "note"], queued
        assert len(await page.query_selector_all("#f-queue .f-queued")) == 2
        assert not await page.is_hidden("#f-offline")
        await page.eval_on_selector("#f-queue", "e => e.scrollIntoView({block: 'end'})")
        await snap(page, "field-offline-zh")
        await language(page, "en")
        await snap(page, "field-offline-en")
        unit = (await room.api.get(f"/api/v1/resources/{room.field_unit}")).json()
        assert unit["status"] == "dispatched", "nothing reached the server while offline"

        await device.context.set_offline(False)
        await page.wait_for_function("() => window.__field.queued().length === 0", timeout=WAIT_MS * 2)
        await page.wait_for_selector("#conn[data-state=live]", timeout=WAIT_MS * 2)
        after = (await timeline(room, incident))[len(before) :]
        mine = [e for e in after if e["kind"] in ("unit_status", "note")]
        assert [e["kind"] for e in mine] == ["unit_status", "note"], mine  # once each, in the order tapped
        assert mine[0]["data"]["to"] == "on_scene"
        tapped = [datetime.fromisoformat(q["body"]["at"].replace("Z", "+00:00")) for q in queued]
        assert datetime.fromisoformat(mine[0]["data"]["at"]) == tapped[0]
        assert datetime.fromisoformat(mine[1]["data"]["taken_at"]) == tapped[1]
        assert (await room.api.get(f"/api/v1/resources/{room.field_unit}")).json()["status"] == "on_scene"
        device.clean()


async def test_a_reload_shows_a_dispatch_made_while_the_page_was_closed(room: Room) -> None:
    async with phone(room.origin, lang="en") as (device, _):
        await sign_in_phone(device)
        await device.page.wait_for_function("() => localStorage.getItem('commandpost.field.last') !== null")
        await device.page.close()
        await free_unit(room)  # the last dispatch ends while the page is closed
        incident, dispatch = await dispatch_unit(room, "青羊区仓库起火", "青羊区西御街12号")

        page = await device.open()
        await page.goto(device.origin + "/field")
        await page.wait_for_selector("#f-alert:not([hidden])", timeout=WAIT_MS)
        assert "仓库起火" in await page.inner_text("#f-alert-title")
        missed = await page.inner_text("#f-missed")
        assert f"Dispatch #{dispatch}" in missed, missed
        assert await page.evaluate("() => window.__field.state.dispatch.id") == dispatch
        device.clean()


async def test_the_service_worker_serves_the_shell_offline_and_shows_a_push(room: Room) -> None:
    async with phone(room.origin) as (device, _):
        page = device.page
        await sign_in_phone(device)
        await page.wait_for_function(
            "async () => { const r = await navigator.serviceWorker.ready; return Boolean(r.active) }", timeout=WAIT_MS
        )
        await page.reload()  # now under the worker's control
        await page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=WAIT_MS)
        title = await page.evaluate("() => window.__field.state.incident && window.__field.state.incident.title")

        await device.context.set_offline(True)
        await page.reload()
        await page.wait_for_selector("#f-status .f-status-button", timeout=WAIT_MS)
        assert not await page.is_hidden("#f-offline"), "the page says it is offline"
        assert title and title in await page.inner_text("body"), "the last dispatch, from the page's own store"
        await device.context.set_offline(False)

        # A push message delivered to the worker (as a push service would) is shown as a notification.
        cdp = await device.context.new_cdp_session(page)
        registrations: list[dict[str, Any]] = []
        cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: registrations.extend(e["registrations"]))
        await cdp.send("ServiceWorker.enable")
        for _ in range(50):
            if registrations:
                break
            await page.wait_for_timeout(100)
        registration = next(r for r in registrations if not r.get("isDeleted"))
        message = {"title": "新派遣：测试推送", "body": "锦江区东大街88号", "incident_id": 1, "kind": "dispatch"}
        await cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": device.origin, "registrationId": registration["registrationId"], "data": json.dumps(message)},
        )
        shown: list[str] = []
        for _ in range(100):  # until the worker has shown it (the page asks its registration)
            shown = await page.evaluate(
                """async () => {
                    const r = await navigator.serviceWorker.ready;
                    return (await r.getNotifications()).map((x) => x.title + '|' + x.body);
                }"""
            )
            if shown:
                break
            await page.wait_for_timeout(100)
        assert "新派遣：测试推送|锦江区东大街88号" in shown, shown
    await free_unit(room)
