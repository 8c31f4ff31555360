"""The command room in Debian's Chromium through two faults of the issue's bad-input list: an event about an incident
the page's snapshot never held (fetched, not dropped), and the server restarted under the page (it says so, finds the
new server by itself, and catches up without a reload or a duplicate)."""

from __future__ import annotations

from tests.support.browser import confined_page
from tests.web.browser.conftest import Room, restart
from tests.web.browser.test_room import WAIT_MS, clean, create, shot, sign_in


async def test_an_event_about_an_incident_the_page_never_had_fetches_it(room: Room) -> None:
    async with confined_page(room.origin) as page:
        await sign_in(page, room.origin)
        made = await create(room, "锦江区东大街一写字楼电梯困人，3人被困", 104.0850, 30.6530)
        units = await room.api.get(
            "/api/v1/resources", params={"type": "rescue_team", "status": "available", "limit": 1}
        )
        unit = units.json()["items"][0]["id"]
        sent = await room.api.post(f"/api/v1/incidents/{made['id']}/dispatches", json={"unit_ids": [unit]})
        assert sent.status_code == 201, sent.text  # now responding: a plan's activation changes nothing of it
        await page.page.wait_for_selector(f'.board-row[data-id="{made["id"]}"]', timeout=WAIT_MS)
        # As if the snapshot had been taken before it existed and its own events were lost to the page: forgotten.
        await page.page.evaluate(
            "id => { window.__commandpost.store.incidents.delete(id); window.__commandpost.store.stats.fetched = 0; }",
            made["id"],
        )
        activated = await room.api.post(
            f"/api/v1/incidents/{made['id']}/activations", json={"plan_id": "cn-building-fire"}
        )
        assert activated.status_code == 201, activated.text
        # plan.activated names an incident the store does not hold (its id only): the page reads it, shows it again.
        await page.page.wait_for_function(
            "id => window.__commandpost.store.incidents.has(id)", arg=made["id"], timeout=WAIT_MS
        )
        await page.page.wait_for_selector(f'.board-row[data-id="{made["id"]}"]', timeout=WAIT_MS)
        stats = await page.page.evaluate("() => window.__commandpost.store.stats")
        assert stats["fetched"] >= 1, stats
        clean(page)


async def test_a_server_restart_is_survived_without_a_reload(room: Room) -> None:
    async with confined_page(room.origin) as page:
        await sign_in(page, room.origin)
        await page.page.evaluate("() => { window.sameDocument = true; }")
        before = await page.page.eval_on_selector_all(".board-row", "rows => rows.map(r => r.dataset.id)")
        await restart(room)
        await page.page.wait_for_selector("#conn[data-state=reconnecting]", timeout=WAIT_MS)
        await shot(page, "server-restart")
        made = await create(room, "武侯区一居民楼燃气泄漏，疏散20人", 104.0450, 30.6350)
        await page.page.wait_for_selector("#conn[data-state=live]", timeout=30_000)
        await page.page.wait_for_selector(f'.board-row[data-id="{made["id"]}"]', timeout=WAIT_MS)
        assert await page.page.evaluate("() => window.sameDocument") is True  # no reload
        after = await page.page.eval_on_selector_all(".board-row", "rows => rows.map(r => r.dataset.id)")
        assert len(after) == len(set(after)) and set(before) | {str(made["id"])} <= set(after), (before, after)
        clean(page)
