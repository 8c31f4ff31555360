"""After-action reports and response-time percentiles (command/reports.py, web/routes/reports.py), checked against a
hand-made event log: events inserted with known times, then every interval and percentile compared exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.events import Event
from tests.conftest import TokenFor

SCENE = {"type": "Point", "coordinates": [104.0614, 30.6880]}
R = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)  # when the incident was reported


def at(minutes: float) -> datetime:
    return R + timedelta(minutes=minutes)


def iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.fixture
async def commander(token_for: TokenFor) -> dict[str, str]:
    return await token_for("commander", username="cmd.report")


async def _incident(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    body = {"description": "居民楼火灾，2人受伤", "location": SCENE, "reported_at": iso(R), "title": "锦江区居民楼火灾"}
    response = await client.post("/api/v1/incidents", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _dispatch(dispatch_id: int, unit_id: int, name: str, created: datetime, **more: Any) -> dict[str, Any]:
    return {
        "id": dispatch_id,
        "unit_id": unit_id,
        "unit_type": "ambulance",
        "created_at": iso(created),
        "unit": {"id": unit_id, "name": name, "type": "ambulance"},
        **more,
    }


def _task(task_id: int, due: datetime, done: datetime | None) -> dict[str, Any]:
    return {
        "id": task_id,
        "title": f"任务{task_id}",
        "title_en": f"task {task_id}",
        "role": "commander",
        "due_at": iso(due),
        "done_at": iso(done) if done else None,
    }


def hand_made_log(incident_id: int, u1: int, u2: int) -> list[Event]:
    """Two units' ways through the incident, a late task, an escalation, failed deliveries and a track."""

    def ev(type: str, moment: datetime, data: dict[str, Any], unit_id: int | None = None) -> Event:
        scoped = None if type == "unit.location" else incident_id
        return Event(type=type, data=data, incident_id=scoped, unit_id=unit_id, created_at=moment)

    d1 = lambda **more: _dispatch(9001, u1, "救护1", at(1.5), **more)  # noqa: E731
    d2 = lambda **more: _dispatch(9002, u2, "救护2", at(4), **more)  # noqa: E731
    return [
        ev("dispatch.created", at(1.5), d1(status="dispatched"), u1),
        ev("dispatch.acknowledged", at(2), d1(status="dispatched", acknowledged_at=iso(at(2))), u1),
        ev("dispatch.updated", at(3), d1(status="en_route"), u1),  # no phone time: as logged
        ev("dispatch.updated", at(10), d1(status="on_scene", status_at=iso(at(9))), u1),  # the phone said 08:09
        ev("dispatch.updated", at(20), d1(status="transporting"), u1),
        ev("dispatch.updated", at(35), d1(status="at_hospital"), u1),
        ev("dispatch.closed", at(50), d1(status="completed", closed_at=iso(at(50)), close_reason="completed"), u1),
        ev("dispatch.created", at(4), d2(status="dispatched"), u2),
        ev("dispatch.escalated", at(6), d2(status="dispatched", escalated_at=iso(at(6)), waited_s=120.0), u2),
        ev(
            "dispatch.escalation_handled",
            at(7),
            d2(escalation_handled_at=iso(at(7)), escalation_handled_by="cmd.wang", escalation_handling="acknowledged"),
            u2,
        ),
        ev("dispatch.acknowledged", at(7), d2(status="dispatched", acknowledged_at=iso(at(7))), u2),
        ev("dispatch.updated", at(15), d2(status="on_scene"), u2),
        ev("task.updated", at(42), {"action": "complete", "task": _task(1, at(30), at(42))}),  # 12 min late
        ev("task.updated", at(20), {"action": "complete", "task": _task(2, at(30), at(20))}),  # in time
        ev("task.overdue", at(41), {"task": _task(3, at(40), None)}),  # never done
        ev("delivery.failed", at(2), {"id": 77, "kind": "dispatch.alert", "channel": "sms", "tries": 1}),
        ev(
            "delivery.dead",
            at(5),
            {"id": 77, "kind": "dispatch.alert", "channel": "sms", "tries": 3, "last_error": "gateway said 503"},
        ),  # fmt: skip
        ev("delivery.failed", at(6), {"id": 78, "kind": "plan.notice", "channel": "webhook", "tries": 1}),
        # u1's positions: one before its dispatch (not on the map), two while dispatched.
        ev(
            "unit.location", at(-60), {"name": "救护1", "location": {"type": "Point", "coordinates": [104.0, 30.6]}}, u1
        ),
        ev(
            "unit.location", at(4), {"name": "救护1", "location": {"type": "Point", "coordinates": [104.05, 30.68]}}, u1
        ),
        ev(
            "unit.location",
            at(8),
            {"name": "救护1", "location": {"type": "Point", "coordinates": [104.06, 30.688]}},
            u1,
        ),
    ]


