"""Roads benchmark on the Chengdu graph: each figure beside its raw floor, measured in the same run.

    .venv/bin/python bench/roads.py [--units 100000] [--stations 2000] [--repeat 300]

- road ETA from 10 candidate units to one incident: ``gis.service.travel_times`` (snap + one pgr_withPoints
  many-to-one) vs the bare pgRouting cost query from pre-snapped vertices (``pgr_dijkstraCost``), and vs the bare
  ``pgr_withPointsCost`` from pre-snapped points;
- the 5 nearest available units by road among 100,000: ``gis.service.nearest_by_road`` vs the plain KNN SQL plus the
  bare pgRouting cost query in one statement;
- the KNN candidate step alone (20 candidates, the stale-fix → home-station rule applied in the index walk) vs the
  plain KNN SQL, both through the same session.

It creates a throwaway database (``commandpost_bench_roads_<random>``), imports the Chengdu extract
(``../shared/data``), places synthetic stations and units, and drops the database at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession  # noqa: E402

from bench._common import bench_database, print_table, summary_ms  # noqa: E402
from core.db import create_engine, create_sessionmaker, transaction  # noqa: E402
from core.settings import get_settings  # noqa: E402
from gis import service as gis  # noqa: E402

BBOX = (104.0421, 30.6528, 104.1296, 30.7279)  # the extract
UNIT_TYPES = ["ambulance", "fire_engine", "police_unit", "rescue_team", "hazmat_team", "medical_team",
              "ladder_truck", "command_vehicle"]  # fmt: skip
STALE = timedelta(minutes=10)
# The edges pgRouting reads, as gis.roads.graph.ROUTABLE_EDGES_SQL has them: written out here, the floor's own raw SQL.
ROUTABLE_EDGES_SQL = (
    "SELECT id, source, target, cost_s AS cost, reverse_cost_s AS reverse_cost FROM road_edge WHERE routable"
)

_BOX = """box AS (SELECT CAST(:x0 AS float8) AS x0, CAST(:y0 AS float8) AS y0, CAST(:x1 AS float8) AS x1,
                      CAST(:y1 AS float8) AS y1)"""
STATIONS_SQL = text(f"""
WITH {_BOX}
INSERT INTO resource (type, name, location, source, external_id)
SELECT (ARRAY['fire_station', 'police_station', 'hospital'])[1 + g % 3], 'bench station ' || g,
       ST_SetSRID(ST_MakePoint(x0 + random() * (x1 - x0), y0 + random() * (y1 - y0)), 4326),
       'bench', 'station/' || g
FROM box, generate_series(1, CAST(:n AS int)) AS g
""")

# 70 % available; 60 % with a fresh fix (on the road, anywhere), 25 % a stale one (anywhere), 15 % never fixed (at
# the home station). Every unit has a home station.
UNITS_SQL = text(f"""
WITH {_BOX},
station AS (
    SELECT row_number() OVER (ORDER BY id) - 1 AS i, id, location FROM resource WHERE source = 'bench'
),
draw AS (
    SELECT g, random() AS r_status, random() AS r_fix, floor(random() * CAST(:stations AS int))::int AS i,
           ST_SetSRID(ST_MakePoint(x0 + random() * (x1 - x0), y0 + random() * (y1 - y0)), 4326) AS anywhere
    FROM box, generate_series(1, CAST(:n AS int)) AS g
)
INSERT INTO resource (type, name, status, location, last_fix_at, home_station_id, source, external_id)
SELECT (CAST(:types AS text[]))[1 + d.g % 8], 'bench unit ' || d.g,
       CASE WHEN d.r_status < 0.7 THEN 'available' WHEN d.r_status < 0.8 THEN 'en_route'
            WHEN d.r_status < 0.9 THEN 'on_scene' ELSE 'out_of_service' END,
       CASE WHEN d.r_fix < 0.85 THEN d.anywhere ELSE s.location END,
       CASE WHEN d.r_fix < 0.6 THEN CAST(:now AS timestamptz) - random() * interval '9 minutes'
            WHEN d.r_fix < 0.85 THEN CAST(:now AS timestamptz) - interval '15 minutes' - random() * interval '2 hours'
       END,
       s.id, 'bench', 'unit/' || d.g
