"""The command room's escalation list in Debian's Chromium, beyond unanswered dispatches: a plan's notices that
nobody could be sent (no contact for the agency: dead at once) and its tasks gone past their deadline arrive live,
are all there again after a reload (read back from the API, not only from the stream), and a dead notice marked
handled leaves this screen and every other one."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.browser import confined_page
from tests.web.browser.conftest import Room
from tests.web.browser.test_room import WAIT_MS, clean, create, shot, sign_in


async def _tasks_due_now(room: Room, incident_id: int) -> int:
    """The incident's open tasks made due a minute ago, as if the plan's deadlines had passed (the overdue sweep of
    this room runs every second)."""
    engine = create_async_engine(room.database_url)
    try:
        async with engine.begin() as conn:
            moved = await conn.execute(
                text(
                    "UPDATE plan_task SET due_at = now() - interval '1 minute' "
                    "WHERE incident_id = :i AND status <> 'done'"
                ),
                {"i": incident_id},
            )
    finally:
        await engine.dispose()
    return int(moved.rowcount)


async def test_dead_notices_and_overdue_tasks_stay_listed_until_handled(room: Room) -> None:
    async with confined_page(room.origin) as page, confined_page(room.origin) as other:
        await sign_in(page, room.origin)
        await sign_in(other, room.origin, lang="zh")
        incident = await create(room, "金牛区一化工厂发生液氯泄漏，5人中毒", 104.0450, 30.6950)
        activated = await room.api.post(
            f"/api/v1/incidents/{incident['id']}/activations", json={"plan_id": "cn-hazardous-chemicals"}
        )
        assert activated.status_code == 201, activated.text
        dead = (
            await room.api.get(
                "/api/v1/deliveries", params={"incident": incident["id"], "state": "dead", "handled": "false"}
            )
        ).json()["items"]
        assert dead, "the plan's notices had nobody to go to: dead at once"
        assert await _tasks_due_now(room, incident["id"]) > 0

        await page.page.click("#esc-toggle")
        rows = page.page.locator("#escalations .escalation")
        await page.page.wait_for_selector("#escalations .escalation[data-kind=delivery]", timeout=WAIT_MS)
        await page.page.wait_for_selector("#escalations .escalation[data-kind=task]", timeout=WAIT_MS)
        assert "Not delivered" in await rows.filter(has_text="Not delivered").first.inner_text()

        await page.page.reload()
        await page.page.wait_for_selector("#conn[data-state=live]", timeout=WAIT_MS)
        await page.page.click("#esc-toggle")
        await page.page.wait_for_selector("#escalations .escalation[data-kind=task]", timeout=WAIT_MS)
        kinds = await page.page.eval_on_selector_all(
            "#escalations .escalation", "rows => rows.map(r => r.dataset.kind)"
        )
        assert kinds.count("delivery") >= len(dead) and "task" in kinds
        await shot(page, "escalations-kinds")

        mine = f'#escalations .escalation[data-kind=delivery][data-incident="{incident["id"]}"]'
        await other.page.click("#esc-toggle")
        before = await other.page.locator(mine).count()
        assert before == len(dead)
        assert "通知未送达" in await other.page.locator(mine).first.inner_text()
        await page.page.locator(mine).first.locator("button").click()
        count = "([sel, n]) => document.querySelectorAll(sel).length === n"
        await page.page.wait_for_function(count, arg=[mine, before - 1], timeout=WAIT_MS)
        # the other screen hears of it (delivery.handled)
        await other.page.wait_for_function(count, arg=[mine, before - 1], timeout=WAIT_MS)
        left = (
            await room.api.get(
                "/api/v1/deliveries", params={"incident": incident["id"], "state": "dead", "handled": "false"}
            )
        ).json()["total"]
        assert left == len(dead) - 1
        clean(page)
        clean(other)
