"""The incident's running log of notes (API.md "Places and notes"): stamped, on the timeline and the event stream in
the same transaction, written by the command room's roles on any incident and by a crew only on its own."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import AuditEntry
from core.clock import utcnow
from core.events import Event
from tests.conftest import TokenFor

SPOT = {"type": "Point", "coordinates": [104.0665, 30.6574]}
REPORT = {"description": "春熙路一商铺起火，1人受伤。", "location": SPOT}


async def _incident(client: httpx.AsyncClient, auth: dict[str, str], **extra: Any) -> dict[str, Any]:
    made = await client.post("/api/v1/incidents", json={**REPORT, **extra}, headers=auth)
    assert made.status_code == 201, made.text
    return dict(made.json())


async def test_a_note_is_stamped_and_lands_on_the_timeline_and_the_stream(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor
) -> None:
    officer = await token_for("duty_officer", username="officer.notes")
    incident = await _incident(client, officer)
    taken = (utcnow() - timedelta(minutes=3)).replace(microsecond=0)
    before = utcnow()
    answer = await client.post(
        f"/api/v1/incidents/{incident['id']}/notes",
        json={"text": "  报警人称二楼仍有浓烟  ", "at": taken.isoformat()},
        headers=officer,
    )
    assert answer.status_code == 201, answer.text
    note = answer.json()
    assert note["text"] == "报警人称二楼仍有浓烟" and note["author"] == "officer.notes"
    assert note["incident_id"] == incident["id"]
    assert note["taken_at"] is not None and note["at"] == note["taken_at"]
    assert datetime.fromisoformat(note["taken_at"]) == taken
    assert datetime.fromisoformat(note["recorded_at"]) >= before - timedelta(seconds=1)

    timeline = (await client.get(f"/api/v1/incidents/{incident['id']}/timeline", headers=officer)).json()["items"]
    entry = timeline[-1]
    assert (entry["kind"], entry["actor"], entry["data"]["text"]) == ("note", "officer.notes", "报警人称二楼仍有浓烟")
    assert entry["id"] == note["id"]

    events = list(await session.scalars(select(Event).where(Event.type == "incident.note")))
    assert len(events) == 1 and events[0].incident_id == incident["id"]
    assert events[0].data["id"] == incident["id"] and events[0].data["change"] == "note"
    assert events[0].data["note"]["text"] == "报警人称二楼仍有浓烟"
    # Not an edit of the record: the version an officer may be editing from stays.
    again = (await client.get(f"/api/v1/incidents/{incident['id']}", headers=officer)).json()
    assert again["version"] == incident["version"]
    audit = list(await session.scalars(select(AuditEntry).where(AuditEntry.action == "incidents.add_note")))
    assert [(a.actor, a.outcome, a.target.get("note_id")) for a in audit] == [("officer.notes", "ok", note["id"])]


async def test_a_note_without_a_device_time_is_at_the_servers_time(
    client: httpx.AsyncClient, token_for: TokenFor
) -> None:
    officer = await token_for("commander")
    incident = await _incident(client, officer)
    note = (
        await client.post(f"/api/v1/incidents/{incident['id']}/notes", json={"text": "已通知"}, headers=officer)
    ).json()
    assert note["taken_at"] is None and note["at"] == note["recorded_at"]


async def test_bad_notes_are_refused_in_the_one_error_shape(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    officer = await token_for("duty_officer")
    incident = await _incident(client, officer)
    url = f"/api/v1/incidents/{incident['id']}/notes"
    future = (utcnow() + timedelta(minutes=30)).isoformat()
    stale = (utcnow() - timedelta(hours=25)).isoformat()
    for body in (
        {"text": "x" * 4001},
        {"text": "   "},
        {"text": "ok", "at": future},
        {"text": "ok", "at": stale},
        {"text": "ok", "at": "yesterday"},
        {"text": "ok", "extra": 1},
    ):
        refused = await client.post(url, json=body, headers=officer)
        assert refused.status_code == 422, (body, refused.text)
        assert set(refused.json()) >= {"error", "detail"}
    huge = await client.post(url, json={"text": "字" * 100_000}, headers=officer)
    assert huge.status_code == 413, huge.text
    assert huge.json()["error"]
    slightly_ahead = (utcnow() + timedelta(minutes=1)).isoformat()  # a device clock a minute fast is fine
    assert (await client.post(url, json={"text": "ok", "at": slightly_ahead}, headers=officer)).status_code == 201
    timeline = (await client.get(f"/api/v1/incidents/{incident['id']}/timeline", headers=officer)).json()["items"]
    assert [e["kind"] for e in timeline].count("note") == 1


async def test_who_may_write_a_note(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    commander = await token_for("commander")
    ours = await _incident(client, commander)
    theirs = await _incident(client, commander, title="别处的事件")
    unit = await client.post(
        "/api/v1/resources", json={"type": "fire_engine", "name": "一号车", "location": SPOT}, headers=commander
    )
    assert unit.status_code == 201, unit.text
    sent = await client.post(
        f"/api/v1/incidents/{ours['id']}/dispatches", json={"unit_ids": [unit.json()["id"]]}, headers=commander
    )
    assert sent.status_code == 201, sent.text
    crew = await token_for("field_unit", unit_id=unit.json()["id"])
    body = {"text": "到场，火已扑灭"}

    assert (await client.post(f"/api/v1/incidents/{ours['id']}/notes", json=body, headers=crew)).status_code == 201
    hidden = await client.post(f"/api/v1/incidents/{theirs['id']}/notes", json=body, headers=crew)
    missing = await client.post("/api/v1/incidents/999999999/notes", json=body, headers=crew)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace(str(theirs["id"]), "N") == missing.json()["detail"].replace("999999999", "N")

    observer = await token_for("observer")
    refused = await client.post(f"/api/v1/incidents/{ours['id']}/notes", json=body, headers=observer)
    assert refused.status_code == 403, refused.text
    for role in ("duty_officer", "admin"):
        auth = await token_for(role)
        assert (
            await client.post(f"/api/v1/incidents/{theirs['id']}/notes", json=body, headers=auth)
        ).status_code == 201
