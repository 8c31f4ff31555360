"""Who sees which incidents, across every route (API.md: another unit's incident or dispatch is 404 to a field unit).

A field unit dispatched to incident A and not to B calls every route of the app (found by walking ``app.routes``,
so a route added later must be classified here before this passes): B must answer exactly as an incident that does
not exist, lists and tiles must leave it out, and A stays visible.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import mapbox_vector_tile
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import Mount

from plans import service as plan_service
from tests.conftest import TokenFor
from tests.gis.conftest import tile_of
from tests.support import images
from tests.support.routes import walk_routes

A_TITLE = "甲 crew-visible fire"
B_TITLE = "乙 SECRET other-unit fire"
A_SPOT = (104.0614, 30.6880)
B_SPOT = (104.0614, 30.6870)  # 110 m south: the same map tile
MISSING = 987_654_321

# Routes that neither take nor return incident data (checked by hand); anything not here nor handled below fails.
NO_INCIDENT_DATA = {
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/docs/init.js"),
    ("GET", "/docs/assets"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),  # counts by route template, never an id or a path; loopback and allowed networks only
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/totp/enrol"),
    ("POST", "/api/v1/auth/totp/confirm"),
    ("GET", "/api/v1/me"),
    # People (admins only): names and roles, no incident.
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("PATCH", "/api/v1/users/{user_id}"),
    ("POST", "/api/v1/users/{user_id}/password"),
    ("DELETE", "/api/v1/users/{user_id}/totp"),
    ("GET", "/api/v1/audit"),  # admins only: who did what (targets name incidents, but only admins read it)
    # The pages and their files: the data comes from the API, with the caller's token.
    ("GET", "/"),
    ("GET", "/login"),
    ("GET", "/intake"),
    ("GET", "/field"),
    ("GET", "/field-sw.js"),
    ("GET", "/field.webmanifest"),
    ("GET", "/admin"),
    ("GET", "/static"),
    ("GET", "/vendor/maplibre-gl"),
    ("POST", "/api/v1/classify"),
    ("GET", "/api/v1/resources"),
    ("POST", "/api/v1/resources"),
    ("GET", "/api/v1/resources/{resource_id}"),
    ("POST", "/api/v1/resources/import"),
    ("GET", "/api/v1/jurisdictions"),
    ("GET", "/api/v1/jurisdictions/{jurisdiction_id}"),
    ("GET", "/api/v1/hazard-zones"),
    ("GET", "/api/v1/hazard-zones/{zone_id}"),
    ("GET", "/api/v1/hazard-zones/{zone_id}/resources"),
    ("POST", "/api/v1/layers/{kind}/import"),
    ("GET", "/api/v1/layers/{layer}/export"),
    ("GET", "/api/v1/route"),
    ("GET", "/api/v1/isochrone"),
    ("GET", "/api/v1/places"),  # map names, and units by name only for the roles that see every unit
    ("GET", "/api/v1/units/nearest"),
    ("GET", "/api/v1/plans"),
    ("POST", "/api/v1/plans"),
    ("GET", "/api/v1/plans/{plan_id}"),
    ("POST", "/api/v1/units/{unit_id}/status"),  # a unit's own status: units are public, incidents are not
    ("POST", "/api/v1/units/{unit_id}/location"),
    ("POST", "/api/v1/units/locations"),  # fixes of units (each checked against the caller), no incident data
    # Warnings are what warning services published (public): a warning names the incident opened from it by id only.
    ("POST", "/api/v1/cap"),
    ("GET", "/api/v1/warnings"),
    ("GET", "/api/v1/warnings.atom"),
    ("GET", "/api/v1/warnings/{warning_id}"),
    ("GET", "/api/v1/warnings/{warning_id}/cap"),
    ("POST", "/api/v1/warnings/{warning_id}/incident"),  # duty officers and commanders only
    ("GET", "/api/v1/cap-feeds"),
    ("POST", "/api/v1/cap-feeds"),
    ("DELETE", "/api/v1/cap-feeds/{feed_id}"),
    ("GET", "/api/v1/contacts"),  # people and agencies (field units are refused anyway)
    ("POST", "/api/v1/contacts"),
    ("POST", "/api/v1/contacts/import"),
    ("POST", "/api/v1/push-subscriptions"),  # the caller's own browser
    ("DELETE", "/api/v1/push-subscriptions"),
    ("GET", "/api/v1/push-subscriptions/key"),
}
# Websocket routes: /ws/command refuses field units before sending anything (tests/web/test_live.py
# test_field_unit_may_not_watch_the_command_room); /ws/field sends a crew only its own unit's news
# (tests/web/test_field_stream.py, replay and live, one and two workers). A new one must be classified here.
WEBSOCKETS = {"/ws/command", "/ws/field"}
TEST_ONLY_PREFIX = "/api/v1/_probe/"


@dataclass
class World:
    crew: dict[str, str]
    a: int
    b: int
    a_dispatch: int
    b_dispatch: int
    a_task: int
    b_task: int
    unit: int
    other_unit: int
    a_photo: int = 0
    b_photo: int = 0


def _routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path) of every route, through included routers, websockets as method "WS"."""
    for path, route in walk_routes(app):
        if isinstance(route, Mount):  # static files (Swagger UI's assets): no incident data behind them
            yield "GET", path
        elif getattr(route, "methods", None):
            yield from ((m, path) for m in sorted(route.methods) if m != "HEAD")
        else:
            yield "WS", path


