"""A web worker in a process of its own, for tests/test_lean_worker.py: which of the libraries only layer import and
export need has it loaded, after creating the app and after answering ordinary requests?

Run as ``python -m tests.support.lean_worker`` from the project root with the ``COMMANDPOST_*`` settings of a
migrated database in the environment. It runs the app's lifespan, serves requests in-process through httpx (the
database work inside one transaction, rolled back at the end: nothing stays), then exports a layer, and prints one
JSON object: the heavy modules loaded at each step and the status of each request.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import sys
from typing import Any

import httpx

HEAVY = ("geopandas", "pandas", "pyarrow", "pyogrio", "osmium", "tqdm")
AT = (104.0635, 30.6418)


def loaded() -> list[str]:
    """The heavy libraries this process has imported so far."""
    return sorted(name for name in HEAVY if name in sys.modules)


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The web-mercator tile x, y holding a point at zoom z."""
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


async def serve_a_few(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, int]:
    """Ordinary requests of a command room: the registry, nearest first, tiles, a route, reach, reference layers."""
    lon, lat = AT
    made = await client.post(
        "/api/v1/resources",
        json={"type": "ambulance", "name": "Lean 1", "location": {"type": "Point", "coordinates": [lon, lat]}},
        headers=auth,
    )
    x, y = tile_of(lon, lat, 14)
    paths = [
        "/api/v1/resources?limit=5",
        f"/api/v1/resources?near={lon},{lat}&type=ambulance&limit=5",
        f"/api/v1/resources?bbox={lon - 0.1},{lat - 0.1},{lon + 0.1},{lat + 0.1}&format=geojson",
        f"/api/v1/resources/{made.json().get('id', 0)}",
        f"/api/v1/tiles/resources/14/{x}/{y}.pbf",
        f"/api/v1/tiles/roads/14/{x}/{y}.pbf",
        f"/api/v1/route?from={lon},{lat}&to={lon + 0.01},{lat + 0.01}",
        f"/api/v1/units/nearest?at={lon},{lat}&type=ambulance&k=3",
        f"/api/v1/jurisdictions?contains={lon},{lat}",
        "/api/v1/hazard-zones",
    ]
    statuses = {"POST /api/v1/resources": made.status_code}
    for path in paths:
        statuses[f"GET {path}"] = (await client.get(path, headers=auth)).status_code
    return statuses


async def main() -> dict[str, Any]:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    import web.app
    from core.db import create_engine
    from core.settings import get_settings
    from core.users import Role, add_user

    out: dict[str, Any] = {}
    settings = get_settings()
    engine = create_engine(settings)
    async with engine.connect() as connection:
        outer = await connection.begin()
        sessions = async_sessionmaker(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint")
        app = web.app.create_app(settings, sessionmaker=sessions)
        out["after_create"] = loaded()
        try:
            async with app.router.lifespan_context(app):
                username, password = f"lean_{secrets.token_hex(3)}", secrets.token_urlsafe(12)
                async with sessions() as session:
                    await add_user(session, username=username, password=password, role=Role.commander, unit_id=None)
                    await session.commit()
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://worker") as client:
                    signed = await client.post("/api/v1/auth/token", data={"username": username, "password": password})
                    auth = {"Authorization": f"Bearer {signed.json()['access_token']}"}
                    out["statuses"] = await serve_a_few(client, auth)
                    out["after_requests"] = loaded()
                    export = await client.get("/api/v1/layers/resources/export?format=geojson", headers=auth)
                    out["statuses"]["GET /api/v1/layers/resources/export"] = export.status_code
                    out["after_export"] = loaded()
        finally:
            await outer.rollback()
    await engine.dispose()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
