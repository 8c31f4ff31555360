"""Units' live positions, set-wise: read (and lock) many units in one statement, move many in one UPDATE.

A batch of fixes from a tracking gateway touches hundreds of units; one round trip per unit would make the
application, not PostgreSQL, the limit. Both statements bind arrays (``unnest``) so their text never changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
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
# The unit moves; its unit.location event is due (the leading edge) when none was written within the interval
# (before :due). RETURNING sees the new values: "evented" is true when this statement stamped the event.
_EVENT_DUE = "r.location_event_at IS NULL OR r.location_event_at <= :due"
_MOVE = text(
    "UPDATE resource r SET location = ST_SetSRID(ST_MakePoint(m.lon, m.lat), 4326), last_fix_at = m.at, "
    "version = r.version + 1, updated_at = :now, "
    f"location_event_at = CASE WHEN {_EVENT_DUE} THEN :now ELSE r.location_event_at END, "
    f"location_event_fix_at = CASE WHEN {_EVENT_DUE} THEN m.at ELSE r.location_event_fix_at END "
    "FROM unnest(:ids, :lons, :lats, :ats) AS m(id, lon, lat, at) WHERE r.id = m.id "
    f"RETURNING {_COLUMNS}, m.lon AS lon, m.lat AS lat, "
    "(r.location_event_at = :now AND r.location_event_fix_at = m.at) AS evented"
).bindparams(
    bindparam("ids", type_=ARRAY(BigInteger)),
    bindparam("lons", type_=ARRAY(Float)),
    bindparam("lats", type_=ARRAY(Float)),
    bindparam("ats", type_=ARRAY(DateTime(timezone=True))),
    bindparam("now", type_=DateTime(timezone=True)),
    bindparam("due", type_=DateTime(timezone=True)),
)
# The trailing edge: units that moved since their last event, whose interval is over (the partial index
# ix_resource_position_unsent holds exactly the first condition). Rows another sweep holds are skipped.
_UNSENT = text(
    "SELECT id FROM resource WHERE last_fix_at IS DISTINCT FROM location_event_fix_at AND location_event_at <= :due "
    "ORDER BY id LIMIT :limit FOR NO KEY UPDATE SKIP LOCKED"
)
_STAMP = text(
    "UPDATE resource r SET location_event_at = :now, location_event_fix_at = r.last_fix_at WHERE r.id = ANY(:ids) "
    f"RETURNING {_COLUMNS}, ST_X(r.location) AS lon, ST_Y(r.location) AS lat"
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)), bindparam("now", type_=DateTime(timezone=True)))


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


async def move_units(
    session: AsyncSession, *, moves: Sequence[Move], now: datetime, interval: timedelta
) -> list[dict[str, Any]]:
    """Put each unit where its move says, in one UPDATE; the moved units as list rows, each with ``evented``: true
    when its ``unit.location`` event is due now (none within ``interval``), which the caller then queues; otherwise
    ``unsent_positions`` sends it when the interval is over. One move per unit (the caller chose the newest).
    Resources this session holds as objects are expired, so that they reload."""
    if not moves:
        return []
    params = {
        "ids": [m.unit_id for m in moves],
        "lons": [m.lon for m in moves],
        "lats": [m.lat for m in moves],
        "ats": [m.at for m in moves],
        "now": now,
        "due": now - interval,
    }
    rows = [dict(row) for row in (await session.execute(_MOVE, params)).mappings()]
    _expire(session, [m.unit_id for m in moves])
    return rows


async def unsent_positions(
    session: AsyncSession, *, now: datetime, interval: timedelta, limit: int = 5000
) -> list[dict[str, Any]]:
    """The units whose newest position has no event yet and whose interval is over, stamped as sent now (the caller
    queues their ``unit.location`` events in the same transaction), as list rows."""
    ids = list(await session.scalars(_UNSENT, {"due": now - interval, "limit": limit}))
    if not ids:
        return []
    rows = [dict(row) for row in (await session.execute(_STAMP, {"ids": ids, "now": now})).mappings()]
    _expire(session, ids)
    return rows


def _expire(session: AsyncSession, unit_ids: Sequence[int]) -> None:
    for unit_id in unit_ids:
        held = session.identity_map.get(identity_key(Resource, unit_id))
        if held is not None:
            session.expire(held)
