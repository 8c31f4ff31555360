"""Plans over HTTP: loading (JSON and YAML), matches, activation with escalation, tasks, roles, the dry run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import AuditEntry
from core.events import Event
from incidents import service as incident_service
from incidents.schemas import Status
from plans.loading import LIBRARY
from plans.models import Requirement
from tests.conftest import TokenFor
from tests.plans.conftest import MakeIncident, library

EARTHQUAKE = LIBRARY / "earthquake.yaml"
YAML = {"Content-Type": "application/yaml"}


@pytest.fixture
async def commander(token_for: TokenFor) -> dict[str, str]:
    return await token_for("commander", username="commander.zhao")


def level(plan_id: str, name: str) -> Any:
    document = next(d for _, d in library() if d.id == plan_id)
    return document.levels.get(name)


async def test_load_plans_as_yaml_and_json(
    client: httpx.AsyncClient, commander: dict[str, str], token_for: TokenFor
) -> None:
    text = EARTHQUAKE.read_text(encoding="utf-8")
    created = await client.post("/api/v1/plans", content=text.encode(), headers={**commander, **YAML})
    assert created.status_code == 201, created.text
    assert created.json()["id"] == "cn-earthquake" and created.json()["outcome"] == "created"
    again = await client.post("/api/v1/plans", content=text.encode(), headers={**commander, **YAML})
    assert again.status_code == 200 and again.json()["outcome"] == "unchanged"
    as_json = dict(created.json()["document"])
    as_json["summary"] = {"zh": "改过的摘要", "en": "changed summary"}
    clash = await client.post("/api/v1/plans", json=as_json, headers=commander)
    assert clash.status_code == 409 and "new version" in clash.json()["detail"]
    newer = await client.post("/api/v1/plans", json={**as_json, "version": "2026.2"}, headers=commander)
    assert newer.status_code == 201 and newer.json()["superseded"] == ["2026.1"]

    listed = (await client.get("/api/v1/plans", headers=commander)).json()
    assert listed["total"] == 1 and listed["items"][0]["version"] == "2026.2"
    assert (await client.get("/api/v1/plans?all_versions=true", headers=commander)).json()["total"] == 2
    old = await client.get("/api/v1/plans/cn-earthquake?version=2026.1", headers=commander)
    assert old.status_code == 200 and old.json()["current"] is False and old.json()["document"]["levels"]["I"]
    assert (await client.get("/api/v1/plans/nope", headers=commander)).status_code == 404

    observer = await token_for("observer")
    assert (await client.post("/api/v1/plans", content=text.encode(), headers={**observer, **YAML})).status_code == 403
    assert (await client.get("/api/v1/plans", headers=observer)).status_code == 200


async def test_bad_plan_bodies(client: httpx.AsyncClient, commander: dict[str, str]) -> None:
    text = EARTHQUAKE.read_text(encoding="utf-8").replace("excavator: 30", "excavator: -30")
    bad = await client.post("/api/v1/plans", content=text.encode(), headers={**commander, **YAML})
    body = bad.json()
    assert bad.status_code == 422 and body["error"] == "invalid"
    assert body["field"] == "levels.I.resources.excavator" and "(line 17)" in body["detail"]
    assert body["problems"][0]["line"] == 17
    huge = await client.post("/api/v1/plans", content=b"#" * (10 * 1024 * 1024), headers={**commander, **YAML})
    assert huge.status_code == 413 and huge.json()["error"] == "too_large"
    wrong = await client.post("/api/v1/plans", content=b"id: x", headers={**commander, "Content-Type": "text/plain"})
    assert wrong.status_code == 415 and "application/yaml" in wrong.json()["detail"]
    bomb = "a: &a [x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 4)}]\n" for p, c in zip("abcdef", "bcdefg", strict=True)
    )
    refused = await client.post("/api/v1/plans", content=bomb.encode(), headers={**commander, **YAML})
    assert refused.status_code == 422 and "YAML bomb" in refused.json()["detail"]


async def _activate(client: httpx.AsyncClient, auth: dict[str, str], incident_id: int, **body: Any) -> httpx.Response:
    return await client.post(f"/api/v1/incidents/{incident_id}/activations", json=body, headers=auth)


async def test_activation_creates_tasks_requirements_notices_on_the_timeline(
    client: httpx.AsyncClient,
    session: AsyncSession,
    token_for: TokenFor,
    commander: dict[str, str],
    loaded: object,
    make_incident: MakeIncident,
) -> None:
    incident = await make_incident("earthquake", level="II")
    await session.commit()
    matches = (await client.get(f"/api/v1/incidents/{incident.id}/plan-matches", headers=commander)).json()
    assert matches["items"][0]["plan_id"] == "cn-earthquake"
    assert set(matches["items"][0]) >= {"plan_id", "name", "score", "reasons"}
    assert [m["plan_id"] for m in matches["items"]][-1] == "cn-natural-disaster-relief"

    response = await _activate(client, commander, incident.id, plan_id="cn-earthquake")
    assert response.status_code == 201, response.text
    out = response.json()
    ii = level("cn-earthquake", "II")
    assert out["level"] == "II" and out["plan_version"] == "2026.1" and out["outcome"] == "activated"
    assert len(out["tasks"]) == len(ii.tasks())
    assert {r["resource_type"]: r["count"] for r in out["requirements"]} == ii.resources
    assert all(r["filled"] == 0 for r in out["requirements"])
    assert len(out["notices"]) == len(ii.notify) and out["matched"] is True
    first = min(out["tasks"], key=lambda t: t["due_minutes"])
    assert first["status"] == "pending" and first["due_at"] > out["activated_at"]

    refreshed = await incident_service.get_incident(session, incident_id=incident.id)  # read again from the table
    assert refreshed.status == "responding"
    kinds = [e.kind for e in await incident_service.timeline(session, incident_id=incident.id)]
    # The plan's entry, then the move to responding it caused.
    assert kinds[-2:] == ["plan_activated", "transition"]
    events = list(await session.scalars(select(Event).where(Event.incident_id == incident.id).order_by(Event.id)))
    assert events[-1].type == "plan.activated" and events[-1].data["incident_id"] == incident.id
    assert events[-1].data["activation"]["id"] == out["id"]
    audit = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "plans.activate"))).one()
    assert audit.outcome == "ok" and audit.target["activation_id"] == out["id"]

    # Read back: the incident's activations, as the activation answered (an observer may read them).
    listed = await client.get(f"/api/v1/incidents/{incident.id}/activations", headers=await token_for("observer"))
    assert listed.status_code == 200, listed.text
    [again] = listed.json()["items"]
    assert listed.json()["total"] == 1
    same = ("id", "plan_id", "plan_version", "level", "activated_at", "tasks", "requirements", "notices")
    assert {k: again[k] for k in same} == {k: out[k] for k in same}
    missing = await client.get("/api/v1/incidents/999999999/activations", headers=commander)
    assert missing.status_code == 404 and set(missing.json()) == {"error", "detail"}


async def test_escalation_adds_only_the_delta_and_lowering_withdraws_nothing(
    client: httpx.AsyncClient,
    session: AsyncSession,
    commander: dict[str, str],
    loaded: object,
    make_incident: MakeIncident,
) -> None:
    incident = await make_incident("earthquake", level="II")
    await session.commit()
    first = (await _activate(client, commander, incident.id, plan_id="cn-earthquake")).json()
    escalated = await _activate(client, commander, incident.id, plan_id="cn-earthquake", level="I")
    assert escalated.status_code == 200, escalated.text
    out = escalated.json()
    ii, i = level("cn-earthquake", "II"), level("cn-earthquake", "I")
    assert out["outcome"] == "escalated" and out["level"] == "I" and out["id"] == first["id"]
    # Requirements: level II rows stay; level I rows carry only the difference.
    rows = list(await session.scalars(select(Requirement).where(Requirement.activation_id == out["id"])))
    delta = {k: n - ii.resources.get(k, 0) for k, n in i.resources.items() if n > ii.resources.get(k, 0)}
    assert {r.resource_type: r.count for r in rows if r.level == "I"} == delta
    assert {r["resource_type"]: r["count"] for r in out["requirements"]} == i.resources
    # Tasks and notices: each once.
    titles = [t["title"] for t in out["tasks"]]
    assert len(titles) == len(set(titles)) == len({t.task.zh for _, t in [*ii.tasks(), *i.tasks()]})
    assert set(out["added"]["tasks"]) == {t.task.zh for _, t in i.tasks()} - {t.task.zh for _, t in ii.tasks()}
    assert len(out["notices"]) == len({n.key for n in [*ii.notify, *i.notify]})
    assert {n["level"] for n in out["notices"] if n["agency"] == "中国地震局"} == {"I"}
    events = list(await session.scalars(select(Event).where(Event.type == "plan.escalated")))
    assert len(events) == 1 and events[0].data["from"] == "II" and events[0].data["incident_id"] == incident.id

    same = await _activate(client, commander, incident.id, plan_id="cn-earthquake", level="I")
    assert same.status_code == 200 and same.json()["outcome"] == "unchanged" and same.json()["added"]["tasks"] == []
    lowered = await _activate(client, commander, incident.id, plan_id="cn-earthquake", level="III")
    assert lowered.status_code == 200 and lowered.json()["outcome"] == "lowered"
    assert "nothing was withdrawn" in lowered.json()["message"]
    assert len(lowered.json()["tasks"]) == len(titles) and lowered.json()["requirements"] == out["requirements"]
    timeline = [e.kind for e in await incident_service.timeline(session, incident_id=incident.id)]
    assert {"plan_escalated", "plan_level_lowered"} <= set(timeline)
    back_up = (await _activate(client, commander, incident.id, plan_id="cn-earthquake", level="I")).json()
    assert back_up["outcome"] == "escalated" and back_up["added"] == {"tasks": [], "requirements": {}, "notices": []}


async def test_an_activation_keeps_the_version_it_activated(
    client: httpx.AsyncClient,
    session: AsyncSession,
    commander: dict[str, str],
    loaded: object,
    make_incident: MakeIncident,
) -> None:
    incident = await make_incident("earthquake", level="II")
    await session.commit()
    await _activate(client, commander, incident.id, plan_id="cn-earthquake")
    document = (await client.get("/api/v1/plans/cn-earthquake", headers=commander)).json()["document"]
    extra = {
        "task": {"zh": "新版本才有的任务", "en": "A task only the new version has"},
        "role": "liaison",
        "due_minutes": 5,
    }
    document["levels"]["I"]["phases"][0]["tasks"].append(extra)
    newer = await client.post("/api/v1/plans", json={**document, "version": "2027.1"}, headers=commander)
    assert newer.status_code == 201
    escalated = (await _activate(client, commander, incident.id, plan_id="cn-earthquake", level="I")).json()
    assert escalated["plan_version"] == "2026.1"
    assert "新版本才有的任务" not in {t["title"] for t in escalated["tasks"]}
    other = await make_incident("earthquake", level="I", description="另一次地震")
    await session.commit()
    fresh = (await _activate(client, commander, other.id, plan_id="cn-earthquake")).json()
    assert fresh["plan_version"] == "2027.1" and "新版本才有的任务" in {t["title"] for t in fresh["tasks"]}


async def test_roles_and_states(
    client: httpx.AsyncClient,
    session: AsyncSession,
    token_for: TokenFor,
    commander: dict[str, str],
    loaded: object,
    make_incident: MakeIncident,
) -> None:
    incident = await make_incident("building_fire", level="III")
    ungraded = await make_incident("building_fire", description="又一起火灾，情况不明")
    await session.commit()
    field = await token_for("field_unit", unit_id=42)
    for role, auth in (
        ("observer", await token_for("observer")),
        ("duty_officer", await token_for("duty_officer")),
        ("field_unit", field),
    ):
        assert (await _activate(client, auth, incident.id, plan_id="cn-building-fire")).status_code == 403, role
    assert (await client.get(f"/api/v1/incidents/{incident.id}/plan-matches", headers=field)).status_code == 404
    assert (await _activate(client, commander, incident.id, plan_id="no-such-plan")).status_code == 404
    assert (await _activate(client, commander, 999_999, plan_id="cn-building-fire")).status_code == 404
    assert (await _activate(client, commander, incident.id, plan_id="cn-building-fire", level="V")).status_code == 422
    default = await _activate(client, commander, ungraded.id, plan_id="cn-building-fire")
    # No figures, no grade: the activation's level defaults to IV (API.md), not to the incident's missing grade.
    assert ungraded.level is None
    assert default.status_code == 201 and default.json()["level"] == "IV"
    graded = await client.post(
        f"/api/v1/incidents/{incident.id}/activations", json={"plan_id": "cn-building-fire"}, headers=commander
    )
    assert graded.status_code == 201 and graded.json()["level"] == "III", "a graded incident's level is the default"
    for step in ("contained", "closed"):
        await incident_service.transition(session, incident_id=incident.id, to=Status(step), actor="test")
    await session.commit()
    closed = await _activate(client, commander, incident.id, plan_id="cn-hazardous-chemicals")
    assert closed.status_code == 409 and "closed" in closed.json()["detail"]


async def test_tasks_start_complete_reassign(
    client: httpx.AsyncClient,
    session: AsyncSession,
    token_for: TokenFor,
    commander: dict[str, str],
    loaded: object,
    make_incident: MakeIncident,
) -> None:
    incident = await make_incident("gas_leak", level="IV")
    await session.commit()
    await _activate(client, commander, incident.id, plan_id="cn-hazardous-chemicals")
    tasks = (await client.get(f"/api/v1/incidents/{incident.id}/tasks", headers=commander)).json()["items"]
    assert len(tasks) == len(level("cn-hazardous-chemicals", "IV").tasks())
    task = tasks[0]
    officer = await token_for("duty_officer", username="officer.qian")
    started = await client.post(f"/api/v1/tasks/{task['id']}/start", headers=officer)
    assert started.status_code == 200 and started.json()["status"] == "started"
    assert started.json()["assignee"] == "officer.qian"
    assert (await client.post(f"/api/v1/tasks/{task['id']}/start", headers=officer)).status_code == 409
    moved = await client.post(
        f"/api/v1/tasks/{task['id']}/reassign",
        json={"assignee": "hazmat.sun", "role": "hazmat_lead"},
        headers=commander,
    )
    assert moved.json()["assignee"] == "hazmat.sun" and moved.json()["role"] == "hazmat_lead"
    stale = await client.post(f"/api/v1/tasks/{task['id']}/complete", headers={**commander, "If-Match": '"1"'})
    assert stale.status_code == 409
    done = await client.post(f"/api/v1/tasks/{task['id']}/complete", json={"note": "关阀完成"}, headers=commander)
    assert done.status_code == 200 and done.json()["status"] == "done" and done.json()["done_at"]
    assert (await client.post(f"/api/v1/tasks/{task['id']}/complete", headers=commander)).status_code == 409
    observer = await token_for("observer")
    assert (await client.post(f"/api/v1/tasks/{tasks[1]['id']}/start", headers=observer)).status_code == 403
    assert (await client.post("/api/v1/tasks/999999/start", headers=commander)).status_code == 404
    bad_role = await client.post(
        f"/api/v1/tasks/{tasks[1]['id']}/reassign", json={"assignee": "x", "role": "chef"}, headers=commander
    )
    assert bad_role.status_code == 422 and "unknown role" in bad_role.json()["detail"]
    events = [
        e.data["action"]
        for e in await session.scalars(select(Event).where(Event.type == "task.updated").order_by(Event.id))
    ]
    assert events == ["start", "reassign", "complete"]
    done_list = (await client.get(f"/api/v1/incidents/{incident.id}/tasks?status=done", headers=commander)).json()
    assert [t["id"] for t in done_list["items"]] == [task["id"]]


EXAMPLES = Path(LIBRARY).parent / "examples" / "incidents.yaml"


async def test_dry_run_over_posted_examples_and_stored_incidents(
    client: httpx.AsyncClient,
    session: AsyncSession,
    commander: dict[str, str],
    loaded: object,
    make_incident: MakeIncident,
) -> None:
    report = await client.post("/api/v1/plans/check", content=EXAMPLES.read_bytes(), headers={**commander, **YAML})
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["incidents"] >= 48 and body["covered"] < body["incidents"]
    assert "cyber_attack" in body["subtypes"]["uncovered"] and "earthquake" in body["subtypes"]["covered"]
    await make_incident("cyber_attack", level="IV", description="政务网站遭受网络攻击")
    await make_incident("earthquake", level="III", description="地震")
    await session.commit()
    stored = (await client.post("/api/v1/plans/check", headers=commander)).json()
    assert stored["incidents"] == 2 and stored["covered"] == 1 and stored["uncovered"][0]["subtype"] == "cyber_attack"
    bad = await client.post(
        "/api/v1/plans/check", json={"incidents": [{"subtype": "unicorn", "location": [104, 30]}]}, headers=commander
    )
    assert bad.status_code == 422 and "unknown subtype 'unicorn'" in bad.json()["detail"]
