"""A drill's incident through the API: its expectations (``drill``) only with ``exercise``, bounded; scored in its
after-action report (JSON and page) from the event log: on time, late, missed or pending, and whether the plan was
the one expected; its alerts stay on the pages unless the drill asks for them to go out, and then say "exercise"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from plans import service as plans_service
from tests.conftest import TokenFor

SCENE = {"type": "Point", "coordinates": [104.0614, 30.6880]}


@pytest.fixture
async def people(token_for: TokenFor) -> dict[str, dict[str, str]]:
    return {
        "officer": await token_for("duty_officer", username="drill.officer"),
        "commander": await token_for("commander", username="drill.commander"),
        "admin": await token_for("admin", username="drill.admin"),
    }


async def _drill_incident(client: httpx.AsyncClient, auth: dict[str, str], **drill: Any) -> dict[str, Any]:
    body = {
        "description": "成华区一化工企业储罐液氯泄漏，3人中毒",
        "location": SCENE,
        "exercise": True,
        "drill": {"name": "成华区危险化学品泄漏应急演练", **drill},
    }
    made = await client.post("/api/v1/incidents", json=body, headers=auth)
    assert made.status_code == 201, made.text
    return dict(made.json())


async def _unit(client: httpx.AsyncClient, admin: dict[str, str], name: str, *, email: str | None = None) -> int:
    body = {"type": "fire_engine", "name": name, "location": SCENE}
    made = await client.post("/api/v1/resources", json=body, headers=admin)
    assert made.status_code == 201, made.text
    unit = int(made.json()["id"])
    if email:
        contact = {"name": f"crew {name}", "unit_id": unit, "channels": [{"type": "email", "address": email}]}
        assert (await client.post("/api/v1/contacts", json=contact, headers=admin)).status_code == 201
    return unit


async def _report(client: httpx.AsyncClient, auth: dict[str, str], incident: int) -> dict[str, Any]:
    answer = await client.get(f"/api/v1/incidents/{incident}/report", headers=auth)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"exercise": False, "drill": {"name": "x"}}, "drill"),  # expectations only on a drill's report
        ({"exercise": True, "drill": {"name": ""}}, "name"),
        ({"exercise": True, "drill": {"name": "x" * 201}}, "name"),
        ({"exercise": True, "drill": {"name": "x", "plan": "p" * 101}}, "plan"),
        ({"exercise": True, "drill": {"name": "x", "decide_by": "tomorrow"}}, "decide_by"),
        ({"exercise": True, "drill": {"name": "x", "decide_by": "2026-12-08T10:00:00"}}, "decide_by"),  # no zone
        ({"exercise": True, "drill": {"name": "x", "score": 100}}, "score"),  # nothing the schema does not know
    ],
)
async def test_bad_drill_expectations_are_refused(
    client: httpx.AsyncClient, people: dict[str, dict[str, str]], body: dict[str, Any], field: str
) -> None:
    answer = await client.post(
        "/api/v1/incidents",
        json={"description": "演练：化工厂泄漏", "location": SCENE, **body},
        headers=people["officer"],
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "invalid" and field in answer.json()["detail"]


async def test_the_report_scores_the_room_against_the_drill(
    client: httpx.AsyncClient, session: Any, people: dict[str, dict[str, str]]
) -> None:
    await plans_service.load_path(session, path=plans_service.LIBRARY, actor="test")
    officer, commander, admin = people["officer"], people["commander"], people["admin"]
    now = datetime.now(UTC)
    on_time = await _drill_incident(
        client, officer, plan="cn-hazardous-chemicals", decide_by=(now + timedelta(minutes=5)).isoformat()
    )
    wrong_plan = await _drill_incident(
        client, officer, plan="cn-hazardous-chemicals", decide_by=(now + timedelta(minutes=5)).isoformat()
    )
    late = await _drill_incident(client, officer, decide_by=(now - timedelta(seconds=90)).isoformat())
    missed = await _drill_incident(client, officer, decide_by=(now - timedelta(seconds=30)).isoformat())
    pending = await _drill_incident(client, officer, decide_by=(now + timedelta(minutes=10)).isoformat())
    assert on_time["drill"]["plan"] == "cn-hazardous-chemicals" and on_time["exercise"] is True

    activated = await client.post(
        f"/api/v1/incidents/{on_time['id']}/activations", json={"plan_id": "cn-hazardous-chemicals"}, headers=commander
    )
    assert activated.status_code == 201, activated.text
    other = await client.post(
        f"/api/v1/incidents/{wrong_plan['id']}/activations",
        json={"plan_id": "cn-environmental-pollution"},
        headers=commander,
    )
    assert other.status_code == 201, other.text
    unit = await _unit(client, admin, "演练一号车")
    sent = await client.post(f"/api/v1/incidents/{late['id']}/dispatches", json={"unit_ids": [unit]}, headers=commander)
    assert sent.status_code == 201, sent.text

    made = {"on_time": on_time, "wrong_plan": wrong_plan, "late": late, "missed": missed, "pending": pending}
    scored = {name: (await _report(client, commander, i["id"]))["drill"] for name, i in made.items()}
    assert scored["on_time"]["verdict"] == "on_time" and scored["on_time"]["plan_as_expected"] is True
    assert scored["on_time"]["plans_activated"] == ["cn-hazardous-chemicals"]
    assert scored["wrong_plan"]["verdict"] == "on_time" and scored["wrong_plan"]["plan_as_expected"] is False
    assert scored["late"]["verdict"] == "late" and 85 <= scored["late"]["late_by_s"] < 600
    assert scored["late"]["plan_as_expected"] is None and scored["late"]["first_decision_at"] is not None
    assert scored["missed"]["verdict"] == "missed" and scored["missed"]["first_decision_at"] is None
    assert scored["pending"]["verdict"] == "pending"
    assert scored["on_time"]["name"] == "成华区危险化学品泄漏应急演练"

    real = await client.post(
        "/api/v1/incidents", json={"description": "锦江区居民楼火灾，2人受伤", "location": SCENE}, headers=officer
    )
    assert (await _report(client, commander, real.json()["id"]))["drill"] is None  # a real incident is not scored

    for lang, heading, verdict, banner in (
        ("zh", "演练评分", "超时", "演练：本事件由演练产生"),
        ("en", "Drill score", "late by", "EXERCISE: this incident was made by a drill"),
    ):
        page = await client.get(
            f"/api/v1/incidents/{late['id']}/report",
            params={"format": "html"},
            headers={**commander, "Accept-Language": lang},
        )
        assert page.status_code == 200, page.text
        assert heading in page.text and verdict in page.text and banner in page.text


async def test_a_drill_alerts_the_phones_only_when_it_says_so(
    client: httpx.AsyncClient, people: dict[str, dict[str, str]]
) -> None:
    officer, commander, admin = people["officer"], people["commander"], people["admin"]
    quiet = await _drill_incident(client, officer)
    loud = await _drill_incident(client, officer, deliveries=True)
    for incident, email in ((quiet, "quiet@example.org"), (loud, "loud@example.org")):
        unit = await _unit(client, admin, f"演练车{incident['id']}", email=email)
        sent = await client.post(
            f"/api/v1/incidents/{incident['id']}/dispatches", json={"unit_ids": [unit]}, headers=commander
        )
        assert sent.status_code == 201, sent.text
    kept = (await client.get(f"/api/v1/deliveries?incident={quiet['id']}", headers=commander)).json()
    assert kept["total"] == 0, kept
    out = (await client.get(f"/api/v1/deliveries?incident={loud['id']}", headers=commander)).json()
    assert out["total"] >= 1 and {d["channel"] for d in out["items"]} == {"email"}
    assert all("EXERCISE" in d["subject"] and "演练" in d["subject"] for d in out["items"])
