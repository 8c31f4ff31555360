"""The routing graph: road ways split at the OSM nodes they share, with travel times, checked for isolated pieces.

Why split at shared nodes and not where lines cross: in OpenStreetMap two roads meet only where they share a node.
A bridge crosses a river and the road under it without meeting either, and a geometric noding would put a junction
there. Each piece (an edge) costs ``length / speed`` seconds; the speed is the way's ``maxspeed`` when tagged and its
highway class's speed otherwise. A one-way street gets a negative cost against its direction (pgRouting's "no").

The build is one pass of SQL inside the caller's transaction (delete, insert, label): readers see the old graph
until it commits, and a second build waits on an advisory lock instead of colliding.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import bulk_timeouts
from gis.roads.schemas import GraphReport, Piece

# km/h by highway class, for ways without a usable ``maxspeed``: urban driving, configurable
# (COMMANDPOST_ROAD_SPEEDS_KMH). A class that is absent, or set to 0, is not driven.
DEFAULT_SPEEDS_KMH: dict[str, float] = {
    "motorway": 90, "motorway_link": 50, "trunk": 70, "trunk_link": 40, "primary": 50, "primary_link": 35,
    "secondary": 40, "secondary_link": 30, "tertiary": 35, "tertiary_link": 25, "unclassified": 30,
    "residential": 25, "road": 25, "living_street": 10, "service": 15,
}  # fmt: skip

# Arbitrary but fixed: the advisory lock that serialises graph builds ('road', 'grph').
_BUILD_LOCK = (0x726F6164, 0x67727068)
# pgRouting reads the graph through this statement (fixed text: no input reaches it).
EDGES_SQL = "SELECT id, source, target, cost_s AS cost, reverse_cost_s AS reverse_cost FROM road_edge"
ROUTABLE_EDGES_SQL = EDGES_SQL + " WHERE routable"

# A way is left out when a vehicle may not drive it, whatever its class. Emergency access overrides a "no".
# The statements below are f-strings of these constants only (_BARRED, EDGES_SQL): fixed text, no caller input;
# the speed table is a bound parameter.
_BARRED = """(
    coalesce(w.tags->>'area', '') = 'yes'
    OR (coalesce(w.tags->>'emergency', '') NOT IN ('yes', 'designated')
        AND ((coalesce(w.tags->>'access', '') = 'no'
              AND coalesce(w.tags->>'motor_vehicle', w.tags->>'motorcar', '')
                  NOT IN ('yes', 'designated', 'permissive', 'destination'))
             OR coalesce(w.tags->>'motor_vehicle', w.tags->>'motorcar', '') = 'no'))
)"""

_LEFT_OUT = text(f"""
SELECT count(*) FILTER (WHERE NOT (CAST(:speeds AS jsonb) ? w.highway)) AS not_driven,
       count(*) FILTER (WHERE (CAST(:speeds AS jsonb) ? w.highway) AND {_BARRED}) AS not_for_vehicles,
       count(*) FILTER (WHERE (CAST(:speeds AS jsonb) ? w.highway) AND NOT {_BARRED}
                        AND (n.node_ids IS NULL OR cardinality(n.node_ids) <> ST_NPoints(w.geom))) AS no_node_ids
FROM road_way w LEFT JOIN road_way_node n USING (osm_id)
""")

# Cut each way at its ends and at every node that another way (or the same way again) also passes through.
_INSERT_EDGES = text(f"""
INSERT INTO road_edge (id, osm_id, source, target, cost_s, reverse_cost_s, length_m, speed_kmh, highway, name, geom)
WITH way AS (
    SELECT w.osm_id, w.highway, w.name, w.oneway, w.geom, n.node_ids,
           coalesce(w.maxspeed, (CAST(:speeds AS jsonb) ->> w.highway)::float8) AS speed_kmh
    FROM road_way w JOIN road_way_node n USING (osm_id)
    WHERE (CAST(:speeds AS jsonb) ? w.highway) AND NOT {_BARRED}
      AND cardinality(n.node_ids) = ST_NPoints(w.geom)
),
point AS (
    SELECT way.osm_id, d.path[1] AS i, d.geom AS pt, way.node_ids[d.path[1]] AS node,
           cardinality(way.node_ids) AS n
    FROM way, ST_DumpPoints(way.geom) AS d
),
shared AS (SELECT node FROM point GROUP BY node HAVING count(*) > 1),
cut AS (SELECT osm_id, i, node FROM point WHERE i = 1 OR i = n OR node IN (SELECT node FROM shared)),
piece AS (
    SELECT osm_id, i AS i0, lead(i) OVER w AS i1, node AS source, lead(node) OVER w AS target
    FROM cut WINDOW w AS (PARTITION BY osm_id ORDER BY i)
),
line AS (
    SELECT piece.osm_id, piece.i0, piece.source, piece.target, ST_MakeLine(p.pt ORDER BY p.i) AS geom
    FROM piece JOIN point AS p ON p.osm_id = piece.osm_id AND p.i BETWEEN piece.i0 AND piece.i1
    WHERE piece.i1 IS NOT NULL
    GROUP BY piece.osm_id, piece.i0, piece.source, piece.target
),
measured AS (
    SELECT line.*, ST_Length(line.geom::geography) AS length_m, way.speed_kmh, way.oneway, way.highway, way.name
    FROM line JOIN way USING (osm_id)
)
SELECT row_number() OVER (ORDER BY osm_id, i0), osm_id, source, target,
       CASE WHEN oneway = -1 THEN -1 ELSE length_m / (speed_kmh / 3.6) END,
       CASE WHEN oneway = 1 THEN -1 ELSE length_m / (speed_kmh / 3.6) END,
       length_m, speed_kmh, highway, name, geom
