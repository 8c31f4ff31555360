"""The ``incidents`` layer of the vector tiles: open incidents with what the map colours them by."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gis.tiles import BOUNDS_CTE, EXTENT, render

# Closed and cancelled incidents leave the live map; the grade in force is the override, else the computed one.
_INCIDENTS = text(f"""
WITH {BOUNDS_CTE},
mvt AS (
    SELECT ST_AsMVTGeom(ST_Transform(i.location, 3857), bounds.env, {EXTENT}, 64, true) AS geom,
           i.id, i.title, i.category, i.subtype, COALESCE(i.override_level, i.grade_level) AS level, i.status,
           i.possible_duplicate_of
    FROM incident i, bounds
    WHERE i.location && bounds.box AND i.status NOT IN ('closed', 'cancelled')
)
SELECT ST_AsMVT(mvt.*, 'incidents', {EXTENT}, 'geom', 'id') FROM mvt
""")


async def incident_tile(session: AsyncSession, *, z: int, x: int, y: int) -> bytes:
    """Open incidents in tile z/x/y, as a Mapbox Vector Tile (empty bytes when there are none)."""
    return await render(session, _INCIDENTS, z=z, x=x, y=y)
