"""The area reachable by road within N minutes from a point (an isochrone), as a polygon.

pgRouting's ``pgr_withPointsDD`` gives the time to every vertex reachable within the budget from the snapped
point, one-ways honoured. Every edge is then driven from the end it is entered at as far as the time lasts
(partial edges at the frontier), each piece widened in the point's UTM zone, and the pieces merged: the shape
follows the streets, and a river without a bridge stays a gap.
"""

from __future__ import annotations

import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, Invalid
from gis.roads.graph import ROUTABLE_EDGES_SQL
from gis.roads.routing import NO_GRAPH, POINTS_SQL, inside_edge, off_network, snap_points
from gis.roads.schemas import MAX_ISOCHRONE_MINUTES, Isochrone, RoadPolicy

# Every edge driven, as far as the budget lasts from the end it is entered at, plus the start's own edge; each
# piece widened in a metric projection (UTM) and the pieces merged (a cascaded union: far faster than one buffer
# of the whole collection). Fixed text: the f-string holds our constants (ROUTABLE_EDGES_SQL, POINTS_SQL) only;
# every value is a bound parameter.
_ISOCHRONE = text(f"""
WITH reached AS (
    SELECT node, agg_cost
    FROM pgr_withPointsDD('{ROUTABLE_EDGES_SQL}', {POINTS_SQL}, -1, CAST(:budget AS float8),
                          directed => true, driving_side => 'b', details => false)
    WHERE node > 0
),
start AS (SELECT CAST(:edge AS bigint) AS edge, CAST(:fraction AS float8) AS f),
piece AS (
    SELECT ST_LineSubstring(e.geom, 0, least(1, (:budget - r.agg_cost) / e.cost_s)) AS g
    FROM reached AS r JOIN road_edge AS e ON e.source = r.node
    WHERE e.routable AND e.cost_s > 0
    UNION ALL
    SELECT ST_LineSubstring(e.geom, greatest(0, 1 - (:budget - r.agg_cost) / e.reverse_cost_s), 1)
    FROM reached AS r JOIN road_edge AS e ON e.target = r.node
    WHERE e.routable AND e.reverse_cost_s > 0
    UNION ALL
    SELECT ST_LineSubstring(e.geom, s.f, least(1, s.f + :budget / e.cost_s))
    FROM start AS s JOIN road_edge AS e ON e.id = s.edge WHERE e.cost_s > 0
    UNION ALL
    SELECT ST_LineSubstring(e.geom, greatest(0, s.f - :budget / e.reverse_cost_s), s.f)
    FROM start AS s JOIN road_edge AS e ON e.id = s.edge WHERE e.reverse_cost_s > 0
),
widened AS (
    SELECT ST_Buffer(ST_Simplify(ST_Transform(g, CAST(:srid AS int)), 5), CAST(:buffer_m AS float8), 'quad_segs=2')
           AS g
    FROM piece
)
SELECT ST_AsBinary(ST_Transform(ST_SimplifyPreserveTopology(ST_Union(g), 5), 4326)) FROM widened
""")


def utm_srid(lon: float, lat: float) -> int:
    """The EPSG code of the UTM zone holding a point: a metric projection for buffering around it."""
    zone = min(60, int((lon + 180) // 6) + 1)
    return (32600 if lat >= 0 else 32700) + zone


async def isochrone(
    session: AsyncSession, *, lon: float, lat: float, minutes: float, policy: RoadPolicy | None = None
) -> Isochrone:
    """The area reachable by road within ``minutes`` (0 < minutes ≤ 120) leaving from the point: every road
    driven, as far as the time lasts, widened into a polygon. Invalid off the network; Conflict with no graph."""
    policy = policy or RoadPolicy()
    if not 0 < minutes <= MAX_ISOCHRONE_MINUTES:
        raise Invalid(f"minutes must be more than 0 and at most {MAX_ISOCHRONE_MINUTES}", field="minutes")
    (snap,) = await snap_points(session, [(lon, lat)])
    if snap is None:
        raise Conflict(NO_GRAPH)
    if (why := off_network("the point", snap, policy)) is not None:
        raise Invalid(f"{why}: no isochrone can be drawn from it", field="at")
    budget = minutes * 60 - policy.access_s(snap.snap_m)
    if budget <= 0:
        area: BaseGeometry = Polygon()
    else:
        fraction = inside_edge(snap.fraction)
        params = {
            "pids": [1],
            "edges": [snap.edge_id],
            "fractions": [fraction],
            "budget": budget,
            "edge": snap.edge_id,
            "fraction": fraction,
            "buffer_m": policy.isochrone_buffer_m,
            "srid": utm_srid(lon, lat),
        }
        wkb = await session.scalar(_ISOCHRONE, params)
        area = shapely.from_wkb(bytes(wkb)) if wkb is not None else Polygon()
    return Isochrone(minutes=minutes, area=area, snap_m=snap.snap_m)
