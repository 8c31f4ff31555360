"""Nearest by road: the available units of a type that reach a point first, ranked by road travel time.

Two steps. Candidates: one nearest-first walk of the ``resource`` GiST index, as cheap as the plain KNN query,
that meets the available units of the type at their stored positions *and* the stations housing such units with
no fresh fix. The position rule of DOMAIN.md section 4 is applied to what the walk meets: a unit with a fresh fix
is where its fix says; an available unit with no fix, or only a stale one, is at its home station (a stale fix
met near the point moves home; a station met near the point brings in the units taken to be there); a unit with
neither is at its stored position, and the reason says so. Every unit whose effective position lies within the
walk's reach is found. Then one many-to-one pgRouting query gives the candidates' travel times, and the fastest
``k`` win. Straight-line estimates stand in, stated as such, where the roads cannot answer (no graph, a point off
the network).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from operator import itemgetter

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import Invalid
from gis import repository
from gis.models import ResourceKind
from gis.roads.routing import straight_metres_from, travel_times
from gis.roads.schemas import MAX_K, Candidate, Leg, PositionSource, Reach, RoadPolicy

MAX_CANDIDATES = 200

# One nearest-first walk of the resource GiST index. Each facility met (status IS NULL: stations, hospitals, depots)
# is looked into once, through the partial index of available units in quarters (ix_resource_quarters), for an
# available unit of the type with no fresh fix; rows of other types and statuses are skipped at no cost. OFFSET 0
# keeps that look a per-row probe: without it the planner may hash the whole type's quarters up front.
# For the rows the walk keeps, CASE-guarded subqueries (evaluated only where needed) give a unit met at a stale fix
# (or none) its home station (x, y, name), and a station the units taken to be in its quarters (id, name, fix time).
# The walk's LIMIT is written into the statement (``candidates_sql``): with it known, PostgreSQL can keep one
# generic plan instead of planning this statement on every call, and that plan still walks the index.
_CANDIDATES = """
SELECT h.id, h.name, h.status IS NULL AS facility, ST_X(h.location) AS lon, ST_Y(h.location) AS lat, h.last_fix_at,
       CASE WHEN h.status IS NOT NULL AND (h.last_fix_at IS NULL OR h.last_fix_at < :fresh_after) THEN
           (SELECT ROW(ST_X(s.location), ST_Y(s.location), s.name) FROM resource AS s WHERE s.id = h.home_station_id)
       END AS home,
       CASE WHEN h.status IS NULL THEN
           (SELECT array_agg(ROW(q.id, q.name, q.last_fix_at) ORDER BY q.id) FROM (
                SELECT u.id, u.name, u.last_fix_at FROM resource AS u
                WHERE u.home_station_id = h.id AND u.type = :type AND u.status = 'available'
                  AND (u.last_fix_at IS NULL OR u.last_fix_at < :fresh_after)
                ORDER BY u.id LIMIT :candidates) AS q)
       END AS quarters
