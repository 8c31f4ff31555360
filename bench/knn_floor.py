"""The raw floor of ``near`` in bench/map.py: the plain KNN SQL plus HTTP, and nothing else.

A bare ASGI app (no framework, no authentication) on the same uvicorn as ``commandpost serve``: one asyncpg
connection (no pool: the bench asks one request at a time), the plain KNN statement, ``json.dumps`` of the rows.
Run it as ``uvicorn bench.knn_floor:app`` with ``FLOOR_DSN`` set to the database; ``GET /?near=lon,lat&type=...``
answers the five nearest of that type.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import parse_qsl

import asyncpg

from gis.schemas import RESOURCE_COLUMNS

_HERE = "ST_SetSRID(ST_MakePoint($1, $2), 4326)"
_KNN = f"FROM resource WHERE type = $3 ORDER BY location <-> {_HERE} LIMIT 5"
KNN_SQL = f"SELECT id, type, name, ST_Distance(location::geography, {_HERE}::geography) AS distance_m {_KNN}"
# /full: the same search returning every field the API's answer has (jsonb passed through as text, not decoded).
FULL_SQL = f"""SELECT {", ".join(RESOURCE_COLUMNS)}, ST_X(location) AS lon, ST_Y(location) AS lat,
    ST_Distance(location::geography, {_HERE}::geography) AS distance_m {_KNN}"""

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
    rows = await _connection.fetch(KNN_SQL if scope["path"] == "/" else FULL_SQL, lon, lat, query["type"])
    body = json.dumps({"items": [dict(row) for row in rows]}, default=str).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