def _steps(unit: dict[str, Any]) -> list[tuple[str, float, float, str]]:
    return [(m["name"], m["since_reported_s"], m["since_previous_s"], m["source"]) for m in unit["milestones"]]


async def test_the_report_figures_match_a_hand_made_event_log(
    client: httpx.AsyncClient, commander: dict[str, str], session: AsyncSession
) -> None:
    incident = await _incident(client, commander)
    session.add_all(hand_made_log(incident["id"], 501, 502))
    await session.commit()

    response = await client.get(f"/api/v1/incidents/{incident['id']}/report", headers=commander)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["partial"] is True and report["closed_at"] is None and report["status"] == "reported"
    assert report["reported_at"] == "2026-11-01T08:00:00Z"
    one, two = report["units"]
    assert (one["unit_name"], one["close_reason"], two["unit_name"]) == ("救护1", "completed", "救护2")
    assert _steps(one) == [
        ("dispatched", 90, 90, "server"),
        ("acknowledged", 120, 30, "server"),
        ("en_route", 180, 60, "server"),
        ("on_scene", 540, 360, "device"),  # the phone's 08:09, not the 08:10 it was logged at
        ("transporting", 1200, 660, "server"),
        ("at_hospital", 2100, 900, "server"),
        ("cleared", 3000, 900, "server"),
    ]
    assert _steps(two) == [("dispatched", 240, 240, "server"), ("acknowledged", 420, 180, "server"),
                           ("on_scene", 900, 480, "server")]  # fmt: skip
    late = {t["task_id"]: t for t in report["late_tasks"]}
    assert set(late) == {1, 3}  # task 2 was done in time
    assert (late[1]["late_s"], late[1]["done"]) == (720, True)
    assert late[3]["done"] is False and late[3]["late_s"] > 0  # still open: late as of now
    (escalation,) = report["escalations"]
    assert escalation["unit_id"] == 502 and escalation["waited_s"] == 120
    assert (escalation["handled_by"], escalation["handling"]) == ("cmd.wang", "acknowledged")
    failed = {d["delivery_id"]: d["state"] for d in report["failed_deliveries"]}
    assert failed == {77: "dead", 78: "failed"}
    features = report["map"]["features"]
    assert features[0]["geometry"] == SCENE and features[0]["properties"]["kind"] == "incident"
    (track,) = [f for f in features if f["properties"]["kind"] == "track"]
    assert track["geometry"] == {"type": "LineString", "coordinates": [[104.05, 30.68], [104.06, 30.688]]}
    assert report["timeline"][0]["kind"] == "created"

    # Closed at 09:00 (as its newest incident event says): complete, and task 3 late by 09:00 − 08:40.
    closed = {**incident, "status": "closed", "change": "status"}
    session.add(Event(type="incident.updated", data=closed, incident_id=incident["id"], created_at=at(60)))
    await session.commit()
    report = (await client.get(f"/api/v1/incidents/{incident['id']}/report", headers=commander)).json()
    assert report["partial"] is False and report["closed_at"] == "2026-11-01T09:00:00Z"
    assert {t["task_id"]: t["late_s"] for t in report["late_tasks"]} == {1: 720, 3: 1200}