async def _make_world(client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor) -> World:
    for path, document in plan_service.read_plans(plan_service.LIBRARY):
        await plan_service.load_plan(session, document=document, source=path.name)
    await session.commit()
    commander = await token_for("commander")

    async def post(url: str, body: dict[str, Any]) -> Any:
        response = await client.post(url, json=body, headers=commander)
        assert response.status_code in (200, 201), response.text
        return response.json()

    units = []
    for name in ("ours", "theirs"):
        point = {"type": "Point", "coordinates": [104.06, 30.67]}
        units.append((await post("/api/v1/resources", {"type": "ambulance", "name": name, "location": point}))["id"])
    incidents = []
    for title, spot in ((A_TITLE, A_SPOT), (B_TITLE, B_SPOT)):
        where = {"type": "Point", "coordinates": spot}
        report = {"description": "居民楼火灾，2人受伤", "title": title, "location": where}
        incidents.append((await post("/api/v1/incidents", report))["id"])
    tasks, dispatches = [], []
    for incident, unit in zip(incidents, units, strict=True):
        activation = await post(f"/api/v1/incidents/{incident}/activations", {"plan_id": "cn-building-fire"})
        tasks.append(activation["tasks"][0]["id"])
        dispatches.append((await post(f"/api/v1/incidents/{incident}/dispatches", {"unit_ids": [unit]}))["items"][0])
    crew = await token_for("field_unit", unit_id=units[0])
    fix = {"type": "Point", "coordinates": [104.061, 30.688]}
    assert (await client.post(f"/api/v1/units/{units[0]}/location", json=fix, headers=crew)).status_code == 200
    photos = []
    for incident in incidents:  # a scene photo on each: the crew may see A's, never B's
        sent = await client.post(
            f"/api/v1/incidents/{incident}/photos",
            content=images.png(),
            headers={**commander, "Content-Type": "image/png"},
        )
        assert sent.status_code == 201, sent.text
        photos.append(sent.json()["id"])
    return World(crew, *incidents, dispatches[0]["id"], dispatches[1]["id"], *tasks, *units, *photos)


def _same_as_missing(b: httpx.Response, missing: httpx.Response, b_id: int) -> None:
    """B's answer must tell nothing the answer for an id that does not exist would not."""
    assert b.status_code == missing.status_code, (b.status_code, b.text, missing.status_code, missing.text)
    assert b.text.replace(str(b_id), "<id>") == missing.text.replace(str(MISSING), "<id>")
    assert B_TITLE not in b.text


# Lists about an incident that may rightly be empty for A (no warning is in force over it in this world).
MAY_BE_EMPTY = {"/api/v1/incidents/{incident_id}/warnings"}


def _visible(a: httpx.Response, method: str, a_id: int, path: str = "") -> None:
    """What the crew may see, it sees: a read of A answers with A's data (unless the role may not read it at all,
    for A and B alike)."""
    if method != "GET" or a.status_code == 403:
        return
    assert a.status_code == 200, a.text
    if not a.headers.get("content-type", "").startswith("application/json"):  # a CAP document names its incident
        assert str(a_id) in a.text, a.text
        return
    body = a.json()
    if "items" in body and path in MAY_BE_EMPTY:
        return
    if "items" in body:
        assert body["items"], f"nothing listed for A: {a.request.url}"
    else:
        assert str(a_id) in a.text, a.text


