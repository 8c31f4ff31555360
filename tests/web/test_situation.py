"""The situation picture (GET /api/v1/situation) and its situation.updated events: counters by category and grade,
units by status and type, unmet requirements, overdue tasks; an event only when the picture changed."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from plans import service as plans
from tests.conftest import TokenFor
from tests.plans.conftest import MakeIncident, loaded, make_incident  # noqa: F401 (fixtures)


async def _unit(client: httpx.AsyncClient, auth: dict[str, str], type: str, status: str = "available") -> int:
    body = {
        "type": type,
        "name": f"{type} {status}",
        "status": status,
        "location": {"type": "Point", "coordinates": [104.06, 30.67]},
    }
    made = await client.post("/api/v1/resources", json=body, headers=auth)
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


@pytest.mark.usefixtures("loaded")
async def test_the_picture_counts_what_the_command_room_shows(
    client: httpx.AsyncClient,
    session: AsyncSession,
    token_for: TokenFor,
    make_incident: MakeIncident,  # noqa: F811 (the fixture)
) -> None:
    fire = await make_incident("building_fire", level="IV")
    await make_incident("gas_leak", level="III")
    await make_incident("gas_leak", level="III")
    await session.commit()
    admin = await token_for("admin")
    await _unit(client, admin, "ambulance")
    await _unit(client, admin, "ambulance", "out_of_service")
    await _unit(client, admin, "fire_engine")
    commander = await token_for("commander")
    activated = await client.post(
        f"/api/v1/incidents/{fire.id}/activations", json={"plan_id": "cn-building-fire"}, headers=commander
    )
    assert activated.status_code == 201, activated.text

    picture = (await client.get("/api/v1/situation", headers=commander)).json()
    assert picture["incidents"]["open"] == 3
    by_category = picture["incidents"]["by_category"]
    assert by_category["accident_disaster"] == {"IV": 1, "III": 2}
    assert picture["units"]["by_type"]["ambulance"] == {"available": 1, "out_of_service": 1}
    assert picture["units"]["by_status"] == {"available": 2, "out_of_service": 1}
    unmet = {(u["incident_id"], u["resource_type"]): u["missing"] for u in picture["unmet_requirements"]}
    assert unmet[(fire.id, "fire_engine")] == 4 and unmet[(fire.id, "ambulance")] == 2
    assert picture["overdue_tasks"] == 0
    # Every task's deadline passes: the overdue sweep marks them and the picture counts them.
    tasks = await plans.tasks_of_incident(session, incident_id=fire.id)
    marked = await plans.sweep_overdue(session, now=utcnow() + timedelta(days=1))
    await session.commit()
    assert marked == len(tasks) > 0
    assert (await client.get("/api/v1/situation", headers=commander)).json()["overdue_tasks"] == len(tasks)

    for role in ("duty_officer", "observer"):
        assert (await client.get("/api/v1/situation", headers=await token_for(role))).status_code == 200
    field = await token_for("field_unit", unit_id=1)
    assert (await client.get("/api/v1/situation", headers=field)).status_code == 403
    assert (await client.get("/api/v1/situation")).status_code == 401
