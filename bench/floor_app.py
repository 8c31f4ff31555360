"""The service with its framework floors beside it, in one process.

    python -m bench._serve 'bench.floor_app:create()' PORT

``create()`` builds the service as ``commandpost serve`` does (``web.app.create_app``) and puts a bare FastAPI app
beside it in the same process: a request whose path starts with ``/floor/`` goes to the bare app, every other
request to the service (one ``startswith`` in front of both). The bare app has no middleware, no error handlers and
no app-wide dependencies; its routes use the service's own engine and pool, its auth cache and its token check
(``web.deps.user_from_token``, what every authenticated route calls), once the service's lifespan has made them:

- ``GET /floor/near?near=lon,lat&limit=5``: the token, then the same KNN statement the service's
  ``GET /api/v1/resources?near=...&limit=5`` sends (``NEAR_SQL``; ``GET /floor/sql`` shows both as sent, for the
  bench to compare), through the service's read engine, its rows as JSON. The same route is also mounted inside the
  service at ``/api/v1/floor/near``: the difference between the two is the service's middleware.
- ``POST /floor/units/{id}/location``: the token, then what the service's single fix writes, through the same pool,
  in one transaction, by hand-written single-row forms of its statements (``_FIX_SQL``: lock the unit row, insert
  the fix, move the unit, and the ``unit.location`` event when the unit's stream interval says it is due, into
  ``floor_event``); none of the service's checks (plausibility, the caller's rate, the audit burst), no response
  model.
- ``POST /floor/incidents``: the token, then the same incident row, timeline row and event row the service's
  intake writes (copied from the last incident the service logged: ``GET /floor/intake/ready`` loads them), in
  one transaction, the event by the unit of work's own statement (the event advisory lock, then the INSERT), into
  tables made like the service's (``FLOOR_TABLES``) that the service never reads.

``GET /floor/profile`` runs cProfile over the whole process (bench/spans.py), ``GET /floor/gc`` tells its full
garbage collections; ``BENCH_SPANS=1`` also times the stages of the service's intake (``GET /floor/spans``), and
``BENCH_GC_FREEZE=1`` moves everything made at start-up out of the collector's reach (``gc.freeze()``), a variant.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import pydantic_core
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import BigInteger, DateTime, Float, bindparam, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import BindParameter
from starlette.types import ASGIApp, Receive, Scope, Send

from bench import spans
from bench.knn_floor import SERVICE_NEAR_SQL
from core.errors import Unauthenticated
from core.events import _INSERT_EVENTS  # the unit of work's own event INSERT: lock first, then ids
from gis.schemas import RESOURCE_COLUMNS
from web.app import create_app
from web.deps import user_from_token
from web.state import state_of

# The statement the service sends for ``near=...&limit=5`` (bench/knn_floor.py), with named parameters.
NEAR_SQL = text(SERVICE_NEAR_SQL.replace("$1", ":lon").replace("$2", ":lat"))

# Module level: FastAPI resolves the routes' (string) annotations in the module's namespace.
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))]
_UNAUTHENTICATED = JSONResponse({"detail": "this endpoint needs 'Authorization: Bearer <token>'"}, status_code=401)


class Report(BaseModel):
    """The body the bench posts: the fields of ``IncidentIn`` it uses, no more checks than their types."""

    description: str
    location: dict[str, Any]
    source: str | None = None


_RESOURCE = ", ".join(f"r.{name}" for name in RESOURCE_COLUMNS)
_TYPED: list[BindParameter[Any]] = [
    bindparam("id", type_=BigInteger),
    bindparam("at", type_=DateTime(timezone=True)),
    bindparam("lon", type_=Float),
    bindparam("lat", type_=Float),
    bindparam("now", type_=DateTime(timezone=True)),
    bindparam("due", type_=DateTime(timezone=True)),
]
# The service's statements of one fix (gis/units.py, command/repository.py: there for many units at once, with
# arrays), for one unit.
_FIX_SQL = {
    "lock": text(
        f"SELECT {_RESOURCE}, ST_X(r.location) AS lon, ST_Y(r.location) AS lat FROM resource r "
        "WHERE r.id = :id FOR NO KEY UPDATE"
    ),
    "insert": text(
        "INSERT INTO unit_fix (unit_id, at, location, trusted) "
        "VALUES (:id, :at, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), true) RETURNING id"
    ).bindparams(*_TYPED[:4]),
    "move": text(
        "UPDATE resource r SET location = ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), last_fix_at = :at, "
        "version = r.version + 1, updated_at = :now, "
        "location_event_at = CASE WHEN r.location_event_at IS NULL OR r.location_event_at <= :due "
        "THEN :now ELSE r.location_event_at END, "
        "location_event_fix_at = CASE WHEN r.location_event_at IS NULL OR r.location_event_at <= :due "
        "THEN :at ELSE r.location_event_fix_at END "
        f"WHERE r.id = :id RETURNING {_RESOURCE}, :lon AS lon, :lat AS lat, "
        "(r.location_event_at = :now AND r.location_event_fix_at = :at) AS evented"
    ).bindparams(*_TYPED),
}


class Fix(BaseModel):
    """The body the bench posts for a fix (a GeoJSON Point and its time), no more checks than their types."""

    type: str
    coordinates: tuple[float, float]
    at: datetime


class IntakeRows:
    """The rows of the last incident the service logged (incident, its ``created`` timeline entry, its
    ``incident.created`` event), to insert again with each floor request's own description and place."""

    def __init__(self) -> None:
        self.incident: dict[str, Any] | None = None
        self.insert_incident: Any = None
        self.timeline: dict[str, Any] = {}
        self.event: dict[str, Any] = {}

    async def load(self, engine: AsyncEngine) -> bool:
        async with engine.begin() as conn:
            row = (await conn.execute(_LAST_INCIDENT)).first()
            if row is None:
                return False
            for statement in FLOOR_TABLES:
                await conn.execute(text(statement))
            incident_id, incident = row[0], json.loads(row[1])
            types: dict[str, str] = dict((await conn.execute(_COLUMN_TYPES)).tuples().all())
            timeline = (await conn.execute(_TIMELINE_OF, {"id": incident_id})).one()
            event_row = (await conn.execute(_EVENT_OF, {"id": incident_id})).one()
        kept = {k: v for k, v in incident.items() if k not in _SET_HERE and v is not None}
        names = ", ".join(kept)
        values = ", ".join(f"CAST(:{k} AS {types[k]})" for k in kept)
        self.insert_incident = text(
            f"INSERT INTO floor_incident ({names}, description, location, reported_at) VALUES ({values}, :description, "
            "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), now()) RETURNING id"
        )
        self.incident = {k: json.dumps(v) if types[k] == "jsonb" else v for k, v in kept.items()}
        self.timeline = {"kind": timeline[0], "actor": timeline[1], "data": timeline[2]}
        self.event = {"type": event_row[0], "data": json.loads(event_row[1]), "actor": event_row[2]}
        return True


