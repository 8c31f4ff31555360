"""A drill (演练) end to end against a real server, its clock sped up 30 times: the player logs its reports and its
warning as an exercise while "the room" (this test) decides one incident on time, one late and one never; the
score says so; every record the drill made is marked as an exercise (the incident, its CAP, its warning), kept out
of the real counters and of a real report's duplicate check; clearing it closes its incidents, releases its
units and ends its warning, audited. The shipped drills are checked too."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from core.users import Role, add_user
from plans import service as plans_service
from tests.conftest import TokenFor
from tests.support.browser import confined_page
from tests.web.browser.conftest import SHOTS
from web.cli.demo import check_scenario
from web.demo.runner import Runner
from web.demo.scenario import Decision
from web.state import state_of

SPEED = 30.0
HERE = (104.0590, 30.6650)
DRILL = """
name: {zh: 测试演练, en: Test drill}
exercise: true
steps:
  - {at: 0, id: quake, report: 青羊区发生5.6级地震，西御街多栋房屋倒塌，15人受伤, location: [104.0590, 30.6650]}
  - {at: 0, decide: quake, plan: cn-earthquake, due: 60}
  - {at: 10, id: crash, report: 二环高架两车相撞，2人受伤, location: [104.0600, 30.6660]}
  - {at: 10, decide: crash, due: 40}
  - {at: 20, id: poison, report: 武侯区某小学32名学生呕吐腹泻，疑似食物中毒, location: [104.0610, 30.6670]}
  - {at: 20, decide: poison, due: 80}
  - at: 30
    warning: storm
    cap: |
      <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
        <identifier>{identifier}</identifier><sender>drill@test</sender><sent>{sent}</sent>
        <status>{status}</status><msgType>Alert</msgType><scope>Public</scope>
        <info><category>Met</category><event>暴雨</event><urgency>Immediate</urgency><severity>Severe</severity>
          <certainty>Likely</certainty><expires>{expires}</expires>
          <area><areaDesc>青羊区</areaDesc>
            <polygon>30.60,104.00 30.60,104.10 30.70,104.10 30.70,104.00 30.60,104.00</polygon></area>
        </info>
      </alert>