async def test_the_printable_report_in_chinese_and_english(
    client: httpx.AsyncClient, commander: dict[str, str], session: AsyncSession
) -> None:
    incident = await _incident(client, commander)
    session.add_all(hand_made_log(incident["id"], 601, 602))
    await session.commit()
    path = f"/api/v1/incidents/{incident['id']}/report"
    zh = await client.get(path, params={"format": "html", "tz": "Asia/Shanghai"}, headers=commander)
    assert zh.status_code == 200 and zh.headers["content-type"].startswith("text/html")
    assert "style-src 'self'" in zh.headers["content-security-policy"] and "script" not in zh.text
    page = zh.text
    assert '<html lang="zh-CN">' in page and "事后评估报告" in page and "阶段性报告" in page
    assert "16:09:00†" in page  # on scene, by the phone, in Beijing time
    assert "<svg" in page and "<polyline" in page and "救护1" in page
    english = {**commander, "Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"}
    en = await client.get(path, params={"format": "html"}, headers=english)
    assert '<html lang="en">' in en.text and "After-action report" in en.text and "08:09:00†" in en.text
    assert "partial report" in en.text and "Late by" in en.text and "12:00" in en.text
    assert 'href="../../../../static/' in page  # relative: it works under any prefix the service is mounted at
    css = await client.get("/static/x/css/report.css")
    assert css.status_code == 200 and "@media print" in css.text
    bad = await client.get(path, params={"format": "html", "tz": "Mars/Olympus"}, headers=commander)
    assert bad.status_code == 422 and bad.json()["error"] == "invalid"


async def test_who_may_read_a_report(
    client: httpx.AsyncClient, commander: dict[str, str], token_for: TokenFor, session: AsyncSession
) -> None:
    incident = await _incident(client, commander)
    path = f"/api/v1/incidents/{incident['id']}/report"
    for role in ("observer", "duty_officer", "admin"):
        assert (await client.get(path, headers=await token_for(role))).status_code == 200, role
    unit = {"type": "ambulance", "name": "A9", "location": SCENE}
    unit_id = (await client.post("/api/v1/resources", json=unit, headers=await token_for("admin"))).json()["id"]
    crew = await token_for("field_unit", unit_id=unit_id)
    # A field unit is refused the reports (403) before the incident is looked at: the same for one that exists.
    response = await client.get(path, headers=crew)
    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    assert (await client.get("/api/v1/incidents/999999999/report", headers=crew)).status_code == 403
    assert (await client.get("/api/v1/incidents/999999999/report", headers=commander)).status_code == 404
    assert (await client.get(path)).status_code == 401
    times = "/api/v1/reports/response-times?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z"
    assert (await client.get(times, headers=crew)).status_code == 403


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),  # reversed
        ("from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),  # empty
        ("from=2025-01-01T00:00:00Z&to=2026-01-03T00:00:00Z", "to"),  # 367 days
        ("from=2026-01-01T00:00:00&to=2026-01-03T00:00:00", "from"),  # no zone
        ("from=yesterday&to=2026-01-03T00:00:00Z", "from"),
        ("to=2026-01-03T00:00:00Z", "from"),
        ("from=0001-01-01T00:00:00Z&to=0001-01-02T00:00:00Z", "from"),  # before any log
        ("from=2026-01-01T00:00:00 08:00&to=2026-01-03T00:00:00Z", "from"),  # a '+' sent unencoded is a space
    ],
)
async def test_a_bad_period_is_422(
    client: httpx.AsyncClient, commander: dict[str, str], query: str, field: str
) -> None:
    response = await client.get(f"/api/v1/reports/response-times?{query}", headers=commander)
    assert response.status_code == 422, response.text
    assert set(response.json()) >= {"error", "detail"} and field in response.text


