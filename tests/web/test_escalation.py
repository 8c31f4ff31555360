"""``POST /api/v1/dispatches/{id}/escalation/ack`` over HTTP: a commander handles an escalation once (a second
acknowledgement is a no-op), audited; a crew may not, another unit's crew learns nothing; ``ack_due_at`` by grade."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command import service as command
from core.audit import AuditEntry
from core.clock import utcnow
from core.events import Event
from tests.conftest import TokenFor

SCENE = {"type": "Point", "coordinates": [104.0614, 30.6880]}


async def _post(client: httpx.AsyncClient, url: str, auth: dict[str, str], body: object = None) -> httpx.Response:
    return await client.post(url, json=body, headers=auth)


async def _dispatched(client: httpx.AsyncClient, auth: dict[str, str], text: str = "居民楼火灾，2人受伤") -> dict:
    point = {"type": "Point", "coordinates": [104.06, 30.67]}
    unit = await _post(client, "/api/v1/resources", auth, {"type": "ambulance", "name": "E1", "location": point})
    incident = await _post(client, "/api/v1/incidents", auth, {"description": text, "location": SCENE})
    sent = await _post(
        client, f"/api/v1/incidents/{incident.json()['id']}/dispatches", auth, {"unit_ids": [unit.json()["id"]]}
    )
    assert sent.status_code == 201, sent.text
    [dispatch] = sent.json()["items"]
    return dict(dispatch)


@pytest.fixture
async def commander(token_for: TokenFor) -> dict[str, str]:
    return await token_for("commander", username="cmd.esc")


@pytest.mark.parametrize(("text", "seconds"), [("居民楼火灾，2人受伤", 180), ("化工厂爆炸，死亡12人", 60)])
async def test_a_dispatch_carries_its_deadline_by_grade(
    client: httpx.AsyncClient, commander: dict[str, str], text: str, seconds: int
) -> None:
    dispatch = await _dispatched(client, commander, text)  # grade IV, grade II (the default table)
    created, due = (datetime.fromisoformat(dispatch[k]) for k in ("created_at", "ack_due_at"))
    assert due - created == timedelta(seconds=seconds)
    got = (await client.get(f"/api/v1/dispatches/{dispatch['id']}", headers=commander)).json()
    assert got["ack_due_at"] == dispatch["ack_due_at"] and got["alerts"][0]["channels"] == ["field_stream"]


async def test_a_commander_handles_an_escalation_once_and_it_is_audited(
    client: httpx.AsyncClient, commander: dict[str, str], token_for: TokenFor, session: AsyncSession
) -> None:
    dispatch = await _dispatched(client, commander)
    url = f"/api/v1/dispatches/{dispatch['id']}/escalation/ack"
    assert (await _post(client, url, commander)).status_code == 409  # not escalated (yet)
    rules = command.AckRules()
    assert await command.sweep_ack_deadlines(session, now=utcnow() + timedelta(hours=1), rules=rules) == 2
    await session.commit()
    crew = await token_for("field_unit", username="crew.esc", unit_id=dispatch["unit_id"])
    assert (await _post(client, url, crew)).status_code == 403  # its own crew may not close it

    first = await _post(client, url, commander)
    second = await _post(client, url, commander)
    assert first.status_code == second.status_code == 200, first.text
    assert first.json() == second.json()  # the second changes nothing
    handled = first.json()
    assert (handled["escalation_handling"], handled["escalation_handled_by"]) == ("acknowledged", "cmd.esc")
    assert [a["kind"] for a in handled["alerts"]] == ["alert", "realert"]
    events = select(Event.type).where(Event.type == "dispatch.escalation_handled", Event.unit_id == dispatch["unit_id"])
    assert list(await session.scalars(events)) == ["dispatch.escalation_handled"]
    rows = select(AuditEntry).where(AuditEntry.action == "dispatch.escalation_ack").order_by(AuditEntry.id)
    audited = [(r.actor, r.outcome, (r.target or {}).get("dispatch_id")) for r in await session.scalars(rows)]
    assert [(actor, outcome) for actor, outcome, _ in audited[:2]] == [
        ("cmd.esc", "conflict"),
        ("crew.esc", "forbidden"),
    ]
    assert audited[2:] == [("cmd.esc", "ok", dispatch["id"]), ("cmd.esc", "ok", dispatch["id"])]


async def test_another_units_crew_gets_404_for_its_dispatch(
    client: httpx.AsyncClient, commander: dict[str, str], token_for: TokenFor
) -> None:
    theirs = await _dispatched(client, commander)
    point = {"type": "Point", "coordinates": [104.07, 30.67]}
    ours = await _post(client, "/api/v1/resources", commander, {"type": "ambulance", "name": "O", "location": point})
    crew = await token_for("field_unit", unit_id=ours.json()["id"])
    answer = await client.get(f"/api/v1/dispatches/{theirs['id']}", headers=crew)
    missing = await client.get("/api/v1/dispatches/987654321", headers=crew)
    assert answer.status_code == missing.status_code == 404
    assert answer.text.replace(str(theirs["id"]), "<id>") == missing.text.replace("987654321", "<id>")


async def test_open_escalations_are_listed_until_handled(
    client: httpx.AsyncClient, commander: dict[str, str], token_for: TokenFor, session: AsyncSession
) -> None:
    dispatch = await _dispatched(client, commander)
    listed = await client.get("/api/v1/escalations", headers=commander)
    assert listed.status_code == 200 and listed.json() == {"items": [], "total": 0}
    await command.sweep_ack_deadlines(session, now=utcnow() + timedelta(hours=1), rules=command.AckRules())
    await session.commit()
    observer = await token_for("observer")
    listed = await client.get("/api/v1/escalations", headers=observer)
    assert [d["id"] for d in listed.json()["items"]] == [dispatch["id"]]
    assert listed.json()["items"][0]["escalated_at"] is not None
    crew = await token_for("field_unit", username="crew.list", unit_id=dispatch["unit_id"])
    assert (await client.get("/api/v1/escalations", headers=crew)).status_code == 403
    await _post(client, f"/api/v1/dispatches/{dispatch['id']}/escalation/ack", commander)
    assert (await client.get("/api/v1/escalations", headers=commander)).json()["total"] == 0
