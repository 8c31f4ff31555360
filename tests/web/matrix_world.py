"""The world the role matrix and the audit walk call every route in: real ids for every path parameter, a token
for every kind of caller, and a minimal valid request for every route (tests/web/test_role_matrix.py,
tests/web/test_audit_trail.py).

Built on tests/web/test_visibility.py's world (two incidents, a unit dispatched to each, a crew for the first),
plus a warning, a feed, a user to manage, a gateway for the crew's unit and the callers that prove nothing.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from command.service import assign_gateway_units
from core.clock import utcnow
from core.settings import Settings
from core.users import Role, add_user, get_by_username
from plans import service as plan_service
from tests.conftest import TokenFor
from tests.gis.conftest import tile_of
from tests.support import cap_messages, images
from tests.support.receivers import BrowserKeys, b64
from tests.web.test_visibility import A_SPOT, World, _make_world
from web.security import issue_token

# Who calls. "crew" is a field unit on its own unit's data (incident A, its dispatch, its unit, its task); "crew_other"
# the same crew on another unit's (incident B, B's dispatch, the other unit, B's task). Every other caller asks
# about A's ids.
CALLERS = (
    "anon",
    "forged",
    "expired",
    "admin",
    "commander",
    "duty_officer",
    "observer",
    "gateway",
    "crew",
    "crew_other",
)
ROLE_OF = {
    "admin": Role.admin,
    "commander": Role.commander,
    "duty_officer": Role.duty_officer,
    "observer": Role.observer,
    "gateway": Role.gateway,
}
PASSWORD = "matrix-password-" + secrets.token_hex(4)
CAP = {"Content-Type": "application/cap+xml"}
PLAN = plan_service.LIBRARY / "building-fire.yaml"


@dataclass
class MatrixWorld:
    base: World
    headers: dict[str, dict[str, str]]  # caller → its Authorization header (none for "anon")
    usernames: dict[str, str]  # caller → the name it signed in with (roles only)
    warning: int = 0
    feed: int = 0
    subject: int = 0  # a user the admin routes act on
    plan: str = "cn-building-fire"
    extra: dict[str, Any] = field(default_factory=dict)

    def ids(self, caller: str) -> dict[str, Any]:
        """The path parameters for ``caller``: B's for the crew on another unit's data, A's for everyone else."""
        other = caller == "crew_other"
        b = self.base
        return {
            "incident_id": b.b if other else b.a,
            "dispatch_id": b.b_dispatch if other else b.a_dispatch,
            "task_id": b.b_task if other else b.a_task,
            "unit_id": b.other_unit if other else b.unit,
            "photo_id": b.b_photo if other else b.a_photo,
            "resource_id": b.unit,
            "warning_id": self.warning,
            "feed_id": self.feed,
            "user_id": self.subject,
            "plan_id": self.plan,
            "jurisdiction_id": self.extra.get("jurisdiction", 1),
            "zone_id": self.extra.get("zone", 1),
            "delivery_id": self.extra.get("delivery", 1),
            "kind": "hazard_zones",
            "layer": "resources",
            **dict(zip(("x", "y"), tile_of(*A_SPOT, 15), strict=True)),
            "z": 15,
        }