FROM (
    SELECT r.id, r.name, r.status, r.location, r.last_fix_at, r.home_station_id
    FROM resource AS r
    WHERE (r.type = :type AND r.status = 'available')
       OR (r.status IS NULL AND EXISTS (
            SELECT FROM resource AS q
            WHERE q.home_station_id = r.id AND q.type = :type AND q.status = 'available'
              AND (q.last_fix_at IS NULL OR q.last_fix_at < :fresh_after)
            OFFSET 0))
    ORDER BY r.location <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)
    LIMIT :candidates
) AS h
"""


@lru_cache(maxsize=32)
def candidates_sql(limit: int) -> TextClause:
    """The candidate statement for a walk of ``limit`` rows. The limit is a checked int of ours, never caller
    text; every other value stays a bound parameter."""
    if not isinstance(limit, int) or not 1 <= limit <= MAX_CANDIDATES:
        raise ValueError(f"limit must be an int between 1 and {MAX_CANDIDATES}")
    return text(_CANDIDATES.replace(":candidates", str(limit)))


_BY_DISTANCE = itemgetter(7, 0)  # Candidate.straight_m, then Candidate.unit_id


async def find_candidates(
    session: AsyncSession,
    *,
    lon: float,
    lat: float,
    type: str,
    limit: int,
    stale_after: timedelta,
    now: datetime,
) -> list[Candidate]:
    """The ``limit`` available units of ``type`` nearest to the point by straight line, each at its effective
    position (fresh fix, else home station, else stored position), nearest first."""
    fresh_after = now - stale_after
    params = {"lon": lon, "lat": lat, "type": type, "fresh_after": fresh_after}
    rows = (await session.execute(candidates_sql(limit), params)).all()
    if not rows:
        return []
    # (unit id, name, x, y, fix time, home station name or None), one per unit met or brought in by a station
    placed: list[tuple[int, str, float, float, datetime | None, str | None]] = []
    for unit_id, name, facility, x, y, fixed_at, home, quarters in rows:
        if facility:
            placed.extend((u_id, u_name, x, y, u_fix, name) for u_id, u_name, u_fix in quarters or ())
        elif home is not None:
            placed.append((unit_id, name, home[0], home[1], fixed_at, home[2]))
        else:
            placed.append((unit_id, name, x, y, fixed_at, None))
    metres = straight_metres_from((lon, lat), [(p[2], p[3]) for p in placed])
    found: dict[int, Candidate] = {}
    for (unit_id, name, x, y, fixed_at, station), distance in zip(placed, metres, strict=True):
        source: PositionSource = (
            "home_station"
            if station is not None
            else "fix"
            if fixed_at is not None and fixed_at >= fresh_after
            else "last_known"
        )
        # A unit met at its stale fix and again at its station is one candidate, at its station either way.
        found[unit_id] = Candidate(unit_id, name, x, y, source, fixed_at, station, distance)
    ranked = sorted(found.values(), key=_BY_DISTANCE)
    return ranked[:limit]


def _placed(candidate: Candidate, *, now: datetime, stale_after: timedelta) -> str:
    stale_min = stale_after.total_seconds() / 60
    fix = candidate.last_fix_at
    if candidate.position_source == "fix" and fix is not None:
        return f"at its fix of {max(0.0, (now - fix).total_seconds()) / 60:.0f} min ago"
    no_fix = "no fix yet" if fix is None else f"no fix in the last {stale_min:g} min (a stale one is not trusted)"
    if candidate.position_source == "home_station":
        return f"{no_fix}: taken to be at its home station {candidate.station}"
    return f"{no_fix} and no home station: at its last known position"


async def _check_unit_type(session: AsyncSession, type: str) -> None:
    kinds = await repository.resource_types(session)
    if kinds.get(type) != ResourceKind.unit:
        known = ", ".join(sorted(k for k, kind in kinds.items() if kind == ResourceKind.unit))
        raise Invalid(f"{type!r} is not a unit type (one of: {known})", field="type")


async def nearest_by_road(
    session: AsyncSession,
    *,
    lon: float,
    lat: float,
    type: str,
    k: int = 5,
    candidates: int = 20,
    stale_after: timedelta = timedelta(minutes=10),
    now: datetime | None = None,
    policy: RoadPolicy | None = None,
) -> list[Reach]:
    """The ``k`` available units of ``type`` that reach the point first, by road travel time.

    The ``candidates`` nearest by straight line (at their effective positions, see the module) are timed by road in
    one query; those the roads cannot time get the stated straight-line estimate. Ranked by ETA, then id.
    """
    if not 1 <= k <= MAX_K:
        raise Invalid(f"k must be between 1 and {MAX_K}", field="k")
    now = now or utcnow()
    pool = min(MAX_CANDIDATES, max(candidates, k))
    found = await find_candidates(session, lon=lon, lat=lat, type=type, limit=pool, stale_after=stale_after, now=now)
    if not found:
        await _check_unit_type(session, type)  # only facilities and unknown keys find nothing by construction
        return []
    legs = await travel_times(
        session, origins=[(c.unit_id, c.lon, c.lat) for c in found], lon=lon, lat=lat, policy=policy
    )
    reached = [_reach(c, leg, type=type, now=now, stale_after=stale_after) for c, leg in zip(found, legs, strict=True)]
    ranked = sorted(reached, key=lambda r: (r.eta_s, r.unit_id))
    return ranked[:k]


def _reach(candidate: Candidate, leg: Leg, *, type: str, now: datetime, stale_after: timedelta) -> Reach:
    return Reach(
        unit_id=candidate.unit_id,
        type=type,
        name=candidate.name,
        eta_s=round(leg.eta_s, 1),
        distance_m=round(leg.distance_m, 1),
        method=leg.method,
        reason=f"{_placed(candidate, now=now, stale_after=stale_after)}; {leg.reason}",
        position_source=candidate.position_source,
        lon=candidate.lon,
        lat=candidate.lat,
        straight_m=round(candidate.straight_m, 1),
        last_fix_at=candidate.last_fix_at,
    )
