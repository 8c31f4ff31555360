"""Map benchmark: each figure beside its raw floor, measured in the same run on the same machine.

    .venv/bin/python bench/map.py [--rows 100000] [--repeat 100] [--near-requests 1000] [--import-runs 5]
                                  [--near-rate 200] [--near-seconds 30] [--near-only]

- importing N points from a GeoPackage (our import-layer path) vs ``ogr2ogr -f PostgreSQL`` into a new plain table
  (the floor), five of each in turn, medians. For scale: ogr2ogr plus giving its table the registry's other
  indexes and constraints (the database work our import also does), and ogr2ogr appending the same file into the
  registry table itself (30-50 s here, even with PG_USE_COPY);
- a z14 and a z12 resources tile through the API (in process) vs the bare ``ST_AsMVT`` statement;
- ``GET /api/v1/resources?near=lon,lat&limit=5`` over real HTTP beside the framework floor, a bare FastAPI route in
  the service's own process that checks the same token and sends the same KNN statement through the same pool;
  closed loop (p50) and at 200 requests a second (p99). See bench/near.py; ``--near-only`` loads the resources
  once and measures only this.

It creates a throwaway database (``commandpost_bench_<random>``), migrates it, and drops it at the end.

Where the time goes on the 2-core VM (December 2026; this VM's speed varies by up to 2x between sessions, the
ratios much less):
- import ~1.5-2.1 s vs ogr2ogr 1.2-1.7 s (1.26-1.34x): reading through GDAL/Arrow (~0.25-0.45 s), then the row
  rules in Arrow compute (gis/resource_rows.py, ~20 ms a 10,000-row chunk in a worker thread) feeding one binary
  COPY that streams straight into the locked, empty registry (gis/binary_copy.py: no Python object per row);
  PostgreSQL's side of that COPY (~0.3-0.4 s) is then what the phase costs. Last come the registry's five
  secondary indexes and two constraints (~0.7-0.9 s here, GiST ~0.3 s): with them ogr2ogr's run costs about as
  much as ours (1.04-1.10x). Before the Arrow rows (tuples through asyncpg's encoder, a COPY per chunk) the same
  runs read 1.6-1.7x: the tuples' GIL time starved the event loop driving the COPY.
- near: see bench/near.py and the figures in the issue's notes.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg  # noqa: E402
import geopandas as gpd  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench._common import CENTRE  # noqa: E402
from bench.near import near_figures, print_near  # noqa: E402
from core import migrate  # noqa: E402
from core.db import create_engine, create_sessionmaker, transaction  # noqa: E402
from core.settings import get_settings  # noqa: E402
from core.users import Role, add_user  # noqa: E402
from gis import service as gis  # noqa: E402
from gis.schemas import ImportLimits, LayerKind, TileLayer  # noqa: E402
from web.app import create_app  # noqa: E402

TYPES = ["ambulance", "fire_engine", "police_unit", "hospital", "shelter", "school", "rescue_team", "supply_depot"]


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def make_gpkg(path: Path, rows: int) -> None:
    """N points around central Chengdu (denser near the centre, like a real city), with types and names."""
    rng = np.random.default_rng(7)
    lon = CENTRE[0] + rng.normal(0, 0.03, rows)
    lat = CENTRE[1] + rng.normal(0, 0.03, rows)
    frame = gpd.GeoDataFrame(
        {
            "type": rng.choice(TYPES, rows),
            "name": [f"bench resource {i}" for i in range(rows)],
            "agency": rng.choice(["fire", "health", "police", "civil affairs"], rows),
        },
        geometry=shapely.points(lon, lat),
        crs="EPSG:4326",
    )
    frame.to_file(path, driver="GPKG", layer="resources")


def timed_median(samples: list[float]) -> float:
    return statistics.median(samples)


async def repeat(fn: Callable[[], Awaitable[Any]], times: int) -> float:
    await fn()  # warm up (plans, caches)
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - start)
    return timed_median(samples)


def ogr2ogr(gpkg: Path, dsn: str, *, into_registry: bool = False) -> float:
    url = make_url(dsn)
    pg = f"PG:host={url.host or '127.0.0.1'} port={url.port or 5432} dbname={url.database} user={url.username}"
    target = (
        ["--config", "PG_USE_COPY", "YES", "-nln", "resource", "-append"]
        if into_registry
        else ["-nln", "ogr_floor", "-overwrite", "-lco", "GEOMETRY_NAME=geom"]
    )
    start = time.perf_counter()
    subprocess.run(
        ["ogr2ogr", "-f", "PostgreSQL", pg, str(gpkg), *target],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


# What our import's table has and ogr2ogr's new one has not (it has a primary key and a GiST index): the registry's
# other indexes and constraints, the same definitions on columns added (empty) for them.
REGISTRY_SCHEMA = [
    "SET LOCAL maintenance_work_mem = '256MB'",
    """ALTER TABLE ogr_floor ADD COLUMN status text, ADD COLUMN home_station_id bigint,
        ADD COLUMN last_fix_at timestamptz, ADD COLUMN source text, ADD COLUMN external_id text""",
    "CREATE INDEX ON ogr_floor (type, status)",
    "CREATE INDEX ON ogr_floor (home_station_id)",
    "CREATE INDEX ON ogr_floor (home_station_id, type) INCLUDE (last_fix_at) WHERE status = 'available'",
    "CREATE UNIQUE INDEX ON ogr_floor (source, external_id)",
    "ALTER TABLE ogr_floor ADD FOREIGN KEY (type) REFERENCES resource_type (key)",
]


async def registry_schema_on_floor(dsn: str) -> float:
    """The time to give ogr2ogr's table the registry's other indexes and constraints (for the 'same work' line)."""
    conn = await asyncpg.connect(dsn)
    try:
        start = time.perf_counter()
        async with conn.transaction():
            for statement in REGISTRY_SCHEMA:
                await conn.execute(statement)
        return time.perf_counter() - start
    finally:
        await conn.close()


async def truncate(settings: Any) -> None:
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("TRUNCATE resource RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


async def our_import(settings: Any, gpkg: Path) -> float:
    await truncate(settings)
    engine = create_engine(settings)
    try:
        start = time.perf_counter()
        async with transaction(create_sessionmaker(engine)) as session:
            report = await gis.import_layer(
                session, path=gpkg, kind=LayerKind.resources, limits=ImportLimits.of(settings)
            )
        elapsed = time.perf_counter() - start
        assert report.imported > 0 and not report.rejected, report.rejected[:3]
        return elapsed
    finally:
        await engine.dispose()


async def vacuum(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM ANALYZE resource")
    finally:
        await conn.close()


async def token(client: httpx.AsyncClient, settings: Any) -> dict[str, str]:
    engine = create_engine(settings)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            await add_user(session, username="bench", password="bench-password-1", role=Role.observer)
    finally:
        await engine.dispose()
    answer = await client.post("/api/v1/auth/token", data={"username": "bench", "password": "bench-password-1"})
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def serve_figures(settings: Any, dsn: str, times: int) -> list[tuple[str, float, str, float]]:
    conn = await asyncpg.connect(dsn)
    app = create_app(settings)
    rows: list[tuple[str, float, str, float]] = []
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                auth = await token(client, settings)
                bare_tile = (
                    str(gis.tile_sql(layer=TileLayer.resources))
                    .replace(":z", "$1")
                    .replace(":x", "$2")
                    .replace(":y", "$3")
                )
                for z in (14, 12):
                    x, y = tile_of(*CENTRE, z)

                    async def api_tile(z: int = z, x: int = x, y: int = y) -> None:
                        answer = await client.get(f"/api/v1/tiles/resources/{z}/{x}/{y}.pbf", headers=auth)
                        assert answer.status_code == 200, answer.text

                    async def sql_tile(z: int = z, x: int = x, y: int = y) -> None:
                        await conn.fetchval(bare_tile, z, x, y)

                    size = len(await conn.fetchval(bare_tile, z, x, y))
                    label = f"z{z} resources tile ({size // 1024} KB)"
                    rows.append((label, await repeat(api_tile, times), "bare ST_AsMVT", await repeat(sql_tile, times)))

    finally:
        await conn.close()
    return rows


def report(rows: list[tuple[str, float, str, float]], limits: dict[str, float | None]) -> None:
    """One line per figure; a limit of None marks a line given for scale, with no target of its own."""
    print(f"\n{'figure':<36} {'ours':>10}   {'floor':<16} {'floor time':>10} {'ratio':>7} {'target':>7}")
    for (label, ours, floor_label, floor), key in zip(rows, limits, strict=True):
        ratio = ours / floor if floor else float("inf")
        unit = "s" if ours > 0.5 else "ms"
        scale = 1 if unit == "s" else 1000
        print(
            f"{label:<36} {ours * scale:>8.2f}{unit:>2}   {floor_label:<16} {floor * scale:>8.2f}{unit:>2} "
            f"{ratio:>6.2f}x {'—' if limits[key] is None else '≤' + str(limits[key]) + 'x':>7}"
        )


async def near_figures_of(url: str, args: argparse.Namespace) -> dict[str, Any]:
    return await near_figures(url, args.near_requests, args.near_rate, args.near_seconds, gc_freeze=args.gc_freeze)


async def main_async(args: argparse.Namespace) -> None:
    base = get_settings()
    name = f"commandpost_bench_{secrets.token_hex(4)}"
    url = make_url(base.database_url).set(database=name).render_as_string(hide_password=False)
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    settings = base.model_copy(
        update={"database_url": url, "redis_url": None, "secret_key": SecretStr(secrets.token_urlsafe(32))}
    )
    work = Path(tempfile.mkdtemp(prefix="commandpost-bench-"))
    try:
        await asyncio.to_thread(migrate.ensure_database, url)
        await asyncio.to_thread(migrate.upgrade, url)
        gpkg = work / "points.gpkg"
        await asyncio.to_thread(make_gpkg, gpkg, args.rows)
        print(f"database {name}; {args.rows:,} points in {gpkg.stat().st_size / 1e6:.1f} MB GeoPackage")
        if args.near_only:
            await our_import(settings, gpkg)
            await vacuum(dsn)
            print_near(await near_figures_of(url, args), args.near_rate)
            return
        # Alternating, three of each, medians: ogr2ogr alone varies by a factor of two from run to run here.
        floors, same_work, ours_runs = [], [], []
        for _ in range(args.import_runs):
            floors.append(await asyncio.to_thread(ogr2ogr, gpkg, dsn))
            same_work.append(floors[-1] + await registry_schema_on_floor(dsn))
            ours_runs.append(await our_import(settings, gpkg))
        floor, ours = statistics.median(floors), statistics.median(ours_runs)
        print("import runs (s): ogr2ogr " + " ".join(f"{t:.2f}" for t in floors), end="; ")
        print("ours " + " ".join(f"{t:.2f}" for t in ours_runs))
        rows = [(f"import {args.rows:,} points (gpkg)", ours, "ogr2ogr", floor)]
        rows.append(("  (vs ogr2ogr + registry indexes)", ours, "ogr2ogr+indexes", statistics.median(same_work)))
        await truncate(settings)
        into_registry = await asyncio.to_thread(ogr2ogr, gpkg, dsn, into_registry=True)
        rows.append(("  (same, vs ogr2ogr into registry)", ours, "ogr2ogr→resource", into_registry))
        await our_import(settings, gpkg)  # the registry as our import leaves it, for the figures below
        # What autovacuum does within a minute of a bulk load (statistics, the visibility map); both sides below
        # query this same table. Without it the first queries of fresh rows also set their hint bits.
        await vacuum(dsn)
        rows += await serve_figures(settings, dsn, args.repeat)
        report(rows, {"import": 1.5, "import_same_work": None, "import_registry": None, "z14": 2.0, "z12": 2.0})
        print(f"\nimport under 10 s: {'yes' if ours < 10 else 'NO'} ({ours:.2f} s)")
        print_near(await near_figures_of(url, args), args.near_rate)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        admin = await asyncpg.connect(make_url(dsn).set(database="postgres").render_as_string(hide_password=False))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # our own generated name
        finally:
            await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=100, help="requests per tile figure")
    parser.add_argument("--near-requests", type=int, default=1000, help="rounds of near, one request to each")
    parser.add_argument("--near-rate", type=float, default=200.0, help="near's open-loop rate (requests/s)")
    parser.add_argument("--near-seconds", type=float, default=30.0, help="near's open loop, each side")
    parser.add_argument("--near-only", action="store_true", help="one import, then only the near figures")
    parser.add_argument("--gc-freeze", action="store_true", help="near's server freezes start-up's objects (variant)")
    parser.add_argument("--import-runs", type=int, default=5, help="imports of each side, alternating (median)")
    if shutil.which("ogr2ogr") is None:
        raise SystemExit("bench/map.py needs ogr2ogr (Debian: apt-get install gdal-bin; scripts/setup installs it)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
