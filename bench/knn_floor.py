"""The raw floor of ``near`` in bench/map.py: the plain KNN SQL plus HTTP, and nothing else.

A bare ASGI app (no framework, no authentication) on the same uvicorn as ``commandpost serve``: one asyncpg
connection (no pool: the bench asks one request at a time), the plain KNN statement, ``json.dumps`` of the rows.
Run it as ``python -m bench._serve bench.knn_floor:app PORT`` with ``FLOOR_DSN`` set to the database;
``GET /?near=lon,lat[&type=...]`` answers the five nearest (of that type) with four fields, ``GET /full?near=lon,lat``
the five nearest by the service's own statement (``SERVICE_NEAR_SQL``), every field.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import parse_qsl

import asyncpg

# What ``gis.service.list_resources`` sends for ``near`` with a page of 5 at offset 0 and no other filter: the
# distance on the spheroid, the count capped 100 past the page (+1), every listed column, KNN order. bench/map.py
# compares it with what the service sends, as sent, before it measures (bench/floor_app.py's ``GET /floor/sql``).
SERVICE_NEAR_SQL = """
SELECT ST_Distance(CAST(resource.location AS geography),
         CAST(ST_SetSRID(ST_MakePoint(CAST($1 AS FLOAT), CAST($2 AS FLOAT)), 4326) AS geography)) AS distance_m,
       (SELECT count(*) AS count_1 FROM (SELECT 1 FROM resource LIMIT 106) AS counted) AS total,
       resource.id, resource.type, resource.name, resource.name_zh, resource.name_en, resource.capacity,
       resource.home_station_id, resource.agency, resource.status, resource.last_fix_at, resource.location_event_at,
       resource.location_event_fix_at, resource.source,
       resource.external_id, resource.properties, resource.created_at, resource.updated_at, resource.version,
       ST_X(resource.location) AS lon, ST_Y(resource.location) AS lat
FROM resource
ORDER BY resource.location <-> ST_SetSRID(ST_MakePoint(CAST($1 AS FLOAT), CAST($2 AS FLOAT)), 4326)
LIMIT 5 OFFSET 0
"""
_HERE = "ST_SetSRID(ST_MakePoint($1, $2), 4326)"
_KNN = f"FROM resource {{where}} ORDER BY location <-> {_HERE} LIMIT 5"
KNN_SQL = f"SELECT id, type, name, ST_Distance(location::geography, {_HERE}::geography) AS distance_m {_KNN}"

_connection: Any = None


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global _connection
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _connection = await asyncpg.connect(os.environ["FLOOR_DSN"])
                await send({"type": "lifespan.startup.complete"})
            else:
                await _connection.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] not in ("/", "/full"):  # /readyz, for the bench's start-up wait
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
        return
    query = dict(parse_qsl(scope["query_string"].decode()))
    lon, lat = (float(v) for v in query["near"].split(","))
    if scope["path"] == "/full":
        rows = await _connection.fetch(SERVICE_NEAR_SQL, lon, lat)  # jsonb passed through as text, not decoded
    elif "type" in query:
        rows = await _connection.fetch(KNN_SQL.format(where="WHERE type = $3"), lon, lat, query["type"])
    else:
        rows = await _connection.fetch(KNN_SQL.format(where=""), lon, lat)
    body = json.dumps({"items": [dict(row) for row in rows]}, default=str).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