FROM draw AS d JOIN station AS s USING (i)
""")

SNAP_VERTEX_SQL = text("""
SELECT (SELECT id FROM road_vertex WHERE routable
        ORDER BY geom <-> ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326) LIMIT 1)
FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY AS p(lon, lat, i) ORDER BY i
""")
DIJKSTRA_COST_SQL = text(f"""
SELECT start_vid, agg_cost
FROM pgr_dijkstraCost('{ROUTABLE_EDGES_SQL}', CAST(:starts AS bigint[]), CAST(:finish AS bigint))
""")
WITH_POINTS_COST_SQL = text(f"""
SELECT start_pid, agg_cost FROM pgr_withPointsCost('{ROUTABLE_EDGES_SQL}',
    format('SELECT pid, edge_id, fraction FROM unnest(%L::bigint[], %L::bigint[], %L::float8[]) '
           'AS t(pid, edge_id, fraction)', CAST(:pids AS bigint[]), CAST(:edges AS bigint[]),
           CAST(:fractions AS float8[])),
    CAST(:starts AS bigint[]), -1, directed => true, driving_side => 'b')
""")
SNAP_POINT_SQL = text("""
SELECT e.id, least(greatest(ST_LineLocatePoint(e.geom, p.pt), 1e-7), 1 - 1e-7)
FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY AS q(lon, lat, i)
CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_MakePoint(q.lon, q.lat), 4326) AS pt) AS p
CROSS JOIN LATERAL (SELECT id, geom FROM road_edge WHERE routable ORDER BY geom <-> p.pt LIMIT 1) AS e
ORDER BY q.i
""")
PLAIN_KNN_SQL = text("""
SELECT id, ST_X(location), ST_Y(location) FROM resource
WHERE type = :type AND status = 'available'
ORDER BY location <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) LIMIT :k
""")
# The same walk returning what a candidate carries (name, fix time, home station), the position rule left out.
PLAIN_KNN_WIDE_SQL = text("""
SELECT id, name, ST_X(location), ST_Y(location), last_fix_at, home_station_id FROM resource
WHERE type = :type AND status = 'available'
ORDER BY location <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) LIMIT :k
""")
# The floor of "nearest by road": the plain KNN, each candidate's nearest vertex, one bare many-to-one cost query.
KNN_PLUS_COST_SQL = text(f"""
WITH here AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS pt),
c AS (SELECT id, location FROM resource WHERE type = :type AND status = 'available'
      ORDER BY location <-> (SELECT pt FROM here) LIMIT :k),
v AS (SELECT array_agg(DISTINCT (SELECT id FROM road_vertex WHERE routable ORDER BY geom <-> c.location LIMIT 1))
             AS starts,
             (SELECT id FROM road_vertex WHERE routable ORDER BY geom <-> (SELECT pt FROM here) LIMIT 1) AS finish
      FROM c)
