"""The after-action report's printable page in Debian's Chromium, after a real response on the Chengdu data: an
incident logged, a plan activated, two units dispatched (one acknowledges, the other's alert goes unanswered and is
escalated), their crews driving the road route to the scene (position fixes), on scene, one transporting to
hospital, the incident closed. The page is read in both languages, with nothing loaded from elsewhere, no script and
no policy violation; screenshots go to tests/web/browser/screenshots/ (the best copied into docs/ for the README)."""

from __future__ import annotations

import asyncio
import itertools
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.browser import Confined, confined_page
from tests.web.browser.conftest import SHOTS, Room

SCENE = (104.0735, 30.6612)  # 春熙路, 锦江区
VIEW = {"width": 1100, "height": 900}


async def _nearest(room: Room, type: str) -> dict[str, Any]:
    """The nearest available unit of ``type`` with no fix in the last half hour: an earlier test of this package
    may have just placed a unit, and the drive below (stamped over the last minutes) must start after its last fix
    for every fix to be plausible."""
    found = await room.api.get(
        "/api/v1/resources", params={"type": type, "status": "available", "near": f"{SCENE[0]},{SCENE[1]}", "limit": 50}
    )
    assert found.status_code == 200, found.text
    settled = datetime.now(UTC) - timedelta(minutes=30)
    for unit in found.json()["items"]:
        if unit["last_fix_at"] is None or datetime.fromisoformat(unit["last_fix_at"]) < settled:
            return dict(unit)
    raise AssertionError(f"no {type} without a recent fix among the 50 nearest")


