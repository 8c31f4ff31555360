"""Vector tiles: ``GET /api/v1/tiles/{layer}/{z}/{x}/{y}.pbf``.

An empty tile is 204 (never an error), z/x/y outside the pyramid 422, an unknown layer 404. Every tile carries a
strong ETag of its bytes; live layers (resources) must revalidate, reference layers may be reused for a while.
"""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Request, Response

from core.errors import NotFound
from gis import service
from gis.schemas import TileLayer
from incidents import service as incidents
from web.deps import ScopeDep, SessionDep

router = APIRouter(tags=["map"])
MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
INCIDENTS = "incidents"
WARNINGS = "warnings"
CACHE: dict[str, str] = {
    INCIDENTS: "private, no-cache",  # incidents open, move and close: always revalidate
    WARNINGS: "private, no-cache",  # warnings are issued, updated, cancelled and expire
    TileLayer.resources: "private, no-cache",  # units move: always revalidate (cheap with the ETag)
    TileLayer.jurisdictions: "private, max-age=3600",
    TileLayer.zones: "private, max-age=3600",
    TileLayer.roads: "private, max-age=3600",
}


@router.get("/tiles/{layer}/{z}/{x}/{y}.pbf", name="tiles.get")
async def get_tile(
    layer: str, z: int, x: int, y: int, request: Request, session: SessionDep, scope: ScopeDep
) -> Response:
    """A Mapbox Vector Tile of one layer: resources, jurisdictions, zones, roads, incidents (those the caller may
    see) or warnings (those in force)."""
    if layer == INCIDENTS:
        data = await incidents.incident_tile(session, z=z, x=x, y=y, scope=scope)
        headers = {"Cache-Control": CACHE[INCIDENTS]}
    elif layer == WARNINGS:
        data = await incidents.warning_tile(session, z=z, x=x, y=y)
        headers = {"Cache-Control": CACHE[WARNINGS]}
    else:
        try:
            which = TileLayer(layer)
        except ValueError:
            names = ", ".join([*TileLayer, INCIDENTS, WARNINGS])
            raise NotFound(f"no tile layer {layer!r} (one of: {names})") from None
        data = await service.tile(session, layer=which, z=z, x=x, y=y)
        headers = {"Cache-Control": CACHE[which]}
    if not data:
        return Response(status_code=204, headers=headers)
    etag = '"' + hashlib.blake2b(data, digest_size=16).hexdigest() + '"'
    headers["ETag"] = etag
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=MEDIA_TYPE, headers=headers)
