"""``commandpost demo``: the shipped city and scenario, scenario files refused before anything runs, the demo
started twice, a city without roads, and the demo really played against its own database: incidents logged,
plans activated, units dispatched and driving, an escalation, a warning. The browser's view of it is in
tests/web/browser/test_demo_room.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.errors import Invalid
from tests.support.browser import confined_page
from tests.web.browser.conftest import SHOTS
from tests.web.test_cli import CLI, ROOT, _free_port, run
from web.cli.demo import DISTRICTS, OSM, SCENARIO, check_scenario
from web.demo.scenario import Decision, Report, WarningStep, parse

SUBTYPES = {"natural_disaster": {"earthquake", "flood"}, "accident_disaster": {"road_traffic"}}
PLANS = {"cn-earthquake"}


def test_the_shipped_city_and_scenario() -> None:
    scenario = check_scenario(SCENARIO)
    kinds = [type(step) for step in scenario.steps]
    assert kinds.count(Report) >= 6 and kinds.count(Decision) >= 5 and kinds.count(WarningStep) == 1
    # The rainstorm warning arrives before its flood report (监测预警 before 应急处置).
    warning = next(i for i, s in enumerate(scenario.steps) if isinstance(s, WarningStep))
    flood = next(i for i, s in enumerate(scenario.steps) if isinstance(s, Report) and s.id == "flood")
    assert warning < flood
    assert OSM.stat().st_size > 200_000 and DISTRICTS.stat().st_size > 10_000
    attribution = (OSM.parent / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert "OpenStreetMap contributors" in attribution and "ODbL" in attribution


@pytest.mark.parametrize(
    ("steps", "says"),
    [
        ("- {at: 0, id: a, report: 地震, location: [104, 30], category: weather}", "unknown category 'weather'"),
        ("- {at: 0, id: a, report: 地震, location: [104, 30], subtype: road_traffic, category: natural_disaster}",
         "not one of natural_disaster's"),
        ("- {at: 10, id: a, report: 地震, location: [104, 30]}\n- {at: 5, id: b, report: 车祸, location: [104, 30]}",
         "comes before the step above it"),
        ("- {at: 0, id: a, report: 地震, location: [104, 30]}\n- {at: 5, decide: a, plan: cn-nothing}",
         "the plan 'cn-nothing' does not exist"),
        ("- {at: 5, decide: a}", "which no report before it names"),
        ("- {at: 0, id: a, report: 地震, location: [204, 30]}", "longitude must be a number from -180 to 180"),
        ("- {at: 0, id: a, report: 地震, location: [104, 30]}\n- {at: 1, id: a, report: 又, location: [104, 30]}",
         "the id 'a' is used twice"),
        ("- {at: 0, report: 地震, decide: a, location: [104, 30]}", "exactly one of report, decide or warning"),
    ],
)  # fmt: skip
def test_a_scenario_that_cannot_run_is_refused_naming_the_step(steps: str, says: str) -> None:
    with pytest.raises(Invalid) as refused:
        parse(f"name: test\nsteps:\n{steps}\n", subtypes=SUBTYPES, plans=PLANS)
    assert says in refused.value.detail and "step " in refused.value.detail


def test_not_a_scenario_is_refused() -> None:
    for document in ("", "steps: []", "- a list", "steps: [1, 2]", "name: [x]\nsteps: [{at: 0}]", "{"):
        with pytest.raises(Invalid):
            parse(document, subtypes=SUBTYPES, plans=PLANS)


def test_the_demo_started_twice_says_where_the_first_runs(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = {**cli_env, "XDG_RUNTIME_DIR": str(tmp_path)}
    (tmp_path / "commandpost-demo.json").write_text(json.dumps({"pid": os.getpid(), "url": "http://127.0.0.1:8123"}))
    second = run(env, "demo", "--port", "8124", "--no-scenario")
    assert second.returncode == 2, second.stderr
    assert "already running at http://127.0.0.1:8123" in second.stderr


def test_a_drill_file_with_a_mistake_stops_before_anything_runs(cli_env: dict[str, str], tmp_path: Path) -> None:
    drill = tmp_path / "drill.yaml"
    drill.write_text("name: d\nsteps:\n- {at: 0, id: a, report: 地震, location: [104, 30], category: weather}\n")
    done = run({**cli_env, "XDG_RUNTIME_DIR": str(tmp_path)}, "demo", "--drill", str(drill))
    assert done.returncode == 2 and "unknown category 'weather'" in done.stderr
    assert "created" not in done.stdout  # no database was touched


def test_a_city_without_roads_is_a_clear_error(cli_env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "no_roads.osm"
    empty.write_text(
        '<?xml version="1.0"?><osm version="0.6"><node id="1" lat="30.6" lon="104.0" version="1">'
        '<tag k="amenity" v="hospital"/><tag k="name" v="孤岛医院"/></node></osm>',
        encoding="utf-8",
    )
    url = cli_env["COMMANDPOST_DATABASE_URL"]
    env = {**cli_env, "XDG_RUNTIME_DIR": str(tmp_path)}
    done = run(env, "demo", "--osm", str(empty), "--no-scenario", "--database-url", url)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no_roads.osm has no roads" in done.stderr


@pytest.fixture
def demo(cli_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, dict[str, str], list[str]]]:
    """``commandpost demo`` on the shipped city at 20x, on the test's own database: its URL, its users' passwords,
    and its output so far (a list the test can read again)."""
    port = _free_port()
    env = {**cli_env, "XDG_RUNTIME_DIR": str(tmp_path)}
    args = ["demo", "--port", str(port), "--speed", "20", "--database-url", cli_env["COMMANDPOST_DATABASE_URL"]]
    proc = subprocess.Popen([*CLI, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[str] = []
    passwords: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 180
        while "serving on" not in "".join(lines[-3:]):
            line = proc.stdout.readline().decode()
            if not line and proc.poll() is not None:
                raise AssertionError("the demo stopped:\n" + "".join(lines))
            lines.append(line)
            found = re.match(r"\s+(\w+)\s+(demo\.[\w-]+)\s+(\S+)$", line)
            if found:
                passwords[found.group(2)] = found.group(3)
            assert time.monotonic() < deadline, "the demo did not start within 180 s:\n" + "".join(lines)
        assert (tmp_path / "commandpost-demo.json").exists()
        yield f"http://127.0.0.1:{port}", passwords, lines
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert not (tmp_path / "commandpost-demo.json").exists()  # the second start is free again


def _token(base: str, name: str, password: str) -> dict[str, str]:
    answer = httpx.post(f"{base}/api/v1/auth/token", data={"username": name, "password": password}, timeout=10)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def _watch_the_room(base: str, password: str) -> None:
    """A commander's browser on the demo's URL: the map loads the city's units, an incident appears on the board,
    and units move on the map (positions differ from the first ones seen)."""
    async with confined_page(base) as confined:
        page = confined.page
        await page.set_viewport_size({"width": 1440, "height": 900})
        await page.goto(f"{base}/login")
        await page.fill("input[autocomplete=username]", "demo.commander")
        await page.fill("input[autocomplete=current-password]", password)
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"{base}/")
        await page.wait_for_function("() => window.__commandpost.store.units.size > 50", timeout=60_000)
        first = await page.evaluate(
            "() => Object.fromEntries([...window.__commandpost.store.units]"
            ".map(([id, u]) => [id, u.location.coordinates.join()]))"
        )
        await page.wait_for_function("() => window.__commandpost.map.incidentIds().length > 0", timeout=60_000)
        await page.wait_for_function(
            "first => [...window.__commandpost.store.units]"
            ".some(([id, u]) => first[id] && u.location.coordinates.join() !== first[id])",
            arg=first,
            timeout=90_000,
        )
        await page.wait_for_timeout(1500)
        await page.screenshot(path=str(SHOTS / "demo-room.png"))
        assert confined.refused == [], confined.refused  # nothing from the internet


async def test_the_demo_plays_its_scenario_through_the_service(demo: tuple[str, dict[str, str], list[str]]) -> None:
    base, passwords, lines = demo
    await _watch_the_room(base, passwords["demo.commander"])
    output = "".join(lines)
    assert "© OpenStreetMap contributors" in output and "demo units" in output
    assert set(passwords) == {f"demo.{r}" for r in ("admin", "duty-officer", "commander", "field-unit", "observer")}
    auth = _token(base, "demo.commander", passwords["demo.commander"])
    observer = _token(base, "demo.observer", passwords["demo.observer"])
    me = httpx.get(f"{base}/api/v1/me", headers=_token(base, "demo.field-unit", passwords["demo.field-unit"]))
    assert me.json()["role"] == "field_unit" and me.json().get("unit_id")

    seen: dict[str, object] = {}
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        incidents = httpx.get(f"{base}/api/v1/incidents", headers=observer, timeout=10).json()["items"]
        units = httpx.get(f"{base}/api/v1/resources?limit=500", headers=auth, timeout=10).json()["items"]
        moving = [u for u in units if u.get("status") in ("en_route", "transporting") and u.get("last_fix_at")]
        escalated = httpx.get(f"{base}/api/v1/escalations", headers=auth, timeout=10).json()["items"]
        warnings = httpx.get(f"{base}/api/v1/warnings?active=true", headers=auth, timeout=10).json()["items"]
        seen = {"incidents": len(incidents), "moving": len(moving), "escalated": len(escalated)}
        seen["warnings"] = len(warnings)
        if len(incidents) >= 7 and moving and escalated and warnings:
            break
        time.sleep(2)
    assert seen["incidents"] == 7 and seen["moving"] and seen["escalated"] and seen["warnings"] == 1, seen
    subtypes = {i["subtype"] for i in incidents}
    assert {"earthquake", "hazardous_chemicals", "food_poisoning", "road_traffic", "flood"} <= subtypes
    responding = [i for i in incidents if i["status"] == "responding"]
    assert len(responding) >= 5  # each decision activated a plan or dispatched, moving its incident on
    quake = next(i for i in incidents if i["subtype"] == "earthquake" and i["grade"]["level"] == "III")
    activations = httpx.get(f"{base}/api/v1/incidents/{quake['id']}/activations", headers=auth).json()["items"]
    assert [a["plan_id"] for a in activations] == ["cn-earthquake"]
    dispatches = httpx.get(f"{base}/api/v1/incidents/{quake['id']}/dispatches", headers=auth).json()["items"]
    assert len(dispatches) >= 2  # the units recommended for the plan's needs