SELECT d.start_vid, d.agg_cost FROM v, LATERAL pgr_dijkstraCost('{ROUTABLE_EDGES_SQL}', v.starts, v.finish) AS d
ORDER BY d.agg_cost LIMIT 5
""")


def points(n: int, seed: int) -> list[tuple[float, float]]:
    """Incident places inside the extract, away from its edges."""
    rng = random.Random(seed)
    dx, dy = (BBOX[2] - BBOX[0]) * 0.1, (BBOX[3] - BBOX[1]) * 0.1
    return [(rng.uniform(BBOX[0] + dx, BBOX[2] - dx), rng.uniform(BBOX[1] + dy, BBOX[3] - dy)) for _ in range(n)]


async def timed(calls: list[Callable[[], Awaitable[Any]]], warm: int = 10) -> list[float]:
    for call in calls[:warm]:
        await call()
    samples = []
    for call in calls:
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return samples


async def load(settings: Any, *, units: int, stations: int, now: datetime) -> None:
    engine = create_engine(settings, bulk=True)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            started = time.perf_counter()
            report = await gis.import_osm(session, path=settings.shared_data / "chengdu" / "chengdu_core_2018.osm.pbf")
            assert report.graph is not None
            print(f"imported Chengdu and built the graph in {time.perf_counter() - started:.2f} s")
            print(f"  road graph: {report.graph.summary()}")
            await session.execute(text("SELECT setseed(0.42)"))
            box = dict(zip(("x0", "y0", "x1", "y1"), BBOX, strict=True))
            await session.execute(STATIONS_SQL, {**box, "n": stations})
            started = time.perf_counter()
            params = {**box, "n": units, "stations": stations, "types": UNIT_TYPES, "now": now}
            await session.execute(UNITS_SQL, params)
            print(f"placed {units:,} units at {stations:,} synthetic stations in {time.perf_counter() - started:.2f} s")
        async with engine.connect() as conn:
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()


async def eta_figures(session: AsyncSession, places: list[tuple[float, float]], now: datetime) -> list[Any]:
    """Ten available units within 4 km of each incident place (fresh fixes, drawn at random: with 100,000 units the
    ten nearest would all stand within a block), timed by road to it."""
    cases = []
    for lon, lat in places:
        rows = (
            await session.execute(
                text("""SELECT id, ST_X(location), ST_Y(location) FROM resource
                        WHERE type = 'ambulance' AND status = 'available' AND last_fix_at >= :fresh
                          AND ST_DWithin(location::geography, ST_MakePoint(:lon, :lat)::geography, 4000)
                        ORDER BY random() LIMIT 10"""),
                {"lon": lon, "lat": lat, "fresh": now - STALE},
            )
        ).all()
        origins = [(int(r[0]), float(r[1]), float(r[2])) for r in rows]
        lons, lats = [lon, *(o[1] for o in origins)], [lat, *(o[2] for o in origins)]
        vertices = list((await session.execute(SNAP_VERTEX_SQL, {"lons": lons, "lats": lats})).scalars())
        snapped = (await session.execute(SNAP_POINT_SQL, {"lons": lons, "lats": lats})).all()
        cases.append((lon, lat, origins, vertices, snapped))

    def ours(case: Any) -> Callable[[], Awaitable[Any]]:
        return lambda: gis.travel_times(session, origins=case[2], lon=case[0], lat=case[1])

    def dijkstra(case: Any) -> Callable[[], Awaitable[Any]]:
        params = {"starts": sorted(set(case[3][1:]) - {case[3][0]}), "finish": case[3][0]}
        return lambda: session.execute(DIJKSTRA_COST_SQL, params)

    def with_points(case: Any) -> Callable[[], Awaitable[Any]]:
        snapped = case[4]
        params = {
            "pids": list(range(1, len(snapped) + 1)),
            "edges": [int(s[0]) for s in snapped],
            "fractions": [float(s[1]) for s in snapped],
            "starts": [-i for i in range(2, len(snapped) + 1)],
        }
        return lambda: session.execute(WITH_POINTS_COST_SQL, params)

    return [
        ("ours: travel_times (snap + withPoints 10→1)", summary_ms(await timed([ours(c) for c in cases]))),
        ("floor: bare pgr_dijkstraCost, vertices given", summary_ms(await timed([dijkstra(c) for c in cases]))),
        ("  (bare pgr_withPointsCost, points given)", summary_ms(await timed([with_points(c) for c in cases]))),
    ]


async def nearest_figures(session: AsyncSession, places: list[tuple[float, float]], now: datetime) -> list[Any]:
    def ours(lon: float, lat: float) -> Callable[[], Awaitable[Any]]:
        return lambda: gis.nearest_by_road(session, lon=lon, lat=lat, type="ambulance", k=5, candidates=20, now=now)

    def floor(lon: float, lat: float) -> Callable[[], Awaitable[Any]]:
        params = {"lon": lon, "lat": lat, "type": "ambulance", "k": 20}
        return lambda: session.execute(KNN_PLUS_COST_SQL, params)

    found = await gis.nearest_by_road(session, lon=places[0][0], lat=places[0][1], type="ambulance", k=5, now=now)
    print("\nexample: 5 nearest ambulances by road to", places[0])
    for r in found:
        print(f"  unit {r.unit_id}: {r.eta_s:7.1f} s {r.distance_m:7.0f} m {r.method:<13} {r.position_source:<12} "
              f"straight {r.straight_m:6.0f} m")  # fmt: skip
    return [
        ("ours: nearest_by_road k=5 (20 candidates)", summary_ms(await timed([ours(*p) for p in places]))),
        ("floor: plain KNN 20 + bare pgr_dijkstraCost", summary_ms(await timed([floor(*p) for p in places]))),
    ]


async def candidate_figures(session: AsyncSession, places: list[tuple[float, float]], now: datetime) -> list[Any]:
    def ours(lon: float, lat: float) -> Callable[[], Awaitable[Any]]:
        return lambda: gis.units_nearest_by_line(
            session, lon=lon, lat=lat, type="ambulance", limit=20, stale_after=STALE, now=now
        )

    def plain(statement: Any, lon: float, lat: float) -> Callable[[], Awaitable[Any]]:
        async def call() -> Any:
            return (await session.execute(statement, {"lon": lon, "lat": lat, "type": "ambulance", "k": 20})).all()

        return call

    # Interleaved rounds, so that no side always runs on a warmer cache.
    samples: dict[str, list[float]] = {"ours": [], "plain": [], "wide": []}
    for start in range(0, len(places), 50):
        chunk = places[start : start + 50]
        samples["ours"] += await timed([ours(*p) for p in chunk], warm=2)
        samples["plain"] += await timed([plain(PLAIN_KNN_SQL, *p) for p in chunk], warm=2)
        samples["wide"] += await timed([plain(PLAIN_KNN_WIDE_SQL, *p) for p in chunk], warm=2)
    return [
        ("ours: candidates (stale → home rule in the walk)", summary_ms(samples["ours"])),
        ("floor: plain KNN SQL (type, available) LIMIT 20", summary_ms(samples["plain"])),
        ("  (same, also name, fix time, home station)", summary_ms(samples["wide"])),
    ]


async def main_async(args: argparse.Namespace) -> None:
    base = get_settings()
    if not (base.shared_data / "chengdu" / "chengdu_core_2018.osm.pbf").is_file():
        raise SystemExit(f"bench/roads.py needs the Chengdu extract in {base.shared_data / 'chengdu'}")
    now = datetime.now(UTC)
    async with bench_database("roads") as url:
        settings = base.model_copy(update={"database_url": url, "redis_url": None})
        await load(settings, units=args.units, stations=args.stations, now=now)
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as session:
                places = points(args.repeat, seed=7)
                eta = await eta_figures(session, places, now)
                nearest = await nearest_figures(session, places, now)
                knn = await candidate_figures(session, places, now)
                await session.rollback()
        finally:
            await engine.dispose()
    print_table("road ETA, 10 candidate units → 1 incident (Chengdu graph)", eta, floor=eta[1][0])
    print_table(f"5 nearest available by road among {args.units:,} units", nearest, floor=nearest[1][0])
    print_table("KNN candidate step alone", knn, floor=knn[1][0])
    checks = [
        ("road ETA 10→1: p50 under 50 ms", eta[0][1]["p50"] < 50, f"{eta[0][1]['p50']:.2f} ms"),
        ("nearest by road k=5: p50 under 60 ms", nearest[0][1]["p50"] < 60, f"{nearest[0][1]['p50']:.2f} ms"),
        (
            "KNN candidate step within 1.5x of the plain SQL",
            knn[0][1]["p50"] <= 1.5 * knn[1][1]["p50"],
            f"{knn[0][1]['p50'] / knn[1][1]['p50']:.2f}x; {knn[0][1]['p50'] / knn[2][1]['p50']:.2f}x of the same "
            "columns",
        ),
    ]
    print()
    for label, ok, figure in checks:
        print(f"  {label:<50} {'yes' if ok else 'NO':<4} ({figure})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--stations", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=300)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