def percentile_cont(values: list[float], q: float) -> float:
    """PostgreSQL's percentile_cont: linear between the two nearest ranks."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


P0 = datetime(2020, 3, 1, tzinfo=UTC)  # a period no other test logs incidents in


def _period_log() -> tuple[list[Event], dict[str, list[float]]]:
    """Five incidents of accident_disaster/IV with known intervals (one with two units), one that was regraded from
    III to II, one with no unit, and one logged after the period."""
    events: list[Event] = []
    expected: dict[str, list[float]] = {"dispatch": [], "acknowledge": [], "on_scene": [], "response": []}

    def incident(iid: int, logged: datetime, category: str, grade: str) -> datetime:
        reported = logged - timedelta(seconds=30)
        data = {"id": iid, "category": category, "grade": {"level": grade}, "reported_at": iso(reported)}
        events.append(Event(type="incident.created", data=data, incident_id=iid, created_at=logged))
        return reported

    def dispatch(iid: int, did: int, sent: datetime, ack_s: float | None, scene_s: float | None) -> None:
        base = {"id": did, "unit_id": did, "unit_type": "fire_engine", "created_at": iso(sent)}
        events.append(Event(type="dispatch.created", data=base, incident_id=iid, created_at=sent))
        if ack_s is not None:
            acked = sent + timedelta(seconds=ack_s)
            data = base | {"acknowledged_at": iso(acked)}
            events.append(Event(type="dispatch.acknowledged", data=data, incident_id=iid, created_at=acked))
        if scene_s is not None:  # the phone's time, logged a minute later
            there = sent + timedelta(seconds=scene_s)
            data = base | {"status": "on_scene", "status_at": iso(there)}
            events.append(
                Event(type="dispatch.updated", data=data, incident_id=iid, created_at=there + timedelta(seconds=60))
            )

    # (dispatch s after report, ack s, on scene s) per incident of accident_disaster/IV
    cases = [(60, 20, 300), (120, 35, 420), (200, 15, None), (45, None, 610)]
    for n, (to_dispatch, ack, scene) in enumerate(cases):
        iid = 8_000_000 + n
        reported = incident(iid, P0 + timedelta(days=n + 1), "accident_disaster", "IV")
        dispatch(iid, 8_100_000 + n, reported + timedelta(seconds=to_dispatch), ack, scene)
        expected["dispatch"].append(to_dispatch)
        if ack is not None:
            expected["acknowledge"].append(ack)
        if scene is not None:
            expected["on_scene"].append(scene)
            expected["response"].append(to_dispatch + scene)
    # A second unit on the first incident, later: its acknowledge and on-scene count, its dispatch does not.
    first_reported = P0 + timedelta(days=1, seconds=-30)
    dispatch(8_000_000, 8_199_999, first_reported + timedelta(seconds=500), 50, 100)
    expected["acknowledge"].append(50)
    expected["on_scene"].append(100)
    # (first on scene for incident 0 stays at 60 + 300 = 360, before 500 + 100)
    # Regraded III → II: it counts as II.
    reported = incident(8_000_010, P0 + timedelta(days=10), "natural_disaster", "III")
    regraded = {"id": 8_000_010, "category": "natural_disaster", "grade": {"level": "II"}, "change": "grade"}
    events.append(
        Event(type="incident.updated", data=regraded, incident_id=8_000_010, created_at=P0 + timedelta(days=11))
    )
    dispatch(8_000_010, 8_100_010, reported + timedelta(seconds=90), 10, 400)
    incident(8_000_011, P0 + timedelta(days=12), "accident_disaster", "IV")  # no unit sent
    incident(8_000_012, P0 + timedelta(days=40), "accident_disaster", "IV")  # after the period
    return events, expected


async def test_percentiles_match_a_hand_made_event_log(
    client: httpx.AsyncClient, commander: dict[str, str], session: AsyncSession
) -> None:
    events, expected = _period_log()
    session.add_all(events)
    await session.commit()
    to = P0 + timedelta(days=30)
    response = await client.get(
        "/api/v1/reports/response-times", params={"from": iso(P0), "to": iso(to)}, headers=commander
    )
    assert response.status_code == 200, response.text
    groups = response.json()["groups"]
    everything, accident, natural = groups
    assert everything["all"] is True and (everything["incidents"], everything["dispatches"]) == (6, 6)
    assert (accident["category"], accident["grade"], accident["all"]) == ("accident_disaster", "IV", False)
    assert (accident["incidents"], accident["dispatches"]) == (5, 5)
    for name, values in expected.items():
        got = accident[name]
        assert got["count"] == len(values), name
        for q, key in ((0.5, "p50_s"), (0.9, "p90_s"), (0.95, "p95_s")):
            assert got[key] == pytest.approx(percentile_cont(values, q), abs=1e-9), (name, key)
    assert (natural["category"], natural["grade"], natural["incidents"]) == ("natural_disaster", "II", 1)
    assert natural["dispatch"] == {"count": 1, "p50_s": 90, "p90_s": 90, "p95_s": 90}
    assert natural["response"]["p50_s"] == 490 and natural["acknowledge"]["p95_s"] == 10
    assert everything["dispatch"]["count"] == 5 and everything["on_scene"]["count"] == 5
