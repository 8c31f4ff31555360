"""Mapbox Vector Tiles straight from PostGIS (``ST_AsMVT``), one fixed statement per layer.

Each statement finds its rows with the layer's GiST index (the tile's envelope, widened by the render buffer and
taken back to lon/lat) and clips them into tile coordinates with ``ST_AsMVTGeom``.
"""

from __future__ import annotations

from sqlalchemy import CTE, Executable, TextClause, column, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid
from gis.schemas import TILE_BUFFER as BUFFER
from gis.schemas import TILE_EXTENT as EXTENT
from gis.schemas import TileLayer

MAX_ZOOM = 24

# The tile's envelope in web mercator, and the same widened by the render buffer in lon/lat for the index lookup.
# The statements here are f-strings of our own constants (EXTENT, BUFFER) only: fixed text, no caller input; z, x
# and y are bound parameters.
_BOUNDS_SELECT = f"""SELECT ST_TileEnvelope(:z, :x, :y) AS env,
           ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => {BUFFER / EXTENT}), 4326) AS box"""
BOUNDS_CTE = _BOUNDS = f"""bounds AS (
    {_BOUNDS_SELECT}
)"""


def bounds_cte() -> CTE:
    """``BOUNDS_CTE`` for a statement built with SQLAlchemy (columns ``env`` and ``box``; binds :z, :x, :y)."""
    return text(_BOUNDS_SELECT).columns(column("env"), column("box")).cte("bounds")


_SQL: dict[TileLayer, TextClause] = {
    TileLayer.resources: text(f"""
WITH {_BOUNDS},
mvt AS (
    SELECT ST_AsMVTGeom(ST_Transform(r.location, 3857), bounds.env, {EXTENT}, {BUFFER}, true) AS geom,
           r.id, r.type, r.name, r.name_en, r.status
    FROM resource r, bounds
    WHERE r.location && bounds.box
)
SELECT ST_AsMVT(mvt.*, 'resources', {EXTENT}, 'geom', 'id') FROM mvt
"""),
    TileLayer.jurisdictions: text(f"""
WITH {_BOUNDS},
mvt AS (
    SELECT ST_AsMVTGeom(ST_Transform(j.geom, 3857), bounds.env, {EXTENT}, {BUFFER}, true) AS geom,
           j.id, j.name, j.name_en, j.admin_level
    FROM jurisdiction j, bounds
    WHERE j.geom && bounds.box
)
SELECT ST_AsMVT(mvt.*, 'jurisdictions', {EXTENT}, 'geom', 'id') FROM mvt WHERE geom IS NOT NULL
"""),
    TileLayer.zones: text(f"""
WITH {_BOUNDS},
mvt AS (
    SELECT ST_AsMVTGeom(ST_Transform(z.area, 3857), bounds.env, {EXTENT}, {BUFFER}, true) AS geom,
           z.id, z.name, z.kind, z.buffer_m
    FROM hazard_zone z, bounds
    WHERE z.area && bounds.box
)
SELECT ST_AsMVT(mvt.*, 'zones', {EXTENT}, 'geom', 'id') FROM mvt WHERE geom IS NOT NULL
"""),
    # Minor streets only from z13 on, secondary roads from z10: a city-wide tile stays small.
    TileLayer.roads: text(f"""
WITH {_BOUNDS},
mvt AS (
    SELECT ST_AsMVTGeom(ST_Transform(w.geom, 3857), bounds.env, {EXTENT}, {BUFFER}, true) AS geom,
           w.osm_id AS id, w.highway, w.name, w.name_en, w.oneway, w.maxspeed
    FROM road_way w, bounds
    WHERE w.geom && bounds.box
      AND (CASE WHEN w.highway IN ('motorway', 'motorway_link', 'trunk', 'trunk_link', 'primary', 'primary_link')
                THEN 0
                WHEN w.highway IN ('secondary', 'secondary_link', 'tertiary', 'tertiary_link') THEN 10
                ELSE 13 END) <= :z
)
SELECT ST_AsMVT(mvt.*, 'roads', {EXTENT}, 'geom', 'id') FROM mvt WHERE geom IS NOT NULL
"""),
}


def tile_sql(layer: TileLayer) -> TextClause:
    """The statement behind a layer's tiles (binds :z, :x, :y), for the benchmark's bare-query floor."""
    return _SQL[layer]


def check_tile(z: int, x: int, y: int) -> None:
    """Invalid unless z/x/y names a tile of the web-mercator pyramid."""
    if not 0 <= z <= MAX_ZOOM:
        raise Invalid(f"zoom {z} is out of range (0-{MAX_ZOOM})", field="z")
    size = 1 << z
    if not (0 <= x < size and 0 <= y < size):
        raise Invalid(f"tile {z}/{x}/{y} does not exist: x and y must be within 0-{size - 1} at zoom {z}", field="x")


async def render(session: AsyncSession, statement: Executable, *, z: int, x: int, y: int) -> bytes:
    """Run a tile statement (binds :z, :x, :y; see ``BOUNDS_CTE``); empty bytes when nothing lies in the tile."""
    check_tile(z, x, y)
    data = await session.scalar(statement, {"z": z, "x": x, "y": y})
    return bytes(data or b"")


async def tile(session: AsyncSession, *, layer: TileLayer, z: int, x: int, y: int) -> bytes:
    """The layer's vector tile; empty bytes when nothing lies in it."""
    return await render(session, _SQL[layer], z=z, x=x, y=y)
