"""Travel on the road graph: snapping points to roads, a route between two points, and travel times from many
origins to one destination in one query (the reachable area is in ``gis.roads.isochrone``).

A point is snapped to the nearest routable edge (KNN on its GiST index, then the exact distance on the spheroid)
and becomes a point *on* that edge at a fraction of its length, which pgRouting's ``withPoints`` functions split
properly, one-way direction included. The leg between the point and the road counts at a slow access speed. A
point farther from every road than ``max_snap_m`` is off the network: times fall back to the straight line and
say so. The pgRouting statements are fixed text; values reach them as bound parameters, quoted by ``format(%L)``
inside PostgreSQL for the inner points query.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import shapely
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict
from gis.roads.graph import ROUTABLE_EDGES_SQL
from gis.roads.schemas import Leg, LonLat, Method, RoadPolicy, Route

if TYPE_CHECKING:
    from pyproj import Geod

NO_GRAPH = "no road graph loaded: run commandpost import-osm"
# pgRouting 3.4 drops a point lying exactly on a vertex (fraction 0 or 1): keep points a hair inside their edge.
_EPSILON = 1e-7


@functools.cache
def geod() -> Geod:
    """The WGS84 ellipsoid's geodesics, made on first use: pyproj (10 MB in a worker) loads when a distance is first
    needed, not with the package."""
    from pyproj import Geod

    return Geod(ellps="WGS84")


_SNAP = text("""
WITH input AS (
    SELECT i AS k, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS pt
    FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY AS t(lon, lat, i)
)
SELECT input.k, near.id, near.fraction, near.snap_m
FROM input CROSS JOIN LATERAL (
    -- the few nearest in degrees by the index, then the nearest in metres
    SELECT c.id, ST_LineLocatePoint(c.geom, input.pt) AS fraction,
           ST_Distance(c.geom::geography, input.pt::geography) AS snap_m
    FROM (SELECT id, geom FROM road_edge WHERE routable ORDER BY geom <-> input.pt LIMIT 4) AS c
    ORDER BY snap_m, c.id
    LIMIT 1
) AS near
ORDER BY input.k
""")

POINTS_SQL = (
    "format('SELECT pid, edge_id, fraction FROM unnest(%L::bigint[], %L::bigint[], %L::float8[]) "
    "AS t(pid, edge_id, fraction)', CAST(:pids AS bigint[]), CAST(:edges AS bigint[]), CAST(:fractions AS float8[]))"
)
_POINT_ROWS = """point AS (
    SELECT pid, edge_id, fraction
    FROM unnest(CAST(:pids AS bigint[]), CAST(:edges AS bigint[]), CAST(:fractions AS float8[]))
         AS t(pid, edge_id, fraction)
)"""
# Where along its edge a path step starts or ends: a vertex is at 0 (source) or 1 (target), a point at its fraction.
_POSITION = "CASE WHEN {node} < 0 THEN {point}.fraction WHEN {node} = e.source THEN 0.0 ELSE 1.0 END"

# Many origins (points -2, -3, ...) to one destination (point -1): the time of each, and its length on the road.
_MANY_TO_ONE = text(f"""
WITH {_POINT_ROWS},
path AS (
    SELECT start_pid, path_seq, node, edge, agg_cost,
           lead(node) OVER (PARTITION BY start_pid ORDER BY path_seq) AS next_node
    FROM pgr_withPoints('{ROUTABLE_EDGES_SQL}', {POINTS_SQL}, CAST(:starts AS bigint[]), -1,
                        directed => true, driving_side => 'b', details => false)
)
SELECT path.start_pid, max(path.agg_cost) AS cost_s,
       coalesce(sum(e.length_m * abs({_POSITION.format(node="path.next_node", point="b")}
                                     - {_POSITION.format(node="path.node", point="a")})), 0) AS road_m
FROM path
LEFT JOIN road_edge AS e ON e.id = path.edge
LEFT JOIN point AS a ON a.pid = -path.node
LEFT JOIN point AS b ON b.pid = -path.next_node
GROUP BY path.start_pid
""")

# One route (point -1 to point -2) with its line: each step's piece of edge, in the direction it is driven.
_ROUTE = text(f"""
WITH {_POINT_ROWS},
path AS (
    SELECT seq, node, edge, agg_cost, lead(node) OVER (ORDER BY seq) AS next_node
    FROM pgr_withPoints('{ROUTABLE_EDGES_SQL}', {POINTS_SQL}, -1, -2,
                        directed => true, driving_side => 'b', details => false)
),
step AS (
    SELECT path.seq, e.geom, e.length_m,
           {_POSITION.format(node="path.node", point="a")} AS from_f,
           {_POSITION.format(node="path.next_node", point="b")} AS to_f
    FROM path
    JOIN road_edge AS e ON e.id = path.edge
    LEFT JOIN point AS a ON a.pid = -path.node
    LEFT JOIN point AS b ON b.pid = -path.next_node
)
SELECT (SELECT max(agg_cost) FROM path) AS cost_s,
       (SELECT sum(length_m * abs(to_f - from_f)) FROM step) AS road_m,
       (SELECT ST_AsBinary(ST_RemoveRepeatedPoints(ST_MakeLine(
            CASE WHEN from_f <= to_f THEN ST_LineSubstring(geom, from_f, to_f)
                 ELSE ST_Reverse(ST_LineSubstring(geom, to_f, from_f)) END ORDER BY seq)))
        FROM step) AS line