_LAST_INCIDENT = text("SELECT id, to_jsonb(incident)::text FROM incident ORDER BY id DESC LIMIT 1")
_COLUMN_TYPES = text("SELECT column_name, udt_name FROM information_schema.columns WHERE table_name = 'incident'")
_TIMELINE_OF = text(
    "SELECT kind, actor, data::text FROM incident_timeline WHERE incident_id = :id AND kind = 'created' LIMIT 1"
)
_EVENT_OF = text("SELECT type, data::text, actor FROM event WHERE incident_id = :id AND type = 'incident.created'")
# Set by each insert (or by the database's defaults), not copied.
_SET_HERE = {"id", "description", "location", "reported_at", "created_at", "updated_at", "version"}
_INSERT_TIMELINE = text(
    "INSERT INTO floor_incident_timeline (incident_id, kind, actor, data) VALUES (:incident_id, :kind, :actor, "
    "CAST(:data AS jsonb))"
)
# The floor writes tables of its own, made like the service's (columns, defaults and sequences, indexes, checks,
# and the timeline's key to its incident), so that its rows cost what the service's do to insert and are never
# read by the service (its duplicate check, its hub).
FLOOR_TABLES = [
    "CREATE TABLE IF NOT EXISTS floor_incident (LIKE incident INCLUDING ALL)",
    """CREATE TABLE IF NOT EXISTS floor_incident_timeline (LIKE incident_timeline INCLUDING ALL,
        FOREIGN KEY (incident_id) REFERENCES floor_incident (id) ON DELETE CASCADE)""",
    "CREATE TABLE IF NOT EXISTS floor_event (LIKE event INCLUDING ALL)",
]
# The unit of work's own statement (the event advisory lock, then the INSERT), into the floor's table.
_INSERT_FLOOR_EVENTS = text(_INSERT_EVENTS.text.replace("INSERT INTO event (", "INSERT INTO floor_event (")).bindparams(
    *_INSERT_EVENTS._bindparams.values()
)
assert "floor_event" in _INSERT_FLOOR_EVENTS.text


