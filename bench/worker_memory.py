"""Worker memory benchmark: a served web worker's idle RSS beside the bare stack's, measured in the same run, and
what the first layer import pays for loading the import libraries on first use.

    .venv/bin/python bench/worker_memory.py [--runs 3]

- floor: one process that imports FastAPI, SQLAlchemy (asyncio), asyncpg, redis, uvicorn, shapely and geoalchemy2
  and nothing else: its RSS (VmRSS) after the imports;
- worker: ``commandpost serve --workers 1`` (the CLI process is the worker: web.app imported, the app created, its
  lifespan started) after a few ordinary requests (sign-in, a resource created, lists, nearest first, tiles, a
  route, nearest by road, reference layers): its VmRSS once they are answered. Target: at most 1.5x the floor;
- first import: in the same worker, ``POST /api/v1/resources/import`` of a small GeoJSON file, then a second file
  of the same size. The first pays for geopandas, pandas and pyarrow loading in the worker and for starting the
  layer reader server (which imports GDAL, pyarrow and pandas once); the difference is the first use's extra
  latency. The worker's RSS after it, for scale. Also, in a fresh process that has imported web.app, the time to
  import gis.io.transfer (the worker's own share of that first use).

Each run starts a fresh worker (a first use happens once per process); medians over ``--runs``. It creates a
throwaway database (``commandpost_bench_memory_<random>``) and drops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from bench._common import ROOT, SERVER_PIDS, admin_token, bench_database, server  # noqa: E402

FLOOR_IMPORTS = "import fastapi, sqlalchemy, sqlalchemy.ext.asyncio, asyncpg, redis, redis.asyncio, uvicorn, shapely"
FLOOR_IMPORTS += ", geoalchemy2"
RSS = "int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS:')).split()[1])"
AT = (104.0635, 30.6418)


def rss_kb(pid: int) -> int:
    """A process's resident set, in KB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def python_out(code: str) -> str:
    """The last line a fresh interpreter prints running ``code`` from the project root."""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def floor_kb() -> int:
    """The bare stack's RSS: its libraries imported in one process, nothing of ours."""
    return int(python_out(f"{FLOOR_IMPORTS}; print({RSS})"))


def transfer_import_ms() -> float:
    """In a process that has imported web.app: how long importing gis.io.transfer takes (geopandas, pandas, pyarrow)."""
    code = (
        "import time, web.app; web.app.create_app(); t = time.perf_counter(); import gis.io.transfer; "
        "print((time.perf_counter() - t) * 1000)"
    )
    return float(python_out(code))


def layer_file(directory: Path, name: str, rows: int = 50) -> Path:
    """A small GeoJSON layer of hospitals around the point."""
    features = [
        {
            "type": "Feature",
            "properties": {"type": "hospital", "name": f"{name} {i}", "external_id": f"{name}/{i}"},
            "geometry": {"type": "Point", "coordinates": [AT[0] + i * 1e-4, AT[1] + i * 1e-4]},
        }
        for i in range(rows)
    ]
    path = directory / f"{name}.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


async def ordinary_requests(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    """What a command room asks of a worker all day, each answered before the next."""
    lon, lat = AT
    made = await client.post(
        "/api/v1/resources",
        json={"type": "ambulance", "name": "Bench 1", "location": {"type": "Point", "coordinates": [lon, lat]}},
        headers=auth,
    )
    made.raise_for_status()
    for path in (
        "/api/v1/resources?limit=20",
        f"/api/v1/resources?near={lon},{lat}&type=ambulance&limit=5",
        f"/api/v1/resources/{made.json()['id']}",
        "/api/v1/tiles/resources/14/12928/6725.pbf",
        "/api/v1/tiles/roads/14/12928/6725.pbf",
        f"/api/v1/route?from={lon},{lat}&to={lon + 0.01},{lat + 0.01}",  # 409 without a road graph: still routed
        f"/api/v1/units/nearest?at={lon},{lat}&type=ambulance&k=3",
        f"/api/v1/jurisdictions?contains={lon},{lat}",
        "/api/v1/hazard-zones",
        "/api/v1/incidents",
    ):
        answer = await client.get(path, headers=auth)
        if answer.status_code >= 500:
            raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:300]}")


async def import_ms(client: httpx.AsyncClient, auth: dict[str, str], path: Path) -> float:
    """One layer import through the API, in ms."""
    started = time.perf_counter()
    with path.open("rb") as fh:
        answer = await client.post(
            "/api/v1/resources/import", files={"file": (path.name, fh, "application/geo+json")}, headers=auth
        )
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status_code != 201:
        raise RuntimeError(f"import: {answer.status_code} {answer.text[:300]}")
    return elapsed


async def one_worker(url: str, workdir: Path, run: int) -> dict[str, float]:
    """A fresh ``commandpost serve``: idle RSS after ordinary requests, then the first and a second import."""
    with server(url) as base:
        pid = SERVER_PIDS[base]
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            auth = await admin_token(client)
            await ordinary_requests(client, auth)
            idle = rss_kb(pid)
            first = await import_ms(client, auth, layer_file(workdir, f"first{run}"))
            second = await import_ms(client, auth, layer_file(workdir, f"second{run}"))
            after = rss_kb(pid)
    return {"idle_kb": idle, "first_ms": first, "second_ms": second, "after_import_kb": after}


async def main_async(args: argparse.Namespace) -> None:
    floors = [floor_kb() for _ in range(args.runs)]
    own_share = [transfer_import_ms() for _ in range(args.runs)]
    runs: list[dict[str, Any]] = []
    async with bench_database("memory") as url:
        with tempfile.TemporaryDirectory(prefix="commandpost-bench-") as workdir:
            for run in range(args.runs):
                runs.append(await one_worker(url, Path(workdir), run))
                floors.append(floor_kb())  # interleaved: the machine's state is shared by both figures
    floor = statistics.median(floors) / 1024
    idle = statistics.median(r["idle_kb"] for r in runs) / 1024
    first = statistics.median(r["first_ms"] for r in runs)
    second = statistics.median(r["second_ms"] for r in runs)
    after = statistics.median(r["after_import_kb"] for r in runs) / 1024
    print(f"\nWorker memory ({args.runs} workers; floors {', '.join(f'{f / 1024:.0f}' for f in floors)} MB)")
    print(f"  bare stack floor (imports only)            {floor:8.1f} MB")
    print(f"  commandpost serve, idle after requests      {idle:8.1f} MB   {idle / floor:.2f}x floor (target <= 1.5x)")
    print(f"  the same worker after its first imports     {after:8.1f} MB   {after / floor:.2f}x floor")
    print("\nFirst layer import (50 rows, POST /api/v1/resources/import)")
    print(f"  first import in a fresh worker              {first:8.0f} ms   (each: {_each(runs, 'first_ms')})")
    print(f"  second import, same size                    {second:8.0f} ms   (each: {_each(runs, 'second_ms')})")
    print(f"  extra latency of the first use              {first - second:8.0f} ms")
    print(f"  of which the worker importing gis.io.transfer {statistics.median(own_share):6.0f} ms (fresh process)")


def _each(runs: list[dict[str, Any]], key: str) -> str:
    return ", ".join(f"{r[key]:.0f}" for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="fresh workers, each measured once (median)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