async def _by_id(client: httpx.AsyncClient, method: str, path: str, auth: dict[str, str], **ids: int) -> httpx.Response:
    url = path.format(**ids)
    if method == "GET":
        return await client.get(url, headers=auth)
    return await client.request(method, url, json={}, headers=auth)


async def _check_tile(client: httpx.AsyncClient, world: World) -> None:
    x, y = tile_of(*A_SPOT, 15)
    assert (x, y) == tile_of(*B_SPOT, 15)
    answer = await client.get(f"/api/v1/tiles/incidents/15/{x}/{y}.pbf", headers=world.crew)
    assert answer.status_code == 200, answer.text
    features = mapbox_vector_tile.decode(answer.content)["incidents"]["features"]
    assert [(f["id"], f["properties"]["title"]) for f in features] == [(world.a, A_TITLE)]


async def _check_lists(client: httpx.AsyncClient, world: World) -> None:
    listed = await client.get("/api/v1/incidents", headers=world.crew)
    assert [i["id"] for i in listed.json()["items"]] == [world.a] and listed.json()["total"] == 1
    geojson = await client.get("/api/v1/incidents", params={"format": "geojson"}, headers=world.crew)
    assert [f["id"] for f in geojson.json()["features"]] == [world.a]
    assert B_TITLE not in listed.text + geojson.text


async def _check_dry_run(client: httpx.AsyncClient, world: World) -> None:
    replay = await client.post("/api/v1/plans/check", headers=world.crew)  # no body: the stored incidents
    assert replay.status_code == 200, replay.text
    assert [r["incident"].get("id") for r in replay.json()["results"]] == [world.a]
    assert B_TITLE not in replay.text


async def _check_photo(client: httpx.AsyncClient, world: World) -> None:
    """A photo's bytes: A's to the crew, B's the same 404 as a photo that does not exist."""
    ours = await client.get(f"/api/v1/photos/{world.a_photo}", headers=world.crew)
    assert ours.status_code == 200 and ours.content.startswith(b"\x89PNG"), ours.text
    theirs = await client.get(f"/api/v1/photos/{world.b_photo}", headers=world.crew)
    _same_as_missing(theirs, await client.get(f"/api/v1/photos/{MISSING}", headers=world.crew), world.b_photo)


async def _check_route(
    client: httpx.AsyncClient,
    world: World,
    method: str,
    path: str,
    others: dict[tuple[str, str], Any],
    by_other_id: dict[str, tuple[int, int]],
) -> bool:
    """Check one route as the crew; False when this test does not know the route."""
    param = re.search(r"\{(\w+)\}", path)
    if "{incident_id}" in path or (param and param.group(0) in by_other_id):
        assert param is not None
        name = param.group(1)
        a_id, b_id = (world.a, world.b) if name == "incident_id" else by_other_id[param.group(0)]
        a = await _by_id(client, method, path, world.crew, **{name: a_id})
        b = await _by_id(client, method, path, world.crew, **{name: b_id})
        missing = await _by_id(client, method, path, world.crew, **{name: MISSING})
        _same_as_missing(b, missing, b_id)
        _visible(a, method, a_id, path)
        return True
    if (method, path) not in others:
        return False
    check = others[(method, path)]
    if check is None:
        refused = await client.request(method, path, json={}, headers=world.crew)
        assert refused.status_code == 403 and B_TITLE not in refused.text, refused.text
    else:
        await check(client, world)
    return True