"""


@pytest.mark.parametrize("name", ["drill-earthquake-qingyang.yaml", "drill-chemical-leak.yaml"])
def test_the_shipped_drills_are_exercises_with_expected_decisions(name: str) -> None:
    drill = check_scenario(Path(__file__).resolve().parents[2] / "web" / "demo" / "scenarios" / name)
    expected = [s for s in drill.steps if isinstance(s, Decision)]
    assert drill.exercise and len(expected) >= 3 and all(s.due is not None for s in expected)
    assert expected[0].plan is not None


async def _units(http: httpx.AsyncClient, admin: dict[str, str]) -> list[int]:
    made = []
    for i, kind in enumerate(("ambulance", "ambulance", "fire_engine", "rescue_team")):
        body = {
            "type": kind,
            "name": f"演练{i}",
            "location": {"type": "Point", "coordinates": [HERE[0], HERE[1] + i * 0.002]},
        }
        answer = await http.post("/api/v1/resources", json=body, headers=admin)
        assert answer.status_code == 201, answer.text
        made.append(answer.json()["id"])
    return made


async def _room(http: httpx.AsyncClient, runner: Runner, commander: dict[str, str], units: list[int]) -> None:
    """The people in the room: the earthquake plan activated as soon as the report is in (on time), a unit sent to
    the crash only once its due time is past (late), the poisoning never decided."""
    while "quake" not in runner.played.incidents:
        await asyncio.sleep(0.05)
    quake = runner.played.incidents["quake"]
    answer = await http.post(
        f"/api/v1/incidents/{quake}/activations", json={"plan_id": "cn-earthquake"}, headers=commander
    )
    assert answer.status_code == 201, answer.text
    await asyncio.sleep(55 / SPEED)  # the crash comes at 10 s and is due at 40 s: now is about 55 s
    crash = runner.played.incidents["crash"]
    answer = await http.post(f"/api/v1/incidents/{crash}/dispatches", json={"unit_ids": [units[0]]}, headers=commander)
    assert answer.status_code == 201, answer.text


async def test_a_drill_is_played_scored_marked_and_cleared(
    live_app: Any, live_server: str, live_token_for: TokenFor
) -> None:
    async with state_of(live_app).sessionmaker() as session:
        await plans_service.load_path(session, path=plans_service.LIBRARY, actor="test")
        await session.commit()
    admin = await live_token_for("admin")
    officer = await live_token_for("duty_officer")
    commander = await live_token_for("commander")
    drill = check_scenario_text(DRILL)
    async with httpx.AsyncClient(base_url=f"http://{live_server}", timeout=30) as http:
        units = await _units(http, admin)
        for unit in units[:2]:  # the crews' e-mail: a real dispatch writes to it, a drill's never
            contact = {
                "name": f"crew {unit}",
                "unit_id": unit,
                "channels": [{"type": "email", "address": f"c{unit}@example.org"}],
            }
            assert (await http.post("/api/v1/contacts", json=contact, headers=admin)).status_code == 201
        real = await http.post(
            "/api/v1/incidents",
            json={
                "description": "青羊区发生5.6级地震，西御街多栋房屋倒塌，15人受伤",
                "location": {"type": "Point", "coordinates": list(HERE)},
            },
            headers=officer,
        )
        assert real.status_code == 201 and real.json()["exercise"] is False

        runner = Runner(http, drill, officer=officer, commander=commander, speed=SPEED, decide=False)
        room = asyncio.create_task(_room(http, runner, commander, units))
        played = await runner.run()
        await room
        assert not played.failures, played.failures
        score = await runner.score()

        by_name = {d.incident: d for d in score.decisions}
        assert by_name["quake"].made and by_name["quake"].on_time and by_name["quake"].plans == ["cn-earthquake"]
        assert by_name["crash"].made and not by_name["crash"].on_time and by_name["crash"].units == 1
        assert by_name["crash"].decided_s is not None and by_name["crash"].decided_s > 40
        assert not by_name["poison"].made and by_name["poison"].decided_s is None
        assert score.on_time == 1 and score.as_dict()["expected"] == 3
        # The same verdicts in each incident's after-action report, from its event log and the drill's expectations.
        verdicts = {}
        for name, incident_id in played.incidents.items():
            report = await http.get(f"/api/v1/incidents/{incident_id}/report", headers=commander)
            assert report.status_code == 200 and report.json()["exercise"] is True, report.text
            verdicts[name] = report.json()["drill"]
        assert verdicts["quake"]["verdict"] == "on_time" and verdicts["quake"]["plan_as_expected"] is True
        assert verdicts["crash"]["verdict"] == "late" and verdicts["crash"]["late_by_s"] > 0
        assert verdicts["quake"]["name"] == "测试演练"
        # The poisoning, never decided, is pending until its due time (80 s, under 3 s of real time) and then missed.
        due = datetime.fromisoformat(verdicts["poison"]["decide_by"])
        assert verdicts["poison"]["verdict"] == ("pending" if datetime.now(UTC) < due else "missed")
        await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.2)
        poison = played.incidents["poison"]
        report = (await http.get(f"/api/v1/incidents/{poison}/report", headers=commander)).json()
        assert report["drill"]["verdict"] == "missed" and report["drill"]["first_decision_at"] is None

        # Every record the drill made is marked as an exercise.
        for incident_id in played.incidents.values():
            shown = (await http.get(f"/api/v1/incidents/{incident_id}", headers=commander)).json()
            assert shown["exercise"] is True and shown["possible_duplicate_of"] is None
            cap = await http.get(f"/api/v1/incidents/{incident_id}/cap", headers=commander)
            assert "<status>Exercise</status>" in cap.text
        (warning_id,) = played.warnings["storm"]
        warning = (await http.get(f"/api/v1/warnings/{warning_id}", headers=commander)).json()
        assert warning["status"] == "Exercise"
        # The real report is not taken for a repeat of the drill's (or the other way round), and only it counts.
        assert (await http.get(f"/api/v1/incidents/{real.json()['id']}", headers=commander)).json()[
            "possible_duplicate_of"
        ] is None
        picture = (await http.get("/api/v1/situation", headers=commander)).json()
        assert picture["incidents"]["open"] == 1 and picture["exercises_open"] == 3
        # Nothing of the drill left the building; the real incident's dispatch did.
        crash = played.incidents["crash"]
        drill_mail = (await http.get(f"/api/v1/deliveries?incident={crash}", headers=commander)).json()
        assert drill_mail["total"] == 0, drill_mail
        sent = await http.post(
            f"/api/v1/incidents/{real.json()['id']}/dispatches", json={"unit_ids": [units[1]]}, headers=commander
        )
        assert sent.status_code == 201, sent.text
        real_mail = (await http.get(f"/api/v1/deliveries?incident={real.json()['id']}", headers=commander)).json()
        assert real_mail["total"] >= 1 and {d["channel"] for d in real_mail["items"]} == {"email"}

        async with state_of(live_app).sessionmaker() as session:
            await add_user(session, username="drill.watch", password=WATCHER_PASSWORD, role=Role.commander)
            await add_user(
                session, username="drill.crew", password=WATCHER_PASSWORD, role=Role.field_unit, unit_id=units[0]
            )
            await session.commit()
        async with confined_page(f"http://{live_server}") as confined:
            page = confined.page
            await _sign_in(page, f"http://{live_server}")
            banner = page.locator("[data-counter=exercises]")
            await banner.wait_for(timeout=30_000)
            assert (await banner.inner_text()).split() == ["3", "Exercise", "running"]  # the browser speaks English
            assert await page.locator("#board-list .drill").count() == 3  # each drill row says so; the real one not
            assert (await page.locator("[data-counter=open] b").inner_text()) == "1"
            await page.screenshot(path=str(SHOTS / "room-exercise.png"))
            # Every page says so: the intake desk's banner, and the crew's alert for the drill's dispatch.
            await page.goto(f"http://{live_server}/intake")
            desk = page.locator("#exercises")
            await desk.wait_for(state="visible", timeout=30_000)
            assert (await desk.inner_text()).split() == ["3", "Exercise", "running"]
            await page.screenshot(path=str(SHOTS / "intake-exercise.png"))
        async with confined_page(f"http://{live_server}") as crew:
            await _sign_in(crew.page, f"http://{live_server}", username="drill.crew", landing="/field")
            await crew.page.locator("#f-alert").wait_for(state="visible", timeout=30_000)
            assert (await crew.page.locator("#f-alert-kind").inner_text()).startswith("EXERCISE")
            await crew.page.screenshot(path=str(SHOTS / "field-exercise.png"))
        async with confined_page(f"http://{live_server}") as confined:
            page = confined.page
            await _sign_in(page, f"http://{live_server}")
            banner = page.locator("[data-counter=exercises]")
            await banner.wait_for(timeout=30_000)

            # The drill is over.
            refused = await http.post("/api/v1/exercises/clear", headers=officer)
            assert refused.status_code == 403
            cleared = await http.post("/api/v1/exercises/clear", headers=commander)
            assert cleared.status_code == 200, cleared.text
            await banner.wait_for(state="detached", timeout=30_000)  # the room learns of it without a reload
        body = cleared.json()
        assert sorted(body["incidents"]) == sorted(played.incidents.values())
        assert body["units_released"] == [units[0]] and body["warnings_ended"] == 1
        for incident_id in played.incidents.values():
            status = (await http.get(f"/api/v1/incidents/{incident_id}", headers=commander)).json()["status"]
            assert status in ("closed", "cancelled")
        unit = (await http.get(f"/api/v1/resources/{units[0]}", headers=commander)).json()
        assert unit["status"] == "available"
        active = (await http.get("/api/v1/warnings?active=true", headers=commander)).json()["items"]
        assert warning_id not in [w["id"] for w in active]
        picture = (await http.get("/api/v1/situation", headers=commander)).json()
        assert picture["exercises_open"] == 0 and picture["incidents"]["open"] == 1
        again = (await http.post("/api/v1/exercises/clear", headers=commander)).json()
        assert again == {"incidents": [], "units_released": [], "warnings_ended": 0}
    async with state_of(live_app).sessionmaker() as session:
        audited = await session.scalar(text("SELECT count(*) FROM audit_log WHERE action = 'exercises.clear'"))
    assert audited >= 2  # the refused attempt and the two that ran


WATCHER_PASSWORD = "drill-watch-password"


async def _sign_in(page: Any, origin: str, *, username: str = "drill.watch", landing: str = "/") -> None:
    await page.set_viewport_size({"width": 1440, "height": 900} if landing == "/" else {"width": 412, "height": 860})
    await page.goto(f"{origin}/login")
    await page.fill("input[autocomplete=username]", username)
    await page.fill("input[autocomplete=current-password]", WATCHER_PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{origin}{landing}")


def check_scenario_text(document: str) -> Any:
    """``DRILL`` checked against the real taxonomy and plan library, as ``commandpost demo --drill`` checks a file."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", encoding="utf-8", delete=False) as file:
        file.write(document)
    try:
        return check_scenario(Path(file.name))
    finally:
        Path(file.name).unlink()