async def _road(room: Room, unit: dict[str, Any]) -> list[list[float]]:
    lon, lat = unit["location"]["coordinates"]
    route = await room.api.get("/api/v1/route", params={"from": f"{lon},{lat}", "to": f"{SCENE[0]},{SCENE[1]}"})
    assert route.status_code == 200, route.text
    line = route.json()["geometry"]["coordinates"]
    step = max(1, len(line) // 8)  # about eight fixes along the road
    return [*line[::step], line[-1]]


def _along(line: list[list[float]], *, speed_ms: float) -> list[float]:
    """Seconds from the first point to each point of ``line`` at ``speed_ms`` (distances on a local plane)."""
    seconds = [0.0]
    for (x0, y0), (x1, y1) in itertools.pairwise(line):
        dx, dy = (x1 - x0) * 111_320 * math.cos(math.radians(y0)), (y1 - y0) * 110_540
        seconds.append(seconds[-1] + math.hypot(dx, dy) / speed_ms)
    return seconds


async def _status(room: Room, unit_id: int, status: str) -> None:
    response = await room.api.post(f"/api/v1/units/{unit_id}/status", json={"status": status})
    assert response.status_code == 200, response.text


async def _respond(room: Room) -> int:
    """A response from report to close, through the API as the command room and the crews make it."""
    made = await room.api.post(
        "/api/v1/incidents",
        json={
            "title": "春熙路商场火灾",
            "description": "锦江区春熙路一商场三楼起火，浓烟较大，有人员被困，已有3人受伤",
            "location": {"type": "Point", "coordinates": list(SCENE)},
        },
    )
    assert made.status_code == 201, made.text
    incident = made.json()
    if incident["plan_matches"]:
        plan = incident["plan_matches"][0]["plan_id"]
        activated = await room.api.post(f"/api/v1/incidents/{incident['id']}/activations", json={"plan_id": plan})
        assert activated.status_code == 201, activated.text
    engine, ambulance = await _nearest(room, "fire_engine"), await _nearest(room, "ambulance")
    units = {engine["id"]: await _road(room, engine), ambulance["id"]: await _road(room, ambulance)}
    sent = await room.api.post(f"/api/v1/incidents/{incident['id']}/dispatches", json={"unit_ids": list(units)})
    assert sent.status_code == 201, sent.text
    by_unit = {d["unit_id"]: d for d in sent.json()["items"]}
    ack = await room.api.post(f"/api/v1/dispatches/{by_unit[engine['id']]['id']}/ack")
    assert ack.status_code == 200, ack.text
    # The ambulance's alert goes unanswered past its deadline (seconds, in this room): escalated, then handled.
    escalated = by_unit[ambulance["id"]]
    for _ in range(60):
        escalated = (await room.api.get(f"/api/v1/dispatches/{escalated['id']}")).json()
        if escalated["escalated_at"]:
            break
        await asyncio.sleep(0.5)
    assert escalated["escalated_at"], escalated
    handled = await room.api.post(f"/api/v1/dispatches/{escalated['id']}/escalation/ack")
    assert handled.status_code == 200, handled.text
    for unit_id in units:
        await _status(room, unit_id, "en_route")
    # The crews drive the road route at 36 km/h: each fix carries the phone's time along the way (a plausible speed,
    # so every fix moves the unit), one request a little over a second apart (one unit.location event a second).
    times = {unit_id: _along(line, speed_ms=10.0) for unit_id, line in units.items()}
    start = datetime.now(UTC) - timedelta(seconds=max(t[-1] for t in times.values()) + 1)
    for n in range(max(len(line) for line in units.values())):
        fixes = [
            {
                "unit_id": unit_id,
                "location": {"type": "Point", "coordinates": line[min(n, len(line) - 1)]},
                "at": (start + timedelta(seconds=times[unit_id][min(n, len(line) - 1)] + 0.001 * n)).isoformat(),
            }
            for unit_id, line in units.items()
        ]
        done = await room.api.post("/api/v1/units/locations", json=fixes)
        # Every fix is kept for the track and plausible (the units had no fix since long before the drive began).
        assert done.status_code == 200 and all(r["accepted"] and r["trusted"] for r in done.json()["results"]), (
            done.text
        )
        await asyncio.sleep(1.1)
    for unit_id, line in units.items():  # the last fix of each route, the newest of all, put the unit there
        placed = (await room.api.get(f"/api/v1/resources/{unit_id}")).json()["location"]["coordinates"]
        assert placed == pytest.approx(line[-1]), (unit_id, placed, line[-1])
    for unit_id in units:
        await _status(room, unit_id, "on_scene")
    await _status(room, ambulance["id"], "transporting")
    await _status(room, ambulance["id"], "at_hospital")
    for unit_id in units:
        await _status(room, unit_id, "available")
    return int(incident["id"])


async def _open(page: Confined, room: Room, path: str, **headers: str) -> None:
    await page.page.set_viewport_size(VIEW)
    await page.page.set_extra_http_headers({"Authorization": room.api.headers["Authorization"], **headers})
    answer = await page.page.goto(room.origin + path)
    assert answer is not None and answer.status == 200


async def _clean(page: Confined) -> None:
    assert page.refused == [] and await page.violations() == [], (page.refused, await page.violations())
    assert [m for m in page.console if "Refused" in m or "Uncaught" in m] == []
    # The style sheet applied (the page is styled, not raw HTML): the report's box has its width.
    width = await page.page.evaluate("getComputedStyle(document.querySelector('.report')).maxWidth")
    assert width == "980px"


@pytest.mark.timeout(600)  # run alone it builds the city first (minutes), then waits out an escalation and drives
async def test_the_report_page_after_a_real_response(room: Room) -> None:
    incident = await _respond(room)
    path = f"/api/v1/incidents/{incident}/report?format=html"

    # Still open: partial, in English (the browser's language).
    async with confined_page(room.origin) as page:
        await _open(page, room, path + "&tz=Asia/Shanghai", **{"Accept-Language": "en-US,en;q=0.9"})
        await _clean(page)
        assert "partial report" in await page.page.inner_text(".banner")
        rows = await page.page.locator(".units tbody tr").count()
        assert rows == 2
        assert await page.page.locator("svg.map polyline").count() == 2  # both tracks drawn
        SHOTS.mkdir(exist_ok=True)
        await page.page.screenshot(path=str(SHOTS / "report-en.png"), full_page=True)

    for step in ("contained", "closed"):
        moved = await room.api.post(f"/api/v1/incidents/{incident}/transition", json={"to": step})
        assert moved.status_code == 200, moved.text

    # Closed: complete, in Chinese (asked for by ?lang, whatever the browser says).
    async with confined_page(room.origin) as page:
        await _open(page, room, path + "&lang=zh&tz=Asia/Shanghai", **{"Accept-Language": "en"})
        await _clean(page)
        assert "报告完整" in await page.page.inner_text(".banner")
        assert await page.page.get_attribute("html", "lang") == "zh-CN"
        headings = await page.page.locator("h2").all_inner_texts()
        assert headings[:3] == ["概要", "各单位响应时间", "现场地图与单位轨迹"]
        await page.page.screenshot(path=str(SHOTS / "report-zh.png"), full_page=True)
        await page.page.emulate_media(media="print")
        await page.page.screenshot(path=str(SHOTS / "report-zh-print.png"), full_page=True)
