"""The ``warnings`` layer of the vector tiles: the warnings in force, coloured by their level (red…blue)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from gis import service as gis
from gis.schemas import TILE_BUFFER as BUFFER
from gis.schemas import TILE_EXTENT as EXTENT
from incidents.warning_models import Warning
from incidents.warning_queries import in_force


def _statement() -> Select[Any]:
    bounds = gis.tile_bounds()
    mvt = (
        select(
            func.ST_AsMVTGeom(func.ST_Transform(Warning.area, 3857), bounds.c.env, EXTENT, BUFFER, True).label("geom"),
            Warning.id,
            Warning.event,
            Warning.headline,
            Warning.colour,
            Warning.severity,
            Warning.subtype,
            Warning.status,
            Warning.msg_type,
        )
        .join(bounds, Warning.area.intersects(bounds.c.box))  # the GiST index finds the rows
        .where(*in_force(utcnow()))  # type: ignore[arg-type]
        .subquery("mvt")
    )
    return select(text(f"ST_AsMVT(mvt.*, 'warnings', {EXTENT}, 'geom', 'id')")).select_from(mvt)


async def warning_tile(session: AsyncSession, *, z: int, x: int, y: int) -> bytes:
    """The warnings in force in tile z/x/y, as a Mapbox Vector Tile (empty bytes when there are none)."""
    return await gis.render_tile(session, statement=_statement(), z=z, x=x, y=y)
