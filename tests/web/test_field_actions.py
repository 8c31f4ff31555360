"""A crew's actions as the field page sends them: each with the time the phone took it (``at``: not ahead, not older
than a day), a status not allowed from the current one refused with the allowed ones, and an ``Idempotency-Key``
that makes a replayed acknowledgement or status report act once and answer the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import AuditEntry
from core.clock import utcnow
from core.events import Event
from tests.conftest import TokenFor

HERE = {"type": "Point", "coordinates": [104.06, 30.67]}


@dataclass
class Sent:
    unit: int
    incident: int
    dispatch: int
    crew: dict[str, str]
    commander: dict[str, str]


@pytest.fixture
async def sent(client: httpx.AsyncClient, token_for: TokenFor) -> Sent:
    commander = await token_for("commander")
    unit = await client.post(
        "/api/v1/resources", json={"type": "ambulance", "name": "F-1", "location": HERE}, headers=commander
    )
    incident = await client.post(
        "/api/v1/incidents", json={"description": "居民楼火灾，2人受伤", "location": HERE}, headers=commander
    )
    unit_id, incident_id = unit.json()["id"], incident.json()["id"]
    made = await client.post(
        f"/api/v1/incidents/{incident_id}/dispatches", json={"unit_ids": [unit_id]}, headers=commander
    )
    assert made.status_code == 201, made.text
    crew = await token_for("field_unit", unit_id=unit_id)
    return Sent(unit_id, incident_id, made.json()["items"][0]["id"], crew, commander)


async def _timeline(client: httpx.AsyncClient, sent: Sent, kind: str) -> list[dict[str, object]]:
    got = await client.get(f"/api/v1/incidents/{sent.incident}/timeline?limit=200", headers=sent.commander)
    return [e for e in got.json()["items"] if e["kind"] == kind]


async def test_a_status_tapped_earlier_is_stamped_when_it_was_tapped(
    client: httpx.AsyncClient, sent: Sent, session: AsyncSession
) -> None:
    # The dispatch went out ten minutes ago; the crew tapped "en route" seven minutes ago, in a dead zone.
    ago = text("UPDATE dispatch SET created_at = created_at - interval '10 minutes' WHERE id = :id")
    await session.execute(ago, {"id": sent.dispatch})
    tapped = (utcnow() - timedelta(minutes=7)).replace(microsecond=0)
    url = f"/api/v1/units/{sent.unit}/status"
    answer = await client.post(url, json={"status": "en_route", "at": tapped.isoformat()}, headers=sent.crew)
    assert answer.status_code == 200, answer.text
    entry = (await _timeline(client, sent, "unit_status"))[-1]
    assert entry["data"]["to"] == "en_route" and entry["data"]["at"] == tapped.isoformat()  # type: ignore[index]
    acked = await client.post(
        f"/api/v1/dispatches/{sent.dispatch}/ack", json={"at": tapped.isoformat()}, headers=sent.crew
    )
    assert acked.status_code == 200, acked.text
    assert acked.json()["acknowledged_at"].replace("Z", "+00:00") == tapped.isoformat()
    # A time before the dispatch was made cannot be: it is recorded at the dispatch's own time.
    before = (utcnow() - timedelta(hours=2)).isoformat()
    on_scene = await client.post(url, json={"status": "on_scene", "at": before}, headers=sent.crew)
    assert on_scene.status_code == 200, on_scene.text
    entry = (await _timeline(client, sent, "unit_status"))[-1]
    recorded = datetime.fromisoformat(entry["data"]["at"])  # type: ignore[index,arg-type]
    assert datetime.fromisoformat(before) < recorded < tapped


@pytest.mark.parametrize(
    ("shift", "words"), [(timedelta(hours=1), "future"), (timedelta(hours=-25), "last 24 hours")], ids=["ahead", "old"]
)
async def test_a_time_ahead_or_older_than_a_day_is_refused(
    client: httpx.AsyncClient, sent: Sent, shift: timedelta, words: str
) -> None:
    at = (utcnow() + shift).isoformat()
    for url, body in (
        (f"/api/v1/units/{sent.unit}/status", {"status": "en_route", "at": at}),
        (f"/api/v1/dispatches/{sent.dispatch}/ack", {"at": at}),
    ):
        refused = await client.post(url, json=body, headers=sent.crew)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"] == "invalid" and words in refused.json()["detail"], refused.text
    unit = await client.get(f"/api/v1/resources/{sent.unit}", headers=sent.commander)
    assert unit.json()["status"] == "dispatched", "a refused report changes nothing"


async def test_a_status_not_allowed_names_the_allowed_ones(client: httpx.AsyncClient, sent: Sent) -> None:
    refused = await client.post(f"/api/v1/units/{sent.unit}/status", json={"status": "at_hospital"}, headers=sent.crew)
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["error"] == "conflict" and "en_route" in body["allowed"] and "at_hospital" not in body["allowed"]
    assert "allowed: " in body["detail"]


async def test_a_replayed_status_and_ack_act_once(client: httpx.AsyncClient, sent: Sent, session: AsyncSession) -> None:
    url = f"/api/v1/units/{sent.unit}/status"
    key = {**sent.crew, "Idempotency-Key": "field-1-on-scene"}
    first = await client.post(url, json={"status": "on_scene"}, headers=key)
    again = await client.post(url, json={"status": "on_scene"}, headers=key)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json() and again.headers.get("idempotent-replayed") == "true"
    assert len(await _timeline(client, sent, "unit_status")) == 1, "the replay changed nothing"
    # The same key for another request is a conflict, not a silent replay.
    other = await client.post(url, json={"status": "transporting"}, headers=key)
    assert other.status_code == 409 and other.json()["field"] == "Idempotency-Key", other.text

    ack = f"/api/v1/dispatches/{sent.dispatch}/ack"
    ack_key = {**sent.crew, "Idempotency-Key": "field-1-ack"}
    answers = [await client.post(ack, headers=ack_key) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200] and answers[0].json() == answers[1].json()
    events = await session.scalars(
        select(Event.type).where(Event.incident_id == sent.incident, Event.type == "dispatch.acknowledged")
    )
    assert len(list(events)) == 1
    audited = await session.scalars(select(AuditEntry.path).where(AuditEntry.path == url))
    assert len(list(audited)) >= 2, "each request is audited, the replay too"


async def test_a_failed_action_does_not_use_up_its_key(client: httpx.AsyncClient, sent: Sent) -> None:
    url = f"/api/v1/units/{sent.unit}/status"
    key = {**sent.crew, "Idempotency-Key": "field-1-too-early"}
    assert (await client.post(url, json={"status": "at_hospital"}, headers=key)).status_code == 409
    # Rolled back with the action: the same key may be used again once the unit can.
    assert (await client.post(url, json={"status": "en_route"}, headers=key)).status_code == 200


async def test_a_replayed_note_is_one_note_and_a_stranger_crew_is_404(
    client: httpx.AsyncClient, sent: Sent, token_for: TokenFor
) -> None:
    url = f"/api/v1/incidents/{sent.incident}/notes"
    key = {**sent.crew, "Idempotency-Key": "field-1-note-1"}
    body = {"text": "二楼仍有浓烟", "at": (utcnow() - timedelta(minutes=2)).isoformat()}
    answers = [await client.post(url, json=body, headers=key) for _ in range(2)]
    assert [a.status_code for a in answers] == [201, 201], answers[1].text
    assert answers[0].json() == answers[1].json()
    assert len(await _timeline(client, sent, "note")) == 1
    ahead = await client.post(url, json={**body, "at": (utcnow() + timedelta(hours=1)).isoformat()}, headers=sent.crew)
    assert ahead.status_code == 422, ahead.text

    other = await client.post(
        "/api/v1/resources", json={"type": "ambulance", "name": "F-2", "location": HERE}, headers=sent.commander
    )
    stranger = await token_for("field_unit", unit_id=other.json()["id"])
    refused = await client.post(url, json={"text": "不是我们的事件"}, headers=stranger)
    assert refused.status_code == 404 and refused.json()["error"] == "not_found", refused.text
