"""One way to turn rows into answers (STYLE.md): the HTTP body and the event of a dispatch, a unit's status and its
position are built by the same function, so a live screen and a page that asks show the same thing; and every JSON
answer of the API is a declared model, so /openapi.json documents its shape."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.events import Event
from tests.conftest import TokenFor
from web.app import create_app

SCENE = {"type": "Point", "coordinates": [104.0614, 30.6880]}
# Answers that are not JSON: a layer file to download, a vector tile, CAP documents and an Atom feed; a 204 with no
# body.
NOT_JSON = {
    ("get", "/api/v1/layers/{layer}/export"),
    ("get", "/api/v1/tiles/{layer}/{z}/{x}/{y}.pbf"),
    ("get", "/api/v1/warnings.atom"),
    ("get", "/api/v1/warnings/{warning_id}/cap"),
    ("get", "/api/v1/incidents/{incident_id}/cap"),
    ("delete", "/api/v1/cap-feeds/{feed_id}"),
    ("delete", "/api/v1/push-subscriptions"),
    ("get", "/api/v1/photos/{photo_id}"),
}


async def _event(session: AsyncSession, type: str, **where: Any) -> dict[str, Any]:
    rows = (await session.scalars(select(Event).where(Event.type == type).order_by(Event.id.desc()))).all()
    matching = [e.data for e in rows if all(e.data.get(k) == v for k, v in where.items())]
    assert matching, f"no {type} event with {where}"
    return matching[0]


async def test_the_answer_and_the_event_show_a_dispatch_and_a_unit_alike(
    client: httpx.AsyncClient, token_for: TokenFor, session: AsyncSession
) -> None:
    commander = await token_for("commander")
    body = {"type": "ambulance", "name": "Shape 1", "location": {"type": "Point", "coordinates": [104.06, 30.67]}}
    unit = (await client.post("/api/v1/resources", json=body, headers=commander)).json()["id"]
    report = {"description": "居民楼火灾，2人受伤", "location": SCENE}
    incident = (await client.post("/api/v1/incidents", json=report, headers=commander)).json()["id"]

    sent = await client.post(f"/api/v1/incidents/{incident}/dispatches", json={"unit_ids": [unit]}, headers=commander)
    assert sent.status_code == 201, sent.text
    [dispatch] = sent.json()["items"]
    created = await _event(session, "dispatch.created", id=dispatch["id"])
    # The alert adds the unit it sent and the incident it sends it to.
    assert {k: v for k, v in created.items() if k not in ("unit", "incident")} == dispatch
    assert created["incident"]["id"] == incident and created["incident"]["status"] == "responding"
    listed = (await client.get(f"/api/v1/incidents/{incident}/dispatches", headers=commander)).json()
    assert listed == {"items": [dispatch], "total": 1}

    acknowledged = (await client.post(f"/api/v1/dispatches/{dispatch['id']}/ack", headers=commander)).json()
    assert await _event(session, "dispatch.acknowledged", id=dispatch["id"]) == acknowledged

    status = await client.post(f"/api/v1/units/{unit}/status", json={"status": "en_route"}, headers=commander)
    assert status.status_code == 200, status.text
    unit_event = await _event(session, "unit.status", id=unit)
    assert unit_event == {k: v for k, v in status.json().items() if k != "distance_m"}  # only a near query has one

    fix = {"type": "Point", "coordinates": [104.061, 30.68]}
    moved = await client.post(f"/api/v1/units/{unit}/location", json=fix, headers=commander)
    assert moved.status_code == 200, moved.text
    answer = moved.json()
    located = await _event(session, "unit.location", id=unit)
    assert located == {k: v for k, v in answer["unit"].items() if k != "distance_m"}
    assert answer["fix"]["trusted"] is True and answer["fix"]["location"] == fix
    track = (await client.get(f"/api/v1/units/{unit}/track", headers=commander)).json()
    assert track["items"][0] == answer["fix"] and track["total"] == 1  # the fix as kept is the track's line


def _bare_answers(document: dict[str, Any]) -> list[str]:
    """The 2xx JSON answers of /api/ routes whose schema names no model (a ``$ref``, or a union of them)."""
    bare = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if (method, path) in NOT_JSON or not path.startswith("/api/"):
                continue
            for code, response in operation["responses"].items():
                if code == "204":
                    continue  # no content: not a JSON answer (sign-out)
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                named = "$ref" in schema or all("$ref" in arm for arm in schema.get("anyOf", [{}]))
                if code.startswith("2") and not named:
                    bare.append(f"{method.upper()} {path} {code}: {schema}")
    return bare


def test_every_json_answer_is_a_declared_model() -> None:
    """No route answers a bare ``dict``: each JSON answer is documented by its model."""
    bare = _bare_answers(create_app().openapi())
    assert bare == [], "\n".join(bare)


def test_the_check_sees_a_bare_answer() -> None:
    """The test above would notice a route annotated ``dict[str, Any]``."""
    app = create_app()

    @app.get("/api/v1/_bare")
    async def bare() -> dict[str, Any]:
        return {}

    assert [line.split(":")[0] for line in _bare_answers(app.openapi())] == ["GET /api/v1/_bare 200"]
