"""GET /api/v1/incidents/{id}/recommendations: requirements filled with units ranked by road ETA, each with its
reason, every shortfall with its cause; ad-hoc asks, plan previews and the active plan's open requirements."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from tests.conftest import TokenFor
from tests.gis.test_routing import at, river_town  # noqa: F401 (the fixture, used by name)
from tests.plans.conftest import WUHOU, MakeIncident, loaded, make_incident  # noqa: F401 (fixtures)


async def _unit(
    client: httpx.AsyncClient, auth: dict[str, str], name: str, type: str, where: tuple[float, float]
) -> int:
    body = {"type": type, "name": name, "location": {"type": "Point", "coordinates": list(where)}}
    made = await client.post("/api/v1/resources", json=body, headers=auth)
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


async def _incident(client: httpx.AsyncClient, auth: dict[str, str], where: tuple[float, float]) -> int:
    body = {"description": "仓库火灾 warehouse fire", "location": {"type": "Point", "coordinates": list(where)}}
    made = await client.post("/api/v1/incidents", json=body, headers=auth)
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


async def _recommend(client: httpx.AsyncClient, auth: dict[str, str], incident: int, **params: Any) -> httpx.Response:
    return await client.get(f"/api/v1/incidents/{incident}/recommendations", params=params, headers=auth)


@pytest.mark.usefixtures("river_town")
async def test_ad_hoc_ask_is_ranked_by_road_not_by_straight_line(
    client: httpx.AsyncClient, token_for: TokenFor
) -> None:
    admin = await token_for("admin")
    # "across" is nearer as the crow flies but on the other bank of the river; "along" is on the same bank.
    across = await _unit(client, admin, "across", "fire_engine", at(10, 7.7))
    along = await _unit(client, admin, "along", "fire_engine", at(35, 12.3))
    incident = await _incident(client, admin, at(10, 12.3))
    answer = await _recommend(client, await token_for("commander"), incident, type="fire_engine", count=2)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["source"] == "ad_hoc" and body["unmet"] == []
    (need,) = body["requirements"]
    assert (need["resource_type"], need["count"], need["missing"], need["unmet"]) == ("fire_engine", 2, 2, 0)
    units = need["units"]
    assert [u["unit_id"] for u in units] == [along, across] and [u["rank"] for u in units] == [1, 2]
    assert all(u["method"] == "road" and u["eta_s"] > 0 and u["reason"] for u in units)
    assert units[0]["eta_s"] < units[1]["eta_s"]
    assert body["items"] == units and body["total"] == 2


async def test_shortfalls_name_their_cause(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    admin = await token_for("admin")
    scene = (104.0614, 30.6880)
    near = await _unit(client, admin, "near", "ambulance", (104.0700, 30.6900))
    await _unit(client, admin, "far away", "ambulance", (106.5, 29.5))  # Chongqing: hours by any road
    stale = await _unit(client, admin, "stale", "ambulance", (104.0650, 30.6870))
    # The stale unit's only fix is an hour old and it has no home station: where it is now is unknown.
    fix = {"type": "Point", "coordinates": [104.0650, 30.6870], "at": (utcnow() - timedelta(hours=1)).isoformat()}
    assert (await client.post(f"/api/v1/units/{stale}/location", json=fix, headers=admin)).status_code == 200
    incident = await _incident(client, admin, scene)
    commander = await token_for("commander")

    body = (await _recommend(client, commander, incident, type="ambulance", count=3)).json()
    (need,) = body["requirements"]
    assert [u["unit_id"] for u in need["units"]] == [near] and need["unmet"] == 2
    # It never sent a fix and has no station: taken where it was registered, and no road graph is loaded here.
    placed = "no fix yet and no home station: at its last known position; straight line (no road graph loaded"
    assert need["units"][0]["reason"].startswith(placed) and need["units"][0]["method"] == "straight_line"
    (unmet,) = body["unmet"]
    assert unmet["resource_type"] == "ambulance" and unmet["missing"] == 2
    # One left out as too far, one as stale: a tie goes to "too_far" (the reason that left out more, or as many).
    assert unmet["cause"] == "too_far"
    assert "over 60 min away" in unmet["detail"] and "stale location" in unmet["detail"]

    nothing = (await _recommend(client, commander, incident, type="boat", count=2)).json()
    assert nothing["requirements"][0]["units"] == []
    assert nothing["unmet"] == [
        {"resource_type": "boat", "missing": 2, "cause": "none_available", "detail": nothing["unmet"][0]["detail"]}
    ]
    assert "no other available unit" in nothing["unmet"][0]["detail"]

    # A fresh fix makes the stale unit trusted again; the far one stays too far.
    fresh = {"type": "Point", "coordinates": [104.0651, 30.6871]}
    assert (await client.post(f"/api/v1/units/{stale}/location", json=fresh, headers=admin)).status_code == 200
    again = (await _recommend(client, commander, incident, type="ambulance", count=3)).json()
    assert {u["unit_id"] for u in again["requirements"][0]["units"]} == {near, stale}
    assert again["unmet"][0]["cause"] == "too_far" and again["unmet"][0]["missing"] == 1


@pytest.mark.usefixtures("loaded")
async def test_plan_preview_then_the_active_plans_open_requirements(
    client: httpx.AsyncClient,
    session: AsyncSession,
    token_for: TokenFor,
    make_incident: MakeIncident,  # noqa: F811 (the fixture)
) -> None:
    incident = await make_incident("building_fire", level="IV")
    await session.commit()
    admin = await token_for("admin")
    engines = [
        await _unit(client, admin, f"engine {i}", "fire_engine", (WUHOU[0] + i * 0.002, WUHOU[1])) for i in range(5)
    ]
    commander = await token_for("commander")

    preview = (await _recommend(client, commander, incident.id)).json()
    assert preview["source"] == "plan_preview" and preview["plan"]["plan_id"] == "cn-building-fire"
    assert preview["plan"]["level"] == "IV"
    wanted = {r["resource_type"]: r["count"] for r in preview["requirements"]}
    assert wanted == {"fire_engine": 4, "ladder_truck": 1, "ambulance": 2, "police_unit": 1}
    fire = next(r for r in preview["requirements"] if r["resource_type"] == "fire_engine")
    assert [u["unit_id"] for u in fire["units"]] == engines[:4], "nearest first"
    assert {u["cause"] for u in preview["unmet"]} == {"none_available"}
    assert {u["resource_type"] for u in preview["unmet"]} == {"ladder_truck", "ambulance", "police_unit"}

    activated = await client.post(
        f"/api/v1/incidents/{incident.id}/activations", json={"plan_id": "cn-building-fire"}, headers=commander
    )
    assert activated.status_code == 201, activated.text
    sent = await client.post(
        f"/api/v1/incidents/{incident.id}/dispatches", json={"unit_ids": engines[:3]}, headers=commander
    )
    assert sent.status_code == 201, sent.text
    after = (await _recommend(client, commander, incident.id)).json()
    assert after["source"] == "activation" and after["plan"] is None
    fire = next(r for r in after["requirements"] if r["resource_type"] == "fire_engine")
    assert (fire["count"], fire["filled"], fire["missing"]) == (4, 3, 1)
    assert [u["unit_id"] for u in fire["units"]] == [engines[3]], "the dispatched engines are not proposed again"

    sent = await client.post(
        f"/api/v1/incidents/{incident.id}/dispatches", json={"unit_ids": [engines[3]]}, headers=commander
    )
    assert sent.status_code == 201
    filled = (await _recommend(client, commander, incident.id)).json()
    assert "fire_engine" not in {r["resource_type"] for r in filled["requirements"]}


async def test_who_may_ask_and_bad_asks(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    admin = await token_for("admin")
    incident = await _incident(client, admin, (104.0614, 30.6880))
    for role in ("commander", "duty_officer", "observer"):
        answer = await _recommend(client, await token_for(role), incident, type="ambulance")
        assert answer.status_code == 200, (role, answer.text)
    field = await token_for("field_unit", unit_id=1)
    assert (await _recommend(client, field, incident, type="ambulance")).status_code == 403
    assert (await client.get(f"/api/v1/incidents/{incident}/recommendations")).status_code == 401
    assert (await _recommend(client, admin, 999_999, type="ambulance")).status_code == 404
    for bad in (
        {"type": "hospital"},
        {"type": "starship"},
        {"type": "ambulance", "count": 0},
        {"type": "ambulance", "count": 51},
        {"count": 2},
        {"type": ""},
    ):
        answer = await _recommend(client, admin, incident, **bad)
        assert answer.status_code == 422, (bad, answer.text)
        assert set(answer.json()) >= {"detail"}
    # No plan matches, nothing asked: an empty answer that says so, not an error.
    quiet = await _incident(client, admin, (104.0614, 30.6880))
    body = (await _recommend(client, admin, quiet)).json()
    assert body["requirements"] == [] and body["source"] == "none" and body["plan"] is None


@pytest.mark.usefixtures("loaded")
async def test_a_plan_asking_for_shelters_still_gets_its_units_recommended(
    client: httpx.AsyncClient,
    session: AsyncSession,
    token_for: TokenFor,
    make_incident: MakeIncident,  # noqa: F811 (the fixture)
) -> None:
    incident = await make_incident("hazardous_chemicals", level="II")
    await session.commit()
    admin = await token_for("admin")
    hazmat = await _unit(client, admin, "hazmat 1", "hazmat_team", (WUHOU[0] + 0.002, WUHOU[1]))
    commander = await token_for("commander")
    preview = await _recommend(client, commander, incident.id)
    assert preview.status_code == 200, preview.text
    assert "shelter" not in {r["resource_type"] for r in preview.json()["requirements"]}
    activated = await client.post(
        f"/api/v1/incidents/{incident.id}/activations", json={"plan_id": "cn-hazardous-chemicals"}, headers=commander
    )
    assert activated.status_code == 201, activated.text
    assert "shelter" in {r["resource_type"] for r in activated.json()["requirements"]}  # the plan does ask for it
    after = await _recommend(client, commander, incident.id)
    assert after.status_code == 200, after.text
    needs = {r["resource_type"]: r for r in after.json()["requirements"]}
    assert "shelter" not in needs
    assert [u["unit_id"] for u in needs["hazmat_team"]["units"]] == [hazmat]
