"""``GET /api/v1/incidents/possible-duplicates``: the open incident a report would be flagged a duplicate of if made
now (the rule intake applies), asked by the intake form before anything is created."""

from __future__ import annotations

import httpx

from tests.conftest import TokenFor

SPOT = [104.0665, 30.6574]
FIRE = {"description": "春熙路一商铺起火，1人受伤。", "location": {"type": "Point", "coordinates": SPOT}}
URL = "/api/v1/incidents/possible-duplicates"


async def test_the_open_incident_nearby_is_offered(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    officer = await token_for("duty_officer")
    made = await client.post("/api/v1/incidents", json=FIRE, headers=officer)
    assert made.status_code == 201, made.text
    near = f"{SPOT[0] + 0.001},{SPOT[1]}"  # about 100 m east
    found = await client.get(URL, params={"subtype": "building_fire", "near": near}, headers=officer)
    assert found.status_code == 200, found.text
    assert [i["id"] for i in found.json()["items"]] == [made.json()["id"]]
    other = await client.get(URL, params={"subtype": "road_traffic", "near": near}, headers=officer)
    far = await client.get(URL, params={"subtype": "building_fire", "near": "104.2,30.8"}, headers=officer)
    assert other.json() == far.json() == {"items": [], "total": 0}
    commander = await token_for("commander")
    closed = made.json()["id"]
    for to in ("verified", "closed"):
        moved = await client.post(f"/api/v1/incidents/{closed}/transition", json={"to": to}, headers=commander)
        assert moved.status_code == 200, moved.text
    gone = await client.get(URL, params={"subtype": "building_fire", "near": near}, headers=officer)
    assert gone.json()["total"] == 0, "a closed incident is not offered"


async def test_bad_questions_and_callers_are_refused(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    officer = await token_for("duty_officer")
    for params in ({"subtype": "volcano_on_mars", "near": "104,30"}, {"subtype": "building_fire", "near": "east"}, {}):
        refused = await client.get(URL, params=params, headers=officer)
        assert refused.status_code == 422 and refused.json()["error"], refused.text
    observer = await client.get(
        URL, params={"subtype": "building_fire", "near": "104,30"}, headers=await token_for("observer")
    )
    assert observer.status_code == 403
