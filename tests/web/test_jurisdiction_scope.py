"""A user scoped to jurisdictions (a district's duty officer) sees and acts only there: lists, reads, edits,
transitions, dispatch, reports and the situation refuse or filter what lies outside (404 for a record, as for a
field unit); a district's scope covers the wards inside it; the scope is set over the users API, audited, and
bounded (unknown, ambiguous, too many or for the wrong role: 422 in the one error shape)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import AuditEntry
from core.users import MAX_JURISDICTIONS
from tests.conftest import TokenFor
from tests.gis.conftest import tile_of
from tests.plans.conftest import loaded  # noqa: F401  (a fixture: the shipped plan library)

FIRE = "仓库起火，无人员伤亡"
PASSWORD = "district-password"


async def add_area(
    session: AsyncSession, name: str, box: tuple[float, float, float, float], *, name_en: str, code: str
) -> int:
    """A jurisdiction polygon, as a layer import would store it."""
    x0, y0, x1, y1 = box
    wkt = f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"
    found = await session.scalar(
        text(
            "INSERT INTO jurisdiction (name, name_en, code, geom, source, external_id)"
            " VALUES (:name, :name_en, :code, ST_Multi(ST_GeomFromText(:wkt, 4326)), 'test', :code) RETURNING id"
        ),
        {"name": name, "name_en": name_en, "code": code, "wkt": wkt},
    )
    assert found is not None
    return int(found)


@dataclass
class Ground:
    east: int
    ward: int  # inside east
    west: int
    in_east: int
    in_ward: int
    in_west: int
    nowhere: int  # outside every jurisdiction


async def _incident(client: httpx.AsyncClient, auth: dict[str, str], lon: float, lat: float) -> int:
    body = {"description": FIRE, "location": {"type": "Point", "coordinates": [lon, lat]}}
    made = await client.post("/api/v1/incidents", json=body, headers=auth)
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


@pytest.fixture
async def ground(client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor) -> Ground:
    east = await add_area(session, "东区", (110.0, 20.0, 110.2, 20.2), name_en="East District", code="TST-E")
    ward = await add_area(session, "东门街道", (110.0, 20.0, 110.05, 20.05), name_en="East Gate Ward", code="TST-EW")
    west = await add_area(session, "西区", (110.3, 20.0, 110.5, 20.2), name_en="West District", code="TST-W")
    await session.commit()
    officer = await token_for("duty_officer")  # unscoped: logs them all
    return Ground(
        east=east,
        ward=ward,
        west=west,
        in_east=await _incident(client, officer, 110.15, 20.15),
        in_ward=await _incident(client, officer, 110.01, 20.01),
        in_west=await _incident(client, officer, 110.4, 20.1),
        nowhere=await _incident(client, officer, 111.5, 21.5),
    )


async def _scoped(
    client: httpx.AsyncClient, admin: dict[str, str], role: str, jurisdictions: list[object], name: str
) -> tuple[int, dict[str, str]]:
    body = {"username": name, "role": role, "password": PASSWORD, "jurisdictions": jurisdictions}
    made = await client.post("/api/v1/users", json=body, headers=admin)
    assert made.status_code == 201, made.text
    signed = await client.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD})
    assert signed.status_code == 200, signed.text
    return int(made.json()["id"]), {"Authorization": f"Bearer {signed.json()['access_token']}"}


async def test_a_district_officer_sees_only_the_district_and_the_wards_inside_it(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor, ground: Ground
) -> None:
    admin = await token_for("admin", username="people.admin")
    user_id, officer = await _scoped(client, admin, "duty_officer", ["East District"], "east.duty")

    shown = (await client.get("/api/v1/users?role=duty_officer", headers=admin)).json()["items"]
    [mine] = [u for u in shown if u["username"] == "east.duty"]
    assert mine["jurisdictions"] == [{"id": ground.east, "name": "东区", "name_en": "East District", "code": "TST-E"}]
    assert (await client.get("/api/v1/me", headers=officer)).json()["jurisdiction_ids"] == [ground.east]

    listed = (await client.get("/api/v1/incidents?limit=1000", headers=officer)).json()
    assert {i["id"] for i in listed["items"]} == {ground.in_east, ground.in_ward} and listed["total"] == 2
    geo = (await client.get("/api/v1/incidents?format=geojson", headers=officer)).json()
    assert {f["id"] for f in geo["features"]} == {ground.in_east, ground.in_ward}
    assert (await client.get(f"/api/v1/incidents/{ground.in_ward}", headers=officer)).status_code == 200
    for hidden in (ground.in_west, ground.nowhere):
        for path in ("", "/timeline", "/dispatches", "/report", "/plan-matches"):
            answer = await client.get(f"/api/v1/incidents/{hidden}{path}", headers=officer)
            assert answer.status_code == 404, (path, answer.text)
            assert answer.json()["error"] == "not_found"
        edited = await client.patch(f"/api/v1/incidents/{hidden}", json={"title": "mine now"}, headers=officer)
        assert edited.status_code == 404
        recommended = await client.get(f"/api/v1/incidents/{hidden}/recommendations", headers=officer)
        assert recommended.status_code == 404
    # The map's incidents layer: the west's tile is empty for the district officer, not for an admin.
    x, y = tile_of(110.4, 20.1, 12)
    west_tile = f"/api/v1/tiles/incidents/12/{x}/{y}.pbf"
    assert (await client.get(west_tile, headers=admin)).status_code == 200
    assert (await client.get(west_tile, headers=officer)).status_code == 204
    # What it may do it still does, inside.
    edited = await client.patch(f"/api/v1/incidents/{ground.in_ward}", json={"title": "东门 fire"}, headers=officer)
    assert edited.status_code == 200 and edited.json()["title"] == "东门 fire"

    # Counters and reports count only the district's incidents.
    situation = (await client.get("/api/v1/situation", headers=officer)).json()
    everyone = (await client.get("/api/v1/situation", headers=admin)).json()
    assert situation["incidents"]["open"] == 2 and everyone["incidents"]["open"] >= 4
    now = datetime.now(UTC)
    period = {"from": (now - timedelta(days=1)).isoformat(), "to": (now + timedelta(days=1)).isoformat()}
    times = (await client.get("/api/v1/reports/response-times", params=period, headers=officer)).json()
    assert times["groups"][0]["all"] is True and times["groups"][0]["incidents"] == 2
    every = (await client.get("/api/v1/reports/response-times", params=period, headers=admin)).json()
    assert every["groups"][0]["incidents"] >= 4

    # Logging a report: inside it is kept; outside it is refused and nothing is kept.
    assert await _incident(client, officer, 110.1, 20.1) > 0
    before = await session.scalar(text("SELECT count(*) FROM incident"))
    body = {"description": FIRE, "location": {"type": "Point", "coordinates": [110.4, 20.1]}}
    refused = await client.post("/api/v1/incidents", json=body, headers=officer)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert await session.scalar(text("SELECT count(*) FROM incident")) == before

    # Unscoped again (audited): the whole picture, on the next request.
    opened = await client.patch(f"/api/v1/users/{user_id}", json={"jurisdictions": []}, headers=admin)
    assert opened.status_code == 200 and opened.json()["jurisdictions"] == []
    assert (await client.get(f"/api/v1/incidents/{ground.in_west}", headers=officer)).status_code == 200
    rows = list(
        await session.scalars(
            select(AuditEntry).where(AuditEntry.action.in_(["users.create", "users.edit"])).order_by(AuditEntry.id)
        )
    )
    created = [r for r in rows if r.action == "users.create" and r.target.get("username") == "east.duty"]
    assert created and created[0].target["jurisdictions"] == [ground.east]
    assert rows[-1].target["changes"] == {"jurisdictions": [[ground.east], None]} and rows[-1].actor == "people.admin"


@pytest.mark.usefixtures("loaded")
async def test_a_scoped_commander_cannot_act_outside(
    client: httpx.AsyncClient, token_for: TokenFor, ground: Ground
) -> None:
    admin = await token_for("admin")
    _, commander = await _scoped(client, admin, "commander", [ground.west, "TST-EW"], "mixed.cmd")
    # A plan's tasks on an incident outside (activated by an unscoped admin) are not theirs to start.
    for incident_id in (ground.in_east, ground.in_west):
        body = {"plan_id": "cn-building-fire"}
        made = await client.post(f"/api/v1/incidents/{incident_id}/activations", json=body, headers=admin)
        assert made.status_code == 201, made.text
    outside_tasks = (await client.get(f"/api/v1/incidents/{ground.in_east}/tasks", headers=admin)).json()["items"]
    inside_tasks = (await client.get(f"/api/v1/incidents/{ground.in_west}/tasks", headers=admin)).json()["items"]
    refused = await client.post(f"/api/v1/tasks/{outside_tasks[0]['id']}/start", headers=commander)
    assert refused.status_code == 404 and refused.json()["error"] == "not_found"
    assert (await client.post(f"/api/v1/tasks/{inside_tasks[0]['id']}/start", headers=commander)).status_code == 200
    # Scoped by id and by code: the west district and the ward, not the rest of the east district.
    listed = (await client.get("/api/v1/incidents", headers=commander)).json()
    assert {i["id"] for i in listed["items"]} == {ground.in_west, ground.in_ward}
    outside = ground.in_east
    moved = await client.post(f"/api/v1/incidents/{outside}/transition", json={"to": "verified"}, headers=commander)
    assert moved.status_code == 404
    graded = await client.post(
        f"/api/v1/incidents/{outside}/grade", json={"level": "I", "reason": "x"}, headers=commander
    )
    assert graded.status_code == 404
    sent = await client.post(f"/api/v1/incidents/{outside}/dispatches", json={"unit_ids": [1]}, headers=commander)
    assert sent.status_code == 404
    activated = await client.post(f"/api/v1/incidents/{outside}/activations", json={"plan_id": 1}, headers=commander)
    assert activated.status_code == 404
    inside = await client.post(
        f"/api/v1/incidents/{ground.in_west}/transition", json={"to": "contained"}, headers=commander
    )
    assert inside.status_code == 200 and inside.json()["status"] == "contained"
    # A role refused is still 403 first, scope or not.
    _, observer = await _scoped(client, admin, "observer", [ground.west], "west.watch")
    assert (
        await client.post(f"/api/v1/incidents/{outside}/transition", json={"to": "verified"}, headers=observer)
    ).status_code == 403
    listed = (await client.get("/api/v1/incidents", headers=observer)).json()
    assert {i["id"] for i in listed["items"]} == {ground.in_west}


async def test_setting_a_scope_is_bounded_and_checked(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor, ground: Ground
) -> None:
    admin = await token_for("admin")
    await add_area(session, "南区", (112.0, 20.0, 112.1, 20.1), name_en="Twin", code="TST-T1")
    await add_area(session, "北区", (112.2, 20.0, 112.3, 20.1), name_en="Twin", code="TST-T2")
    await session.commit()

    async def create(jurisdictions: object, role: str = "duty_officer") -> httpx.Response:
        body = {"username": "bad.scope", "role": role, "password": PASSWORD, "jurisdictions": jurisdictions}
        return await client.post("/api/v1/users", json=body, headers=admin)

    too_many = list(range(1, MAX_JURISDICTIONS + 2))
    for wrong, why in [
        (["Atlantis"], "named"),
        ([987_654_321], "id"),
        (["Twin"], "give the id"),
        ([" "], "blank"),
        (too_many, ""),
        ([2**63], ""),
        (["x" * 201], ""),
        ("East District", ""),
        ([{"id": ground.east}], ""),
    ]:
        answer = await create(wrong)
        assert answer.status_code == 422, (wrong, answer.text)
        body = answer.json()
        assert body["error"] == "invalid" and set(body) >= {"error", "detail"} and why in body["detail"], body
    for role in ("admin", "gateway"):
        answer = await create([ground.east], role=role)
        assert answer.status_code == 422 and answer.json()["field"] == "jurisdictions", answer.text
    assert await session.scalar(text("SELECT count(*) FROM app_user WHERE username = 'bad.scope'")) == 0

    # A scoped user promoted to admin leaves the scope behind (an admin sees everything); audited.
    user_id, _ = await _scoped(client, admin, "observer", ["West District"], "west.obs")
    promoted = await client.patch(f"/api/v1/users/{user_id}", json={"role": "admin"}, headers=admin)
    assert promoted.status_code == 200 and promoted.json()["jurisdictions"] == []
    refused = await client.patch(f"/api/v1/users/{user_id}", json={"jurisdictions": [ground.east]}, headers=admin)
    assert refused.status_code == 422 and refused.json()["field"] == "jurisdictions"
    # Only admins set a scope.
    _, officer = await _scoped(client, admin, "duty_officer", [ground.east], "east.again")
    assert (
        await client.patch(f"/api/v1/users/{user_id}", json={"jurisdictions": []}, headers=officer)
    ).status_code == 403
