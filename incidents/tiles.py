"""The ``incidents`` layer of the vector tiles: the open incidents a reader may see, with what the map colours
them by."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gis import service as gis
from gis.schemas import TILE_BUFFER as BUFFER
from gis.schemas import TILE_EXTENT as EXTENT
from incidents.lifecycle import Status
from incidents.models import Incident
from incidents.scope import IncidentScope

# Closed and cancelled incidents leave the live map.
_OFF_THE_MAP = (Status.closed.value, Status.cancelled.value)


def _statement(scope: IncidentScope) -> Select[Any]:
    bounds = gis.tile_bounds()
    mvt = (
        select(
            func.ST_AsMVTGeom(func.ST_Transform(Incident.location, 3857), bounds.c.env, EXTENT, BUFFER, True).label(
                "geom"
            ),
            Incident.id,
            Incident.title,
            Incident.category,
            Incident.subtype,
            func.coalesce(Incident.override_level, Incident.grade_level).label("level"),  # the grade in force
            Incident.status,
            Incident.possible_duplicate_of,
        )
        .join(bounds, Incident.location.intersects(bounds.c.box))  # the GiST index finds the rows
        .where(Incident.status.not_in(_OFF_THE_MAP))
        .where(scope.condition(Incident.id))
        .subquery("mvt")
    )
    return select(text(f"ST_AsMVT(mvt.*, 'incidents', {EXTENT}, 'geom', 'id')")).select_from(mvt)


async def incident_tile(session: AsyncSession, *, z: int, x: int, y: int, scope: IncidentScope) -> bytes:
    """The open incidents in ``scope`` in tile z/x/y, as a Mapbox Vector Tile (empty bytes when there are none)."""
    return await gis.render_tile(session, statement=_statement(scope), z=z, x=x, y=y)