FROM measured
WHERE length_m > 0 AND speed_kmh > 0
""")

_INSERT_VERTICES = text("""
INSERT INTO road_vertex (id, geom)
SELECT DISTINCT ON (id) id, geom
FROM (SELECT source AS id, ST_StartPoint(geom) AS geom FROM road_edge
      UNION ALL SELECT target, ST_EndPoint(geom) FROM road_edge) AS ends
ORDER BY id
""")

# Weakly connected pieces for the report; the largest strongly connected piece (every vertex reaches every other
# one, one-ways included) for snapping, so a route between two snapped points always exists.
_LABEL = [
    text(f"""
UPDATE road_vertex AS v SET component = c.component
FROM pgr_connectedComponents('{EDGES_SQL}') AS c WHERE c.node = v.id
"""),
    text(f"""
WITH strong AS (SELECT node, component FROM pgr_strongComponents('{EDGES_SQL} WHERE source <> target')),
largest AS (SELECT component FROM strong GROUP BY component ORDER BY count(*) DESC, component LIMIT 1)
UPDATE road_vertex AS v SET routable = true
FROM strong JOIN largest USING (component) WHERE strong.node = v.id
"""),
    text("""
UPDATE road_edge AS e SET component = a.component, routable = (e.source <> e.target AND a.routable AND b.routable)
FROM road_vertex AS a, road_vertex AS b WHERE a.id = e.source AND b.id = e.target
"""),
]

_FIGURES = text("""
SELECT (SELECT count(*) FROM road_edge) AS edges,
       (SELECT count(*) FROM road_edge WHERE routable) AS routable_edges,
       (SELECT count(*) FROM road_vertex) AS vertices,
       (SELECT count(*) FROM road_vertex WHERE routable) AS routable_vertices,
       (SELECT coalesce(sum(length_m), 0) / 1000 FROM road_edge) AS length_km,
       (SELECT count(*) FROM road_edge WHERE cost_s < 0 OR reverse_cost_s < 0) AS oneway_edges,
       (SELECT count(*) FROM (SELECT v FROM (SELECT source AS v FROM road_edge UNION ALL SELECT target FROM road_edge)
                              AS ends GROUP BY v HAVING count(*) = 1) AS d) AS dead_ends
""")

_PIECES = text("""
WITH v AS (SELECT component, count(*) AS vertices FROM road_vertex GROUP BY component),
e AS (SELECT component, count(*) AS edges, sum(length_m) AS length_m FROM road_edge GROUP BY component),
at AS (SELECT DISTINCT ON (component) component, ST_LineInterpolatePoint(geom, 0.5) AS pt
       FROM road_edge ORDER BY component, length_m DESC)
SELECT v.component, v.vertices, e.edges, e.length_m, ST_X(at.pt) AS lon, ST_Y(at.pt) AS lat
FROM v JOIN e USING (component) JOIN at USING (component)
ORDER BY v.vertices DESC, v.component
""")


def speed_table(overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """The speeds in force: the defaults with the operator's overrides on top; classes at 0 or below dropped."""
    merged = {**DEFAULT_SPEEDS_KMH, **(overrides or {})}
    return {highway: float(kmh) for highway, kmh in merged.items() if kmh > 0}


async def build_graph(session: AsyncSession, *, speeds: Mapping[str, float] | None = None) -> GraphReport:
    """Rebuild ``road_edge`` and ``road_vertex`` from every stored road way; idempotent (same ways, same graph).

    ``speeds`` is the whole table of km/h by highway class (``speed_table()`` when None): a class missing from it,
    or at 0, is left out.
    """
    kmh = speed_table() if speeds is None else {k: float(v) for k, v in speeds.items() if v > 0}
    table = json.dumps(kmh)
    async with bulk_timeouts(session):  # a city's graph takes longer than a request may
        await session.execute(text("SELECT pg_advisory_xact_lock(:a, :b)"), {"a": _BUILD_LOCK[0], "b": _BUILD_LOCK[1]})
        left_out = (await session.execute(_LEFT_OUT, {"speeds": table})).mappings().one()
        await session.execute(text("DELETE FROM road_edge"))
        await session.execute(text("DELETE FROM road_vertex"))
        await session.execute(_INSERT_EDGES, {"speeds": table})
        await session.execute(_INSERT_VERTICES)
        for statement in _LABEL:
            await session.execute(statement)
        return await _report(session, left_out={k: int(v) for k, v in left_out.items() if v})


async def _report(session: AsyncSession, *, left_out: dict[str, int]) -> GraphReport:
    figures = (await session.execute(_FIGURES)).mappings().one()
    pieces = [
        Piece(
            component=int(row.component),
            vertices=int(row.vertices),
            edges=int(row.edges),
            length_m=round(float(row.length_m), 1),
            lon=round(float(row.lon), 6),
            lat=round(float(row.lat), 6),
        )
        for row in (await session.execute(_PIECES)).all()
    ]
    return GraphReport(
        edges=int(figures.edges),
        vertices=int(figures.vertices),
        length_km=round(float(figures.length_km), 2),
        oneway_edges=int(figures.oneway_edges),
        dead_ends=int(figures.dead_ends),
        routable_edges=int(figures.routable_edges),
        routable_vertices=int(figures.routable_vertices),
        components=len(pieces),
        largest_component_vertices=pieces[0].vertices if pieces else 0,
        isolated=pieces[1:21],
        isolated_count=max(0, len(pieces) - 1),
        left_out=left_out,
    )