async def test_a_field_unit_sees_only_the_incidents_it_was_sent_to_on_every_route(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor
) -> None:
    world = await _make_world(client, session, token_for)
    others: dict[tuple[str, str], Any] = {
        ("GET", "/api/v1/incidents"): _check_lists,
        ("POST", "/api/v1/incidents"): None,  # None: a field unit is refused (403), whatever it asks
        ("GET", "/api/v1/tiles/{layer}/{z}/{x}/{y}.pbf"): _check_tile,
        ("POST", "/api/v1/plans/check"): _check_dry_run,
        ("GET", "/api/v1/situation"): None,
        ("GET", "/api/v1/escalations"): None,
        ("GET", "/api/v1/deliveries"): None,  # messages about any incident: the command room's roles only
        ("POST", "/api/v1/deliveries/{delivery_id}/handled"): None,  # the same
        ("GET", "/api/v1/tasks/overdue"): None,  # tasks of every open incident: the command room's roles only
        ("POST", "/api/v1/exercises/clear"): None,  # ends every drill's incidents: commanders only
        ("GET", "/api/v1/incidents/possible-duplicates"): None,  # intake's question: duty officers and commanders
        ("GET", "/api/v1/reports/response-times"): None,  # figures over every incident of a period: the same
        ("GET", "/api/v1/photos/{photo_id}"): _check_photo,
    }
    by_other_id = {  # routes keyed by another id that leads to an incident: (A's id, B's id)
        "{dispatch_id}": (world.a_dispatch, world.b_dispatch),
        "{task_id}": (world.a_task, world.b_task),
        "{unit_id}": (world.unit, world.other_unit),
    }
    seen, unclassified, problems = set(), [], []
    for method, path in _routes(app):
        key = (method, path)
        if path.startswith(TEST_ONLY_PREFIX) or key in NO_INCIDENT_DATA or (method == "WS" and path in WEBSOCKETS):
            continue
        seen.add(key)
        try:
            if not await _check_route(client, world, method, path, others, by_other_id):
                unclassified.append(key)
        except AssertionError as exc:  # every route is tried: the report names all that leak, not the first
            problems.append(f"{method} {path}: {exc}")
    assert problems == [], "\n".join(problems)
    assert unclassified == [], f"classify these routes in {__name__}: do they take or return incident data?"
    # The walk found the routes this test is about (it did not silently see nothing).
    assert {("GET", "/api/v1/incidents/{incident_id}"), ("GET", "/api/v1/incidents/{incident_id}/impact")} <= seen
    assert ("GET", "/api/v1/tiles/{layer}/{z}/{x}/{y}.pbf") in seen and ("POST", "/api/v1/plans/check") in seen
    assert len(seen) >= 20, sorted(seen)


async def test_the_route_walk_finds_every_documented_path(app: FastAPI) -> None:
    """The walk through included routers agrees with the OpenAPI document (nothing hidden from the test above)."""
    walked = {(m, p) for m, p in _routes(app) if m != "WS"}
    documented = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}
    assert documented <= walked, sorted(documented - walked)


async def test_other_roles_see_everything_the_field_unit_may_not(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor
) -> None:
    world = await _make_world(client, session, token_for)
    for role in ("observer", "duty_officer", "commander", "admin"):
        auth = await token_for(role)
        listed = (await client.get("/api/v1/incidents", headers=auth)).json()
        assert {world.a, world.b} <= {i["id"] for i in listed["items"]}, role
        for path in ("/api/v1/incidents/{}", "/api/v1/incidents/{}/impact", "/api/v1/incidents/{}/dispatches"):
            answer = await client.get(path.format(world.b), headers=auth)
            assert answer.status_code == 200 and str(world.b) in answer.text, (role, path, answer.text)
    # The crew of a unit never sent anywhere sees no incident at all.
    idle = await token_for("field_unit", unit_id=MISSING)
    assert (await client.get("/api/v1/incidents", headers=idle)).json() == {"items": [], "total": 0}
    assert (await client.get(f"/api/v1/incidents/{world.a}", headers=idle)).status_code == 404
    # The crew sees only its own unit's dispatch on its incident.
    mine = await client.get(f"/api/v1/incidents/{world.a}/dispatches", headers=world.crew)
    assert [d["id"] for d in mine.json()["items"]] == [world.a_dispatch]
    assert json.loads(mine.text)["total"] == 1


@pytest.mark.parametrize("role", ["observer", "duty_officer"])
async def test_the_dry_run_replays_every_stored_incident_for_the_command_room(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor, role: str
) -> None:
    world = await _make_world(client, session, token_for)
    replay = await client.post("/api/v1/plans/check", headers=await token_for(role))
    assert {world.a, world.b} <= {r["incident"].get("id") for r in replay.json()["results"]}
