"""The role matrix: every route of the OpenAPI document and both websockets, called by every kind of caller, answer
exactly as the table below says; a route missing from the table fails the test (a new route must be placed in it).

Each cell is the status the route answers that caller (for a websocket: "open", or the code it is closed with at
connect). The callers (tests/web/matrix_world.py): no token, a forged token (an admin's claims under another key),
an expired token (the admin's own), each role, and a field unit's crew on its own unit's data ("crew": incident A,
its dispatch, task, unit and photo) and on another unit's ("other": B's). Each call runs in a savepoint rolled back
afterwards, so every caller meets the same world; a mutation's body is a minimal valid one, so an allowed caller
gets the route's real answer (a 2xx, or the 4xx it documents — each such below says why it is right).

A route added later gets a row of the same shape; the people routes (TOTP sign-in, the admin page) are added at
their merge. Reading a row: ``"401 401 401 | 200 200 200 200 403 | 200 404"`` is anon forged expired | admin
commander duty_officer observer gateway | crew other. ``MATRIX_PRINT=1`` prints the table as the app answers it
(to review and paste when a route is added); ``MATRIX_DEBUG=1`` prints each refusal's body.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.settings import Settings
from tests.conftest import TokenFor
from tests.web.matrix_world import CALLERS, MatrixWorld, make_world, request_for
from web.state import state_of

# anon forged expired | admin commander duty_officer observer gateway | crew other
# fmt: off
MATRIX: dict[str, str] = {
    "GET /healthz":                                           "200 200 200 | 200 200 200 200 200 | 200 200",
    "GET /readyz":                                            "200 200 200 | 200 200 200 200 200 | 200 200",
    # each role signs in with its own password; the others try a name that does not exist
    "POST /api/v1/auth/token":                                "401 401 401 | 200 200 200 200 200 | 200 200",
    # Enrolment proves the password again (a stolen token cannot enrol another phone); the walk's calls are rolled
    # back, so a confirmation finds no enrolment begun: 409.
    "POST /api/v1/auth/totp/enrol":                           "401 401 401 | 200 200 200 200 200 | 200 200",
    "POST /api/v1/auth/totp/confirm":                         "401 401 401 | 409 409 409 409 409 | 409 409",
    # no bearer token: a refresh token that is no one's is 401 to all
    "POST /api/v1/auth/refresh":                              "401 401 401 | 401 401 401 401 401 | 401 401",
    # no bearer token; idempotent: an unknown refresh token is 204 too
    "POST /api/v1/auth/logout":                               "204 204 204 | 204 204 204 204 204 | 204 204",
    "GET /api/v1/me":                                         "401 401 401 | 200 200 200 200 200 | 200 200",
    "POST /api/v1/classify":                                  "401 401 401 | 200 200 200 200 403 | 200 200",
    "POST /api/v1/incidents":                                 "401 401 401 | 201 201 201 403 403 | 403 403",
    "GET /api/v1/incidents":                                  "401 401 401 | 200 200 200 200 403 | 200 200",
    "GET /api/v1/incidents/possible-duplicates":              "401 401 401 | 200 200 200 403 403 | 403 403",
    "GET /api/v1/incidents/{incident_id}":                    "401 401 401 | 200 200 200 200 403 | 200 404",
    "PATCH /api/v1/incidents/{incident_id}":                  "401 401 401 | 200 200 200 403 403 | 403 403",
    "GET /api/v1/incidents/{incident_id}/timeline":           "401 401 401 | 200 200 200 200 403 | 200 404",
    "POST /api/v1/incidents/{incident_id}/transition":        "401 401 401 | 200 200 403 403 403 | 403 403",
    "POST /api/v1/incidents/{incident_id}/grade":             "401 401 401 | 200 200 403 403 403 | 403 403",
    # on a report flagged as A's possible duplicate
    "POST /api/v1/incidents/{incident_id}/duplicate":         "401 401 401 | 200 200 200 403 403 | 403 403",
    "POST /api/v1/incidents/{incident_id}/notes":             "401 401 401 | 201 201 201 403 403 | 201 404",
    "GET /api/v1/incidents/{incident_id}/caller":             "401 401 401 | 200 200 200 403 403 | 403 403",
    "GET /api/v1/incidents/{incident_id}/recommendations":    "401 401 401 | 200 200 200 200 403 | 403 403",
    "POST /api/v1/incidents/{incident_id}/dispatches":        "401 401 401 | 201 201 403 403 403 | 403 403",
    "GET /api/v1/incidents/{incident_id}/dispatches":         "401 401 401 | 200 200 200 200 403 | 200 404",
    "GET /api/v1/dispatches/{dispatch_id}":                   "401 401 401 | 200 200 200 200 403 | 200 404",
    "POST /api/v1/dispatches/{dispatch_id}/ack":              "401 401 401 | 200 200 403 403 403 | 200 404",
    # A's dispatch was escalated
    "POST /api/v1/dispatches/{dispatch_id}/escalation/ack":   "401 401 401 | 200 200 403 403 403 | 403 403",
    "GET /api/v1/escalations":                                "401 401 401 | 200 200 200 200 403 | 403 403",
    # units are public: another unit's status is 403, not 404
    "POST /api/v1/units/{unit_id}/status":                    "401 401 401 | 200 200 403 403 403 | 200 403",
    "GET /api/v1/situation":                                  "401 401 401 | 200 200 200 200 403 | 403 403",
    "POST /api/v1/exercises/clear":                           "401 401 401 | 200 200 403 403 403 | 403 403",
    "POST /api/v1/units/{unit_id}/location":                  "401 401 401 | 200 200 403 403 200 | 200 403",
    # a batch: each fix judged on its own (another unit's fix refused inside a 200)
    "POST /api/v1/units/locations":                           "401 401 401 | 200 200 403 403 200 | 200 200",
    # where another unit has been is hidden from a crew like its incidents
    "GET /api/v1/units/{unit_id}/track":                      "401 401 401 | 200 200 200 200 403 | 200 404",
    "GET /api/v1/resources":                                  "401 401 401 | 200 200 200 200 403 | 200 200",
    "POST /api/v1/resources":                                 "401 401 401 | 201 201 403 403 403 | 403 403",
    "GET /api/v1/resources/{resource_id}":                    "401 401 401 | 200 200 200 200 403 | 200 200",
    "POST /api/v1/resources/import":                          "401 401 401 | 201 201 403 403 403 | 403 403",
    "GET /api/v1/jurisdictions":                              "401 401 401 | 200 200 200 200 403 | 200 200",
    "GET /api/v1/jurisdictions/{jurisdiction_id}":            "401 401 401 | 200 200 200 200 403 | 200 200",
    "GET /api/v1/hazard-zones":                               "401 401 401 | 200 200 200 200 403 | 200 200",
    "GET /api/v1/hazard-zones/{zone_id}":                     "401 401 401 | 200 200 200 200 403 | 200 200",
    "GET /api/v1/hazard-zones/{zone_id}/resources":           "401 401 401 | 200 200 200 200 403 | 200 200",
    "POST /api/v1/layers/{kind}/import":                      "401 401 401 | 201 201 403 403 403 | 403 403",
    "GET /api/v1/layers/{layer}/export":                      "401 401 401 | 200 200 200 200 403 | 200 200",
    "GET /api/v1/tiles/{layer}/{z}/{x}/{y}.pbf":              "401 401 401 | 200 200 200 200 403 | 200 200",
    # 409: no road graph loaded in this world (documented); the roles are decided before
    "GET /api/v1/route":                                      "401 401 401 | 409 409 409 409 403 | 409 409",
    # 409: no road graph loaded, as /route
    "GET /api/v1/isochrone":                                  "401 401 401 | 409 409 409 409 403 | 409 409",
    "GET /api/v1/units/nearest":                              "401 401 401 | 200 200 200 200 403 | 200 200",
    "GET /api/v1/incidents/{incident_id}/impact":             "401 401 401 | 200 200 200 200 403 | 200 404",
    "GET /api/v1/places":                                     "401 401 401 | 200 200 200 200 403 | 200 200",
    "GET /api/v1/plans":                                      "401 401 401 | 200 200 200 200 403 | 200 200",
    # the library's building-fire plan again: 200, unchanged
    "POST /api/v1/plans":                                     "401 401 401 | 200 200 403 403 403 | 403 403",
    "GET /api/v1/plans/{plan_id}":                            "401 401 401 | 200 200 200 200 403 | 200 200",
    "POST /api/v1/plans/check":                               "401 401 401 | 200 200 200 200 403 | 200 200",
    "GET /api/v1/incidents/{incident_id}/plan-matches":       "401 401 401 | 200 200 200 200 403 | 200 404",
    "POST /api/v1/incidents/{incident_id}/activations":       "401 401 401 | 200 200 403 403 403 | 403 403",
    "GET /api/v1/incidents/{incident_id}/activations":        "401 401 401 | 200 200 200 200 403 | 200 404",
    "GET /api/v1/incidents/{incident_id}/tasks":              "401 401 401 | 200 200 200 200 403 | 200 404",
    "POST /api/v1/tasks/{task_id}/start":                     "401 401 401 | 200 200 200 403 403 | 403 403",
    "GET /api/v1/tasks/overdue":                              "401 401 401 | 200 200 200 200 403 | 403 403",
    "POST /api/v1/tasks/{task_id}/complete":                  "401 401 401 | 200 200 200 403 403 | 403 403",
    "POST /api/v1/tasks/{task_id}/reassign":                  "401 401 401 | 200 200 200 403 403 | 403 403",
    "POST /api/v1/cap":                                       "401 401 401 | 201 201 201 403 403 | 403 403",
    "GET /api/v1/warnings":                                   "401 401 401 | 200 200 200 200 403 | 200 200",
    "GET /api/v1/warnings.atom":                              "401 401 401 | 200 200 200 200 403 | 200 200",
    "GET /api/v1/warnings/{warning_id}":                      "401 401 401 | 200 200 200 200 403 | 200 200",
    "GET /api/v1/warnings/{warning_id}/cap":                  "401 401 401 | 200 200 200 200 403 | 200 200",
    "POST /api/v1/warnings/{warning_id}/incident":            "401 401 401 | 201 201 201 403 403 | 403 403",
    "GET /api/v1/incidents/{incident_id}/cap":                "401 401 401 | 200 200 200 200 403 | 200 404",
    "GET /api/v1/incidents/{incident_id}/warnings":           "401 401 401 | 200 200 200 200 403 | 200 404",
    "GET /api/v1/cap-feeds":                                  "401 401 401 | 200 200 200 200 403 | 200 200",
    "POST /api/v1/cap-feeds":                                 "401 401 401 | 201 201 201 403 403 | 403 403",
    "DELETE /api/v1/cap-feeds/{feed_id}":                     "401 401 401 | 204 204 204 403 403 | 403 403",
    "GET /api/v1/contacts":                                   "401 401 401 | 200 200 200 403 403 | 403 403",
    "POST /api/v1/contacts":                                  "401 401 401 | 201 201 201 403 403 | 403 403",
    "POST /api/v1/contacts/import":                           "401 401 401 | 201 201 201 403 403 | 403 403",
    "GET /api/v1/deliveries":                                 "401 401 401 | 200 200 200 403 403 | 403 403",
    "POST /api/v1/deliveries/{delivery_id}/handled":          "401 401 401 | 200 200 200 403 403 | 403 403",
    "POST /api/v1/push-subscriptions":                        "401 401 401 | 201 201 201 403 403 | 201 201",
    # 404: the caller has no subscription at that endpoint (nor may remove anyone's)
    "DELETE /api/v1/push-subscriptions":                      "401 401 401 | 404 404 404 403 403 | 404 404",
    "GET /api/v1/push-subscriptions/key":                     "401 401 401 | 200 200 200 403 403 | 200 200",
    "GET /api/v1/users":                                      "401 401 401 | 200 403 403 403 403 | 403 403",
    "POST /api/v1/users":                                     "401 401 401 | 201 403 403 403 403 | 403 403",
    "PATCH /api/v1/users/{user_id}":                          "401 401 401 | 200 403 403 403 403 | 403 403",
    "POST /api/v1/users/{user_id}/password":                  "401 401 401 | 204 403 403 403 403 | 403 403",
    "DELETE /api/v1/users/{user_id}/totp":                    "401 401 401 | 204 403 403 403 403 | 403 403",
    "GET /api/v1/audit":                                      "401 401 401 | 200 403 403 403 403 | 403 403",
    "POST /api/v1/incidents/{incident_id}/photos":            "401 401 401 | 201 201 201 403 403 | 201 404",
    "GET /api/v1/incidents/{incident_id}/photos":             "401 401 401 | 200 200 200 200 403 | 200 404",
    "GET /api/v1/photos/{photo_id}":                          "401 401 401 | 200 200 200 200 403 | 200 404",
    "GET /api/v1/incidents/{incident_id}/report":             "401 401 401 | 200 200 200 200 403 | 403 403",
    "GET /api/v1/reports/response-times":                     "401 401 401 | 200 200 200 200 403 | 403 403",
}
WEBSOCKETS: dict[str, str] = {
    "WS /ws/command":                                         "1008 1008 1008 | open open open open 1008 | 1008 1008",
    # A crew's own stream only; another unit's is 4404 as if it did not exist. No token: 1008 after ws_auth_timeout_s.
    "WS /ws/field":                                           "1008 1008 1008 | 1008 1008 1008 1008 1008 | open 4404",
}
# fmt: on


def _cells(row: str) -> list[str]:
    cells = row.replace("|", " ").split()
    assert len(cells) == len(CALLERS), row
    return cells


async def _socket(app: FastAPI, world: MatrixWorld, path: str, caller: str) -> str:
    """Connect to a websocket over ASGI, in-process: "open" when it stays open, else the code it closed with."""
    token = world.headers[caller].get("Authorization", "").removeprefix("Bearer ")
    query = "ready=1" + (f"&token={token}" if token else "")
    if path == "/ws/field" and caller == "crew_other":
        query += f"&unit={world.base.other_unit}"
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await incoming.put({"type": "websocket.connect"})
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
        "subprotocols": [],
        "root_path": "",
        "state": {},
    }
    task = asyncio.create_task(app(scope, incoming.get, outgoing.put))  # type: ignore[arg-type]
    outcome = "silent"  # neither ready nor closed within the wait: a failure of the table
    try:
        while True:
            message = await asyncio.wait_for(outgoing.get(), 3.0)
            if message["type"] == "websocket.close":
                outcome = str(message.get("code", 1000))
                break
            if message["type"] == "websocket.send" and json.loads(message.get("text") or "{}").get("type") == "ready":
                outcome = "open"  # subscribed and live
                break
    except TimeoutError:
        pass
    finally:
        await incoming.put({"type": "websocket.disconnect", "code": 1000})
        try:
            await asyncio.wait_for(task, 5)
        except (TimeoutError, Exception):
            task.cancel()
    return outcome


def documented_routes(app: FastAPI) -> list[str]:
    return [f"{m.upper()} {p}" for p, ops in app.openapi()["paths"].items() for m in ops]


async def test_every_route_answers_every_caller_as_the_matrix_says(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    connection: AsyncConnection,
    token_for: TokenFor,
    settings: Settings,
) -> None:
    world = await make_world(client, session, token_for, settings)
    # A socket with no token waits this long for one in its first message, then closes (1008).
    state_of(app).settings = state_of(app).settings.model_copy(update={"ws_auth_timeout_s": 0.5})
    routes = [r for r in documented_routes(app) if not r.split()[1].startswith("/api/v1/_probe/")]
    actual: dict[str, str] = {}
    for route in routes:
        method, path = route.split(" ", 1)
        cells = []
        for caller in CALLERS:
            savepoint = await connection.begin_nested()
            try:
                answer = await client.request(**request_for(world, method, path, caller))
            finally:
                await savepoint.rollback()
            cells.append(str(answer.status_code))
            if os.environ.get("MATRIX_DEBUG") and answer.status_code >= 400:
                print(route, caller, answer.status_code, answer.text[:200])
        actual[route] = " ".join(cells)
    for route in WEBSOCKETS:
        actual[route] = " ".join([await _socket(app, world, route.split()[1], caller) for caller in CALLERS])
    if os.environ.get("MATRIX_PRINT"):
        for route, row in actual.items():
            c = row.split()
            print(f'    "{route}": '.ljust(62) + f'"{" ".join(c[:3])} | {" ".join(c[3:8])} | {" ".join(c[8:])}",')
    expected = {route: " ".join(_cells(row)) for route, row in {**MATRIX, **WEBSOCKETS}.items()}
    missing = [route for route in actual if route not in expected]
    assert missing == [], f"place these routes in {__name__}.MATRIX: {missing}"
    gone = [route for route in expected if route not in actual]
    assert gone == [], f"the table names routes the app does not have: {gone}"
    differ = [
        f"{route}\n   expected {expected[route]}\n   actual   {actual[route]}"
        for route in expected
        if expected[route] != actual[route]
    ]
    assert differ == [], "\n".join(differ)
