"""Units' live positions, set-wise: read (and lock) many units in one statement, move many in one UPDATE.

A batch of fixes from a tracking gateway touches hundreds of units; one round trip per unit would make the
application, not PostgreSQL, the limit. Both statements bind arrays (``unnest``) so their text never changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key
from sqlalchemy.types import BigInteger, DateTime, Float

from gis.models import Resource
from gis.schemas import RESOURCE_COLUMNS

_COLUMNS = ", ".join(f"r.{name}" for name in RESOURCE_COLUMNS)

# Ascending ids: every transaction that locks several units takes them in the same order (DESIGN.md's lock order).
_LOCK = text(
    f"SELECT {_COLUMNS}, ST_X(r.location) AS lon, ST_Y(r.location) AS lat FROM resource r "
    "WHERE r.id = ANY(:ids) ORDER BY r.id FOR NO KEY UPDATE"
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)))
_READ = text(
    f"SELECT {_COLUMNS}, ST_X(r.location) AS lon, ST_Y(r.location) AS lat FROM resource r WHERE r.id = ANY(:ids)"
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)))
_MOVE = text(
    "UPDATE resource r SET location = ST_SetSRID(ST_MakePoint(m.lon, m.lat), 4326), last_fix_at = m.at, "
    "version = r.version + 1, updated_at = :now "
    "FROM unnest(:ids, :lons, :lats, :ats) AS m(id, lon, lat, at) WHERE r.id = m.id "
    f"RETURNING {_COLUMNS}, m.lon AS lon, m.lat AS lat"
).bindparams(
    bindparam("ids", type_=ARRAY(BigInteger)),
    bindparam("lons", type_=ARRAY(Float)),
    bindparam("lats", type_=ARRAY(Float)),
    bindparam("ats", type_=ARRAY(DateTime(timezone=True))),
    bindparam("now", type_=DateTime(timezone=True)),
)


@dataclass(frozen=True, slots=True)
class Move:
    """A unit's new position and the time of the fix that put it there."""

    unit_id: int
    lon: float
    lat: float
    at: datetime


async def unit_rows(session: AsyncSession, *, unit_ids: Sequence[int], lock: bool) -> dict[int, dict[str, Any]]:
    """The resources among ``unit_ids`` that exist, by id, as list rows (``ResourceOut.listed``); locked (in id
    order) with ``lock``, for a transaction that will move them."""
    result = await session.execute(_LOCK if lock else _READ, {"ids": sorted(set(unit_ids))})
    return {row["id"]: dict(row) for row in result.mappings()}


async def move_units(session: AsyncSession, *, moves: Sequence[Move], now: datetime) -> list[dict[str, Any]]:
    """Put each unit where its move says, in one UPDATE; the moved units as list rows. One move per unit: the caller
    chose the newest. Resources this session holds as objects are expired, so that they reload."""
    if not moves:
        return []
    params = {
        "ids": [m.unit_id for m in moves],
        "lons": [m.lon for m in moves],
        "lats": [m.lat for m in moves],
        "ats": [m.at for m in moves],
        "now": now,
    }
    rows = [dict(row) for row in (await session.execute(_MOVE, params)).mappings()]
    for move in moves:
        held = session.identity_map.get(identity_key(Resource, move.unit_id))
        if held is not None:
            session.expire(held)
    return rows