""")


@dataclass(frozen=True)
class Snap:
    """Where a point meets the graph: an edge, the fraction along it, and how far the point lies from it."""

    edge_id: int
    fraction: float
    snap_m: float

    def on_network(self, policy: RoadPolicy) -> bool:
        return self.snap_m <= policy.max_snap_m


# WGS-84, for the short distances a city's dispatch measures without pyproj.
_A = 6_378_137.0
_E2 = (1 / 298.257223563) * (2 - 1 / 298.257223563)
# Within half a degree (about 50 km) the ellipsoid's local plane is within 1e-5 of the geodesic
# (tests/gis/test_routing.py checks it against pyproj); farther apart the geodesic itself is asked for.
_LOCAL_DEGREES = 0.5


def _local_metres(a: LonLat, b: LonLat) -> float | None:
    """The distance on the ellipsoid's tangent plane at the two points' mean latitude (meridional and prime-vertical
    radii of curvature there), or None when the points are too far apart for it."""
    d_lon = (b[0] - a[0] + 540.0) % 360.0 - 180.0
    d_lat = b[1] - a[1]
    if abs(d_lon) > _LOCAL_DEGREES or abs(d_lat) > _LOCAL_DEGREES:
        return None
    phi = math.radians((a[1] + b[1]) / 2)
    w = 1 - _E2 * math.sin(phi) ** 2
    prime_vertical = _A / math.sqrt(w)
    meridional = _A * (1 - _E2) / (w * math.sqrt(w))
    return math.hypot(prime_vertical * math.cos(phi) * math.radians(d_lon), meridional * math.radians(d_lat))


def straight_metres(a: LonLat, b: LonLat) -> float:
    """The distance between two points on the WGS-84 ellipsoid, in metres (pyproj's geodesic only beyond ~50 km)."""
    near = _local_metres(a, b)
    if near is not None:
        return near
    _, _, metres = geod().inv(a[0], a[1], b[0], b[1])
    return float(metres)


def straight_metres_from(origin: LonLat, points: Sequence[LonLat]) -> list[float]:
    """The distance from ``origin`` to each point on the WGS-84 ellipsoid, in metres."""
    return [straight_metres(origin, p) for p in points]


def inside_edge(fraction: float) -> float:
    return min(max(fraction, _EPSILON), 1 - _EPSILON)


async def snap_points(session: AsyncSession, points: Sequence[LonLat]) -> list[Snap | None]:
    """Each point's place on the graph, in order; all None when there is no graph."""
    if not points:
        return []
    rows = await session.execute(_SNAP, {"lons": [p[0] for p in points], "lats": [p[1] for p in points]})
    found = {int(k): Snap(int(edge), float(fraction), float(snap_m)) for k, edge, fraction, snap_m in rows.all()}
    return [found.get(k) for k in range(1, len(points) + 1)]


def off_network(what: str, snap: Snap | None, policy: RoadPolicy) -> str | None:
    """Why a point cannot use the roads, or None when it can."""
    if snap is None:
        return NO_GRAPH
    if not snap.on_network(policy):
        return f"{what} is {snap.snap_m:.0f} m from the nearest road (more than {policy.max_snap_m:.0f} m)"
    return None


def _straight_leg(origin_id: int, origin: LonLat, destination: LonLat, policy: RoadPolicy, why: str) -> Leg:
    metres = straight_metres(origin, destination)
    reason = f"straight line ({why}): {metres:.0f} m × {policy.straight_line_detour:g} at "
    reason += f"{policy.straight_line_speed_kmh:g} km/h"
    return Leg(origin_id, policy.straight_line_s(metres), metres, "straight_line", reason)


async def travel_times(
    session: AsyncSession,
    *,
    origins: Sequence[tuple[int, float, float]],
    lon: float,
    lat: float,
    policy: RoadPolicy | None = None,
) -> list[Leg]:
    """The travel time from each origin ``(id, lon, lat)`` to the point, in the origins' order, in one pgRouting
    query (many to one, one-ways honoured: each origin drives *to* the point). An origin off the network, or all
    of them when the point is off it or there is no graph, gets the stated straight-line estimate."""
    policy = policy or RoadPolicy()
    if not origins:
        return []
    destination = (lon, lat)
    snaps = await snap_points(session, [destination, *((o[1], o[2]) for o in origins)])
    target, starts = snaps[0], snaps[1:]
    if (why := off_network("the destination", target, policy)) is not None:
        return [_straight_leg(o[0], (o[1], o[2]), destination, policy, why) for o in origins]
    assert target is not None
    # One point per distinct place: units parked together share a point (pgRouting wants each once).
    places: dict[tuple[int, float], int] = {}
    for snap in starts:
        if snap is not None and snap.on_network(policy):
            places.setdefault((snap.edge_id, round(inside_edge(snap.fraction), 9)), len(places) + 2)
    costs = await _many_to_one(session, target, places) if places else {}
    legs = []
    for (origin_id, o_lon, o_lat), snap in zip(origins, starts, strict=True):
        why = off_network("the origin", snap, policy)
        if why is not None or snap is None:
            legs.append(_straight_leg(origin_id, (o_lon, o_lat), destination, policy, why or NO_GRAPH))
            continue
        found = costs.get(places[(snap.edge_id, round(inside_edge(snap.fraction), 9))])
        if found is None:
            legs.append(_straight_leg(origin_id, (o_lon, o_lat), destination, policy, "no road path"))
            continue
        cost_s, road_m = found
        access_m = snap.snap_m + target.snap_m
        eta = cost_s + policy.access_s(access_m)
        reason = f"by road: {road_m / 1000:.2f} km in {eta / 60:.1f} min"
        legs.append(Leg(origin_id, eta, road_m + access_m, "road", reason, snap.snap_m))
    return legs


async def _many_to_one(
    session: AsyncSession, target: Snap, places: dict[tuple[int, float], int]
) -> dict[int, tuple[float, float]]:
    here = (target.edge_id, round(inside_edge(target.fraction), 9))
    pids = [1, *places.values()]
    edges = [here[0], *(edge for edge, _ in places)]
    fractions = [here[1], *(fraction for _, fraction in places)]
    same = {pid for place, pid in places.items() if place == here}
    starts = [-pid for pid in places.values() if pid not in same]
    params = {"pids": pids, "edges": edges, "fractions": fractions, "starts": starts}
    rows = (await session.execute(_MANY_TO_ONE, params)).all() if starts else []
    costs = {-int(pid): (float(cost_s), float(road_m)) for pid, cost_s, road_m in rows}
    costs.update(dict.fromkeys(same, (0.0, 0.0)))
    return costs


async def route(session: AsyncSession, *, start: LonLat, end: LonLat, policy: RoadPolicy | None = None) -> Route:
    """The fastest route by road from ``start`` to ``end`` (one-ways honoured), or the stated straight line when
    either point is off the network. Conflict when no graph is loaded; the same point twice is a 0 s route."""
    policy = policy or RoadPolicy()
    a, b = await snap_points(session, [start, end])
    if a is None or b is None:
        raise Conflict(NO_GRAPH)
    why = off_network("the start", a, policy) or off_network("the end", b, policy)
    if start == end:
        method: Method = "road" if why is None else "straight_line"
        return Route(0.0, 0.0, method, "start and end are the same point", a.snap_m, b.snap_m, [start, end])
    if why is None:
        params = {
            "pids": [1, 2],
            "edges": [a.edge_id, b.edge_id],
            "fractions": [inside_edge(a.fraction), inside_edge(b.fraction)],
        }
        row = (await session.execute(_ROUTE, params)).one()
        if row.cost_s is not None and row.line is not None:
            road = shapely.from_wkb(bytes(row.line))
            coordinates = [start, *((x, y) for x, y, *_ in shapely.get_coordinates(road).tolist()), end]
            access_m = a.snap_m + b.snap_m
            duration = float(row.cost_s) + policy.access_s(access_m)
            reason = f"by road (snapped {a.snap_m:.0f} m and {b.snap_m:.0f} m from the roads)"
            return Route(
                duration, float(row.road_m) + access_m, "road", reason, a.snap_m, b.snap_m, _dedupe(coordinates)
            )
        why = "no road path between the two points"
    leg = _straight_leg(0, start, end, policy, why)
    return Route(leg.eta_s, leg.distance_m, "straight_line", leg.reason, a.snap_m, b.snap_m, [start, end])


def _dedupe(coordinates: list[LonLat]) -> list[LonLat]:
    out = [coordinates[0]]
    out.extend(c for prev, c in zip(coordinates, coordinates[1:], strict=False) if c != prev)
    return out if len(out) > 1 else [coordinates[0], coordinates[0]]
