"""The caller (API.md "Places and notes"): taken by POST /incidents, kept out of the incident's shape, events,
exports, CAP, tiles and the situation, read by the command room's roles with every read audited, and erased a
retention period after the incident closed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import mapbox_vector_tile
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import AuditEntry
from core.events import Event
from core.settings import Settings
from incidents import service
from tests.conftest import TokenFor
from tests.gis.conftest import tile_of
from web.scheduler import SWEEPS

LON, LAT = 104.0665, 30.6574
NAME = "王晓明"
PHONE = "138-0013-8000"
REPORT = {
    "description": "春熙路一商铺起火，2人受伤。",
    "location": {"type": "Point", "coordinates": [LON, LAT]},
    "address_text": "春熙路与总府路交叉口东北角",
    "caller_name": NAME,
    "caller_phone": PHONE,
    "callback_requested": True,
}
# What must never appear outside the caller endpoint (the phone in every form it could take).
SECRETS = (NAME, PHONE, "13800138000", "138 0013 8000")


def _clean(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked into {where}"


async def _report(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    made = await client.post("/api/v1/incidents", json=REPORT, headers=auth)
    assert made.status_code == 201, made.text
    return dict(made.json())


async def test_the_caller_is_read_only_through_its_own_door(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor
) -> None:
    officer = await token_for("duty_officer", username="officer.caller")
    incident = await _report(client, officer)
    assert incident["address_text"] == REPORT["address_text"] and incident["callback_requested"] is True
    assert "caller_name" not in incident and "caller_phone" not in incident
    _clean(str(incident), "the 201 body")

    caller = await client.get(f"/api/v1/incidents/{incident['id']}/caller", headers=officer)
    assert caller.status_code == 200, caller.text
    assert caller.json() == {
        "incident_id": incident["id"],
        "name": NAME,
        "phone": PHONE,
        "phone_display": "+86 138 0013 8000",
        "callback_requested": True,
        "erased_at": None,
    }
    reads = list(await session.scalars(select(AuditEntry).where(AuditEntry.action == "incidents.read_caller")))
    assert [(r.actor, r.outcome, r.target["incident_id"]) for r in reads] == [
        ("officer.caller", "ok", str(incident["id"]))
    ]


async def test_who_may_read_the_caller(client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor) -> None:
    commander = await token_for("commander")
    incident = await _report(client, commander)
    url = f"/api/v1/incidents/{incident['id']}/caller"
    for role in ("commander", "admin"):
        assert (await client.get(url, headers=await token_for(role))).json()["name"] == NAME
    observer = await client.get(url, headers=await token_for("observer"))
    assert observer.status_code == 403, observer.text
    _clean(observer.text, "the observer's answer")
    unit = await client.post(
        "/api/v1/resources",
        json={"type": "fire_engine", "name": "一号车", "location": REPORT["location"]},
        headers=commander,
    )
    sent = await client.post(
        f"/api/v1/incidents/{incident['id']}/dispatches", json={"unit_ids": [unit.json()["id"]]}, headers=commander
    )
    assert sent.status_code == 201, sent.text
    crew = await client.get(url, headers=await token_for("field_unit", unit_id=unit.json()["id"]))
    assert crew.status_code == 403, crew.text
    _clean(crew.text + sent.text, "the crew's answers")
    missing = await client.get("/api/v1/incidents/999999999/caller", headers=commander)
    assert missing.status_code == 404
    refused = list(await session.scalars(select(AuditEntry).where(AuditEntry.action == "incidents.read_caller")))
    assert len(refused) == 2, "two reads that returned the caller, two rows; refused reads read nothing"


async def test_the_caller_stays_out_of_everything_else(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor
) -> None:
    officer = await token_for("duty_officer")
    commander = await token_for("commander")
    incident = await _report(client, officer)
    iid = incident["id"]
    edited = await client.patch(
        f"/api/v1/incidents/{iid}",
        json={"caller_phone": "+86 138 0013 8000", "description": "春熙路商铺起火，3人受伤。"},
        headers=officer,
    )
    assert edited.status_code == 200, edited.text
    await client.post(f"/api/v1/incidents/{iid}/notes", json={"text": "已回拨"}, headers=officer)
    reads = {
        "the incident": f"/api/v1/incidents/{iid}",
        "the list": "/api/v1/incidents",
        "the GeoJSON export": "/api/v1/incidents?format=geojson",
        "the timeline": f"/api/v1/incidents/{iid}/timeline",
        "the CAP message": f"/api/v1/incidents/{iid}/cap",
        "the situation": "/api/v1/situation",
    }
    for where, url in reads.items():
        answer = await client.get(url, headers=commander)
        assert answer.status_code == 200, (where, answer.text)
        _clean(answer.text, where)
    assert str(iid) in (await client.get(reads["the CAP message"], headers=commander)).text
    x, y = tile_of(LON, LAT, 15)
    tile = await client.get(f"/api/v1/tiles/incidents/15/{x}/{y}.pbf", headers=commander)
    features = mapbox_vector_tile.decode(tile.content)["incidents"]["features"]
    assert iid in [f["id"] for f in features]
    _clean(str(features), "the map tile")
    events = list(await session.scalars(select(Event).where(Event.incident_id == iid)))
    assert {e.type for e in events} >= {"incident.created", "incident.updated", "incident.note"}
    for event in events:
        _clean(str(event.data), f"the {event.type} event")
    assert (await client.get(f"/api/v1/incidents/{iid}/caller", headers=officer)).json()["phone"] == "+86 138 0013 8000"


async def test_edits_reach_the_address_the_flag_and_the_caller(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    officer = await token_for("duty_officer")
    incident = await _report(client, officer)
    url = f"/api/v1/incidents/{incident['id']}"
    changed = await client.patch(
        url,
        json={"address_text": "总府路12号", "callback_requested": False, "caller_name": "王先生", "version": 1},
        headers=officer,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["address_text"], changed.json()["callback_requested"]) == ("总府路12号", False)
    caller = (await client.get(url + "/caller", headers=officer)).json()
    assert (caller["name"], caller["phone"], caller["callback_requested"]) == ("王先生", PHONE, False)
    cleared = await client.patch(url, json={"address_text": None}, headers=officer)
    assert cleared.json()["address_text"] is None
    timeline = (await client.get(url + "/timeline", headers=officer)).json()["items"]
    assert "caller_name" in timeline[-2]["data"]["changed"] and "王先生" not in str(timeline)


async def test_bad_caller_input_is_refused(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    officer = await token_for("duty_officer")
    for field, value in (("caller_phone", "1" * 41), ("caller_name", "名" * 101), ("address_text", "路" * 501)):
        refused = await client.post("/api/v1/incidents", json={**REPORT, field: value}, headers=officer)
        assert refused.status_code == 422 and field in refused.text, refused.text
    odd = await client.post("/api/v1/incidents", json={**REPORT, "caller_phone": "不方便留"}, headers=officer)
    assert odd.status_code == 201, odd.text
    caller = (await client.get(f"/api/v1/incidents/{odd.json()['id']}/caller", headers=officer)).json()
    assert (caller["phone"], caller["phone_display"]) == ("不方便留", None)


async def test_the_retention_sweep_erases_callers_of_long_closed_incidents(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, token_for: TokenFor
) -> None:
    commander = await token_for("commander")
    closed, still_open = await _report(client, commander), await _report(client, commander)
    url = f"/api/v1/incidents/{closed['id']}"
    for to in ("verified", "closed"):
        moved = await client.post(url + "/transition", json={"to": to}, headers=commander)
        assert moved.status_code == 200, moved.text
    closed_at = (await session.scalars(select(Event.created_at).where(Event.incident_id == closed["id"]))).all()[-1]
    assert isinstance(closed_at, datetime)
    keep = timedelta(days=settings.caller_retention_days)
    sweep = SWEEPS["incidents.caller_retention"]

    assert await sweep.run(session, closed_at + keep - timedelta(hours=1), settings) == 0
    assert (await client.get(url + "/caller", headers=commander)).json()["name"] == NAME
    later = closed_at + keep + timedelta(hours=1)
    assert await sweep.run(session, later, settings) == 1
    await session.commit()
    assert await service.sweep_caller_retention(session, now=later, keep=keep) == 0, "each caller is erased once"

    erased = (await client.get(url + "/caller", headers=commander)).json()
    assert (erased["name"], erased["phone"], erased["phone_display"]) == (None, None, None)
    assert datetime.fromisoformat(erased["erased_at"]) == later
    kept = (await client.get(f"/api/v1/incidents/{still_open['id']}/caller", headers=commander)).json()
    assert kept["name"] == NAME, "an open incident keeps its caller"
    timeline = (await client.get(url + "/timeline", headers=commander)).json()["items"]
    assert timeline[-1]["kind"] == "caller_erased"