async def _sign_in(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    response = await client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _square(x0: float, y0: float, side: float) -> dict[str, object]:
    ring = [[x0, y0], [x0 + side, y0], [x0 + side, y0 + side], [x0, y0 + side], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def layer(properties: dict[str, object], geometry: dict[str, object]) -> bytes:
    """A one-feature GeoJSON layer file."""
    feature = {"type": "Feature", "properties": properties, "geometry": geometry}
    return json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()


ZONE = layer({"name": "矩阵 低洼区", "kind": "flood"}, _square(104.05, 30.66, 0.01))
DISTRICT = layer({"name": "矩阵区", "admin_level": 6, "code": "510198"}, _square(104.0, 30.6, 0.2))
SHELTER = layer({"type": "shelter", "name": "矩阵 Square"}, {"type": "Point", "coordinates": [104.06, 30.67]})


async def make_world(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor, settings: Settings
) -> MatrixWorld:
    base = await _make_world(client, session, token_for)
    usernames: dict[str, str] = {}
    for caller, role in ROLE_OF.items():
        usernames[caller] = f"m.{caller}.{secrets.token_hex(3)}"
        await add_user(session, username=usernames[caller], password=PASSWORD, role=role)
    made = await get_by_username(session, username=usernames["gateway"])
    assert made is not None
    await assign_gateway_units(session, user_id=made.id, unit_ids=[base.unit])  # the gateway reports the crew's unit
    usernames["crew"] = usernames["crew_other"] = f"m.crew.{secrets.token_hex(3)}"
    await add_user(session, username=usernames["crew"], password=PASSWORD, role=Role.field_unit, unit_id=base.unit)
    subject = await add_user(
        session, username=f"m.subject.{secrets.token_hex(3)}", password=PASSWORD, role=Role.observer
    )
    # A's dispatch was escalated (as the deadline sweep does when no one acknowledges in time).
    await session.execute(text("UPDATE dispatch SET escalated_at = now() WHERE id = :id"), {"id": base.a_dispatch})
    await session.commit()
    headers = {caller: await _sign_in(client, name) for caller, name in usernames.items()}
    headers["anon"] = {}
    forged = issue_token(
        username=usernames["admin"],
        role="admin",
        password_changed_at=utcnow(),
        settings=settings.model_copy(update={"secret_key": settings.secret_key.__class__("x" * 40)}),
    )[0]
    headers["forged"] = {"Authorization": f"Bearer {forged}"}  # an admin's claims, signed with another key
    me = await get_by_username(session, username=usernames["admin"])
    assert me is not None
    expired = issue_token(
        username=usernames["admin"],
        role="admin",
        password_changed_at=me.password_changed_at,
        settings=settings,
        now=utcnow() - timedelta(minutes=settings.token_minutes + 1),
    )[0]
    headers["expired"] = {"Authorization": f"Bearer {expired}"}  # the admin's own, run out

    admin = headers["admin"]
    world = MatrixWorld(base=base, headers=headers, usernames=usernames, subject=subject.id)
    warning = await client.post("/api/v1/cap", content=cap_messages.message("matrix-1"), headers={**admin, **CAP})
    assert warning.status_code == 201, warning.text
    world.warning = warning.json()["items"][0]["id"]
    feed = await client.post("/api/v1/cap-feeds", json={"url": "https://cap.example.cn/feed.atom"}, headers=admin)
    assert feed.status_code == 201, feed.text
    world.feed = feed.json()["id"]
    for kind, body, key in (("hazard_zones", ZONE, "zone"), ("jurisdictions", DISTRICT, "jurisdiction")):
        files = {"file": (f"{kind}.geojson", body, "application/geo+json")}
        assert (await client.post(f"/api/v1/layers/{kind}/import", files=files, headers=admin)).status_code == 201
        listed = await client.get(f"/api/v1/{kind.replace('_', '-')}", headers=admin)
        world.extra[key] = max(item["id"] for item in listed.json()["items"])
    # A report of A's fire a minute later, flagged as its possible duplicate: what a duty officer decides on.
    report = {"description": "居民楼火灾，2人受伤", "title": "matrix: the same fire again", "location": POINT}
    again = await client.post("/api/v1/incidents", json=report, headers=admin)
    assert again.status_code == 201 and again.json()["possible_duplicate_of"] is not None, again.text
    world.extra["duplicate"] = again.json()["id"]
    # A notice of A's plan nobody could be sent (no contact for its agency): dead at once, for a person to handle.
    world.extra["delivery"] = await session.scalar(
        text("SELECT min(id) FROM delivery WHERE state = 'dead' AND incident_id = :a"), {"a": base.a}
    )
    assert world.extra["delivery"] is not None, "A's plan left no notice undelivered"
    spare = {"type": "ambulance", "name": "spare", "location": POINT}
    world.extra["spare"] = (await client.post("/api/v1/resources", json=spare, headers=admin)).json()["id"]
    return world


def request_for(world: MatrixWorld, method: str, path: str, caller: str) -> dict[str, Any]:
    """The keyword arguments of ``client.request`` for a minimal valid call of the route by ``caller``."""
    ids = world.ids(caller)
    if path == "/api/v1/incidents/{incident_id}/duplicate" and caller != "crew_other":
        ids["incident_id"] = world.extra["duplicate"]  # the flagged report (the crew is refused before it is looked at)
    url = path.format(**ids)
    auth = world.headers[caller]
    body = BODIES.get((method, path))
    kwargs: dict[str, Any] = {"method": method, "url": url, "headers": dict(auth)}
    if callable(body):
        body = body(world, caller)
    if isinstance(body, Raw):
        kwargs["content"] = body.content
        kwargs["headers"].update(body.headers)
    elif isinstance(body, Files):
        kwargs["files"] = body.files
    elif isinstance(body, Form):
        kwargs["data"] = body.data
    elif body is not None:
        kwargs["json"] = body
    if f"{method} {path}" in QUERIES:
        kwargs["params"] = QUERIES[f"{method} {path}"]
    return kwargs


@dataclass
class Raw:
    content: bytes
    headers: dict[str, str]


@dataclass
class Files:
    files: dict[str, tuple[str, bytes, str]]


@dataclass
class Form:
    data: dict[str, str]


def _token_form(world: MatrixWorld, caller: str) -> Form:
    """A role signs in with its own name and password; a caller with no identity tries a name that does not exist."""
    name = world.usernames.get(caller, "nobody.at.all")
    return Form({"username": name, "password": PASSWORD})


def _totp_confirm_form(world: MatrixWorld, caller: str) -> Form:
    """A code for an enrolment never begun (each call of the walk is rolled back): nothing to confirm."""
    name = world.usernames.get(caller, "nobody.at.all")
    return Form({"username": name, "password": PASSWORD, "code": "000000"})


def _push(world: MatrixWorld, caller: str) -> dict[str, Any]:
    keys = BrowserKeys.new()
    return {
        "endpoint": f"https://push.example.org/send/{caller}",
        "keys": {"p256dh": keys.p256dh, "auth": b64(keys.auth)},
    }


def _new_user(world: MatrixWorld, caller: str) -> dict[str, Any]:
    return {"username": f"made.by.{caller}", "role": "observer", "password": "new-user-password"}


def _fixes(world: MatrixWorld, caller: str) -> list[dict[str, Any]]:
    unit = world.ids(caller)["unit_id"]
    return [{"unit_id": unit, "type": "Point", "coordinates": [104.062, 30.689]}]


POINT = {"type": "Point", "coordinates": [104.0614, 30.6880]}
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/auth/token"): _token_form,
    ("POST", "/api/v1/auth/totp/enrol"): _token_form,
    ("POST", "/api/v1/auth/totp/confirm"): _totp_confirm_form,
    ("POST", "/api/v1/auth/refresh"): {"refresh_token": "not-a-refresh-token-of-anyone"},
    ("POST", "/api/v1/auth/logout"): {"refresh_token": "not-a-refresh-token-of-anyone"},
    ("POST", "/api/v1/classify"): {"text": "居民楼火灾，2人受伤"},
    ("POST", "/api/v1/incidents"): {"description": "仓库起火", "title": "matrix report", "location": POINT},
    ("PATCH", "/api/v1/incidents/{incident_id}"): {"title": "matrix: title corrected"},
    ("POST", "/api/v1/incidents/{incident_id}/transition"): {"to": "contained"},  # A is responding
    ("POST", "/api/v1/incidents/{incident_id}/grade"): {"level": "I", "reason": "a whole block burns"},
    ("POST", "/api/v1/incidents/{incident_id}/duplicate"): {"action": "dismiss"},
    ("POST", "/api/v1/incidents/{incident_id}/notes"): {"text": "报警人称二楼仍有浓烟"},
    ("POST", "/api/v1/incidents/{incident_id}/dispatches"): lambda w, c: {"unit_ids": [w.extra["spare"]]},
    ("POST", "/api/v1/dispatches/{dispatch_id}/ack"): None,
    ("POST", "/api/v1/units/{unit_id}/status"): {"status": "en_route"},
    ("POST", "/api/v1/units/{unit_id}/location"): {"type": "Point", "coordinates": [104.062, 30.689]},
    ("POST", "/api/v1/units/locations"): _fixes,
    ("POST", "/api/v1/resources"): {"type": "ambulance", "name": "matrix unit", "location": POINT},
    ("POST", "/api/v1/resources/import"): Files({"file": ("shelter.geojson", SHELTER, "application/geo+json")}),
    ("POST", "/api/v1/layers/{kind}/import"): Files({"file": ("zone.geojson", ZONE, "application/geo+json")}),
    ("POST", "/api/v1/plans/check"): None,
    ("POST", "/api/v1/plans"): lambda w, c: Raw(PLAN.read_bytes(), {"Content-Type": "application/yaml"}),
    ("POST", "/api/v1/incidents/{incident_id}/activations"): {"plan_id": "cn-building-fire"},
    ("POST", "/api/v1/tasks/{task_id}/reassign"): {"assignee": "hazmat.sun"},
    ("POST", "/api/v1/cap"): lambda w, c: Raw(cap_messages.message(f"matrix-{c}"), CAP),
    ("POST", "/api/v1/cap-feeds"): {"url": "https://cap.example.cn/other.atom"},
    ("POST", "/api/v1/contacts"): {"name": "矩阵 联系人", "channels": [{"type": "email", "address": "m@x.example.cn"}]},
    ("POST", "/api/v1/contacts/import"): Files(
        {"file": ("c.csv", "name,email\n矩阵,m2@x.example.cn\n".encode(), "text/csv")}
    ),
    ("POST", "/api/v1/push-subscriptions"): _push,
    ("POST", "/api/v1/users"): _new_user,
    ("PATCH", "/api/v1/users/{user_id}"): {"role": "duty_officer"},
    ("POST", "/api/v1/users/{user_id}/password"): {"password": "a-new-password-123"},
    ("POST", "/api/v1/incidents/{incident_id}/photos"): lambda w, c: Raw(images.png(), {"Content-Type": "image/png"}),
}
QUERIES: dict[str, dict[str, str]] = {
    "GET /api/v1/incidents/possible-duplicates": {"subtype": "building_fire", "near": "104.0614,30.6880"},
    "GET /api/v1/route": {"from": "104.06,30.67", "to": "104.07,30.68"},
    "GET /api/v1/isochrone": {"at": "104.06,30.67", "minutes": "5"},
    "GET /api/v1/units/nearest": {"at": "104.06,30.67", "type": "ambulance"},
    "GET /api/v1/places": {"q": "ours"},
    "GET /api/v1/layers/{layer}/export": {"format": "geojson"},
    "GET /api/v1/reports/response-times": {"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"},
    "DELETE /api/v1/push-subscriptions": {"endpoint": "https://push.example.org/send/none"},
}