def create() -> ASGIApp:
    """The service, with the bare floor app beside it (see the module's docstring)."""
    service = create_app()
    floor = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    rows = IntakeRows()
    captured: list[str] = []

    def engine(*, reads: bool) -> AsyncEngine:
        maker = state_of(service).read_sessionmaker if reads else state_of(service).sessionmaker
        bound: AsyncEngine = maker.kw["bind"]
        return bound

    async def proven(credentials: HTTPAuthorizationCredentials | None) -> bool:
        if credentials is None or credentials.scheme.lower() != "bearer":
            return False
        try:
            await user_from_token(
                state_of(service).read_sessionmaker,
                settings=state_of(service).settings,
                token=credentials.credentials,
                cache=state_of(service).auth_cache,
            )
        except Unauthenticated:
            return False
        return True

    async def near(near: str, credentials: Credentials, limit: int = 5) -> Response:
        if not await proven(credentials):
            return _UNAUTHENTICATED
        lon, lat = (float(v) for v in near.split(","))
        async with engine(reads=True).connect() as conn:
            found = (await conn.execute(NEAR_SQL, {"lon": lon, "lat": lat})).mappings().all()
        body = pydantic_core.to_json({"items": [dict(row) for row in found], "total": found[0]["total"]})
        return Response(body, media_type="application/json")

    floor.add_api_route("/floor/near", near, methods=["GET"])
    service.add_api_route("/api/v1/floor/near", near, methods=["GET"])

    @floor.post("/floor/incidents", status_code=201)
    async def intake(report: Report, credentials: Credentials) -> Response:
        if not await proven(credentials):
            return _UNAUTHENTICATED
        lon, lat = report.location["coordinates"]
        values = {**rows.incident, "description": report.description, "lon": lon, "lat": lat}  # type: ignore[dict-item]
        async with engine(reads=False).begin() as conn:
            incident_id = (await conn.execute(rows.insert_incident, values)).scalar_one()
            await conn.execute(_INSERT_TIMELINE, {**rows.timeline, "incident_id": incident_id})
            data = {**rows.event["data"], "id": incident_id, "description": report.description}
            queued = [{**rows.event, "data": data, "incident_id": incident_id, "unit_id": None}]
            await conn.execute(_INSERT_FLOOR_EVENTS, {"rows": queued})
        return Response(json.dumps(data, ensure_ascii=False).encode(), status_code=201, media_type="application/json")

    floor_event_made: list[bool] = []
    floor_event_lock = asyncio.Lock()  # 200 phones' first fixes at once: the table is made by one of them

    @floor.post("/floor/units/{unit_id}/location")
    async def fix(unit_id: int, body: Fix, credentials: Credentials) -> Response:
        if not await proven(credentials):
            return _UNAUTHENTICATED
        now, (lon, lat) = datetime.now(UTC), body.coordinates
        if not floor_event_made:
            async with floor_event_lock:
                if not floor_event_made:
                    async with engine(reads=False).begin() as made:
                        await made.execute(text(FLOOR_TABLES[2]))
                    floor_event_made.append(True)
        async with engine(reads=False).begin() as conn:
            if not (await conn.execute(_FIX_SQL["lock"], {"id": unit_id})).first():
                return JSONResponse({"detail": "no such unit"}, status_code=404)
            values = {"id": unit_id, "at": body.at, "lon": lon, "lat": lat}
            fix_id = (await conn.execute(_FIX_SQL["insert"], values)).scalar_one()
            due = now - timedelta(seconds=1)
            row = (await conn.execute(_FIX_SQL["move"], {**values, "now": now, "due": due})).mappings().one()
            if row["evented"]:
                data = {"id": unit_id, "lon": lon, "lat": lat, "at": body.at.isoformat()}
                queued: list[dict[str, Any]] = [{"type": "unit.location", "data": data, "actor": None}]
                queued[0] |= {"incident_id": None, "unit_id": unit_id}
                await conn.execute(_INSERT_FLOOR_EVENTS, {"rows": queued})
        return Response(json.dumps({"id": fix_id, "unit_id": unit_id}).encode(), media_type="application/json")

    @floor.get("/floor/intake/ready")
    async def intake_ready() -> Response:
        """Load the rows to copy: 409 until the service has logged an incident."""
        return Response(status_code=200 if await rows.load(engine(reads=False)) else 409)

    def capture(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        captured.append(statement)

    @floor.get("/floor/sql")
    async def sql(watch: bool = False) -> list[str]:
        """``watch=1``: record the statements sent from now on; without: stop, and return what was recorded."""
        target = engine(reads=False).sync_engine  # the read engine shares its events and pool
        if watch:
            captured.clear()
            event.listen(target, "before_cursor_execute", capture)
            return []
        event.remove(target, "before_cursor_execute", capture)
        return list(captured)

    floor.add_api_route("/floor/profile", spans.profile, methods=["GET"])
    floor.add_api_route("/floor/gc", spans.GcLog().report, methods=["GET"])
    if os.environ.get("BENCH_GC_FREEZE"):  # a variant: what the service would gain from gc.freeze() at start-up
        gc.collect()
        gc.freeze()
    if os.environ.get("BENCH_SPANS"):
        spans.install()
        floor.add_api_route("/floor/spans", spans.report, methods=["GET"])

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/floor/"):
            await floor(scope, receive, send)
        else:
            await service(scope, receive, send)

    if os.environ.get("BENCH_SPANS"):
        return spans.Traced(app, engine=lambda: engine(reads=False))
    return app
