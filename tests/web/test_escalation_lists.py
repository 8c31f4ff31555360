"""What the command room's escalation list reads again after a reload: plan tasks marked overdue and not done (of
incidents still open), and deliveries given up on (dead) that nobody has handled; marking a dead delivery handled
(commanders and duty officers; audited; ``delivery.handled`` so every screen drops it)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from notify import service as notify
from plans import service as plans_service
from tests.conftest import TokenFor

SCENE = {"type": "Point", "coordinates": [104.0614, 30.6880]}


async def _incident(client: httpx.AsyncClient, auth: dict[str, str], description: str) -> dict[str, Any]:
    made = await client.post("/api/v1/incidents", json={"description": description, "location": SCENE}, headers=auth)
    assert made.status_code == 201, made.text
    return dict(made.json())


async def test_overdue_tasks_are_listed_until_done_or_their_incident_closes(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor
) -> None:
    await plans_service.load_path(session, path=plans_service.LIBRARY, actor="test")
    commander = await token_for("commander")
    observer = await token_for("observer")
    unit = await client.post(
        "/api/v1/resources", json={"type": "ambulance", "name": "120-1", "location": SCENE}, headers=commander
    )
    assert unit.status_code == 201, unit.text
    field = await token_for("field_unit", unit_id=unit.json()["id"])
    fire = await _incident(client, commander, "锦江区一化工厂储罐起火爆炸，3人死亡，20人受伤")
    quiet = await _incident(client, commander, "成华区一小区居民楼起火，1人受伤")
    for incident, plan in ((fire, "cn-hazardous-chemicals"), (quiet, "cn-building-fire")):
        activated = await client.post(
            f"/api/v1/incidents/{incident['id']}/activations", json={"plan_id": plan}, headers=commander
        )
        assert activated.status_code == 201, activated.text
    assert (await client.get("/api/v1/tasks/overdue", headers=commander)).json()["total"] == 0  # none past due yet
    marked = await plans_service.sweep_overdue(session, now=utcnow() + timedelta(days=2))
    await session.commit()
    listed = (await client.get("/api/v1/tasks/overdue?limit=1000", headers=observer)).json()
    assert listed["total"] == marked > 1 and {t["incident_id"] for t in listed["items"]} == {fire["id"], quiet["id"]}
    assert [t["due_at"] for t in listed["items"]] == sorted(t["due_at"] for t in listed["items"])
    assert all(t["overdue"] and t["status"] != "done" for t in listed["items"])

    first = listed["items"][0]
    done = await client.post(f"/api/v1/tasks/{first['id']}/complete", headers=commander)
    assert done.status_code == 200, done.text
    for status in ("contained", "closed"):
        moved = await client.post(
            f"/api/v1/incidents/{quiet['id']}/transition", json={"to": status, "reason": "扑灭"}, headers=commander
        )
        assert moved.status_code == 200, moved.text
    left = (await client.get("/api/v1/tasks/overdue?limit=1000", headers=commander)).json()["items"]
    assert first["id"] not in {t["id"] for t in left} and {t["incident_id"] for t in left} <= {fire["id"]}
    assert (await client.get("/api/v1/tasks/overdue", headers=field)).status_code == 403
    assert (await client.get("/api/v1/tasks/overdue")).status_code == 401
    assert (await client.get("/api/v1/tasks/overdue?limit=0", headers=commander)).status_code == 422


async def test_a_dead_delivery_is_handled_once_by_a_person(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor
) -> None:
    commander = await token_for("commander", username="esc.commander")
    observer = await token_for("observer")
    incident = await _incident(client, commander, "锦江区居民楼火灾，2人受伤")
    message = notify.Message(
        kind="dispatch.escalated", subject="升级：120-1 未确认", body="请处理", data={}, incident_id=incident["id"]
    )
    [dead] = await notify.alert_commanders(session, message=message)  # nobody on duty: dead at once
    await session.commit()
    contact = {
        "name": "值班指挥长",
        "roles": ["commander"],
        "channels": [{"type": "email", "address": "z@example.org"}],
    }
    assert (await client.post("/api/v1/contacts", json=contact, headers=commander)).status_code == 201
    [waiting] = await notify.alert_commanders(session, message=message)  # queued for the one now on duty
    await session.commit()

    unhandled = (await client.get("/api/v1/deliveries?state=dead&handled=false", headers=commander)).json()
    assert [d["id"] for d in unhandled["items"]] == [dead.id] and unhandled["items"][0]["handled_at"] is None
    assert (await client.post(f"/api/v1/deliveries/{dead.id}/handled", headers=observer)).status_code == 403
    handled = await client.post(f"/api/v1/deliveries/{dead.id}/handled", headers=commander)
    assert handled.status_code == 200, handled.text
    assert handled.json()["handled_by"] == "esc.commander" and handled.json()["handled_at"]
    again = await client.post(f"/api/v1/deliveries/{dead.id}/handled", headers=commander)
    assert again.status_code == 200 and again.json()["handled_at"] == handled.json()["handled_at"]
    assert (await client.get("/api/v1/deliveries?state=dead&handled=false", headers=commander)).json()["total"] == 0
    assert (await client.get("/api/v1/deliveries?handled=true", headers=commander)).json()["total"] == 1

    refused = await client.post(f"/api/v1/deliveries/{waiting.id}/handled", headers=commander)
    assert refused.status_code == 409 and refused.json()["error"] == "conflict", refused.text
    missing = await client.post("/api/v1/deliveries/999999999/handled", headers=commander)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert (await client.post("/api/v1/deliveries/0/handled", headers=commander)).status_code == 422

    events = (
        (
            await session.execute(
                text("SELECT data->>'id' FROM event WHERE type = 'delivery.handled' AND incident_id = :i"),
                {"i": incident["id"]},
            )
        )
        .scalars()
        .all()
    )
    assert events == [str(dead.id)]  # once: the second marking changed nothing
    audited = (
        await session.execute(
            text("SELECT outcome, actor FROM audit_log WHERE action = 'deliveries.handled' ORDER BY id"),
        )
    ).all()
    assert [tuple(row) for row in audited][:2] == [("forbidden", audited[0][1]), ("ok", "esc.commander")]
