"""Intake under an open-loop load: POST /api/v1/incidents at a fixed offered rate, beside its floors.

    .venv/bin/python bench/intake.py [--rate 20] [--seconds 60] [--plans] [--spans 400] [--profile 300]

- the stack's floor (issue 15), in the same process as the service (bench/floor_app.py): a bare FastAPI route that
  checks the same bearer token and inserts the same incident row, timeline row and event row (the unit of work's
  own event INSERT, advisory lock first) in one transaction, through the service's engine and pool. The service
  and the floor are offered ``--rate``/s in turns of 5 s (open loop), over real HTTP. Targets: p50 at most 3x the
  floor, and under 20 ms; p99 60 ms (issue 5);
- for scale, a plain asyncpg INSERT of an incident row from this process (no HTTP, no timeline, no event);
- ``GET /api/v1/incidents/{id}`` of the incidents just logged, at the same rate (it reads the stored matches);
- where the time goes: ``--spans`` more requests to a server that times intake's stages (bench/spans.py), in turns
  with as many to the floor (timed whole, server side), and with ``--profile n`` cProfile over n more requests (its
  top functions by own time). The floor writes tables of its own, so the service's duplicate check never reads its
  rows.

``--plans`` loads the shipped plan library first, so that each report is matched against it as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (  # noqa: E402
    Others,
    RawPool,
    admin_token,
    alternating,
    asyncpg_dsn,
    bench_database,
    load_note,
    open_loop,
    print_slow,
    print_table,
    profile_top,
    server,
    summary_ms,
)
from bench.spans import CONTAINERS, METHODS, STAGES  # noqa: E402

REPORTS = [
    "成都市武侯区一居民楼发生火灾，造成{n}人死亡，{m}人受伤。",
    "A tanker truck overturned on the ring road, leaking liquid ammonia; {n} dead, {m} injured, 300 evacuated.",
    "锦江区某餐馆发生疑似食物中毒事件，{m}人出现呕吐腹泻症状，已送医。",
    "Caller reports a gas explosion in a restaurant kitchen, {m} people hurt, building partially collapsed.",
    "暴雨导致城区内涝，紧急转移安置群众{m}00人，无人员伤亡。",
]


def payload(i: int, rng: random.Random) -> dict[str, object]:
    text = REPORTS[i % len(REPORTS)].format(n=rng.randint(0, 12), m=rng.randint(1, 40))
    lon, lat = 104.04 + rng.random() * 0.09, 30.65 + rng.random() * 0.075
    return {"description": text, "location": {"type": "Point", "coordinates": [lon, lat]}, "source": "bench"}


async def floor(url: str, rate: float, seconds: float) -> tuple[list[float], int]:
    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=4, max_size=10)
    rng = random.Random(2)
    counter = itertools.count()
    sql = """INSERT INTO incident (title, description, location, reported_at, category, subtype, facts, status)
             VALUES ($1, $2, ST_SetSRID(ST_MakePoint($3, $4), 4326), now(), 'accident_disaster', 'building_fire',
                     $5::jsonb, 'reported') RETURNING id"""

    async def insert() -> bool:
        body = payload(next(counter), rng)
        lon, lat = body["location"]["coordinates"]  # type: ignore[index]
        async with pool.acquire() as conn:
            await conn.fetchval(sql, "bench", body["description"], lon, lat, json.dumps({"deaths": 1}))
        return True

    try:
        return await open_loop(rate, seconds, insert)
    finally:
        await pool.close()


async def load_library(url: str) -> None:
    """The shipped plan library, loaded as ``commandpost plans load`` does."""
    from core.db import create_engine, create_sessionmaker, transaction
    from core.settings import get_settings
    from plans import service as plans

    engine = create_engine(get_settings().model_copy(update={"database_url": url}), bulk=True)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            await plans.load_path(session)
    finally:
        await engine.dispose()


Timings = tuple[list[float], int]
STAGE_LABELS = [
    *CONTAINERS[:1],
    *STAGES,
    *((cls.__name__, attribute, label) for cls, attribute, label in METHODS),
    *CONTAINERS[1:],
]
FLOOR_APP = "bench.floor_app:create()"
FLOOR = "floor: bare FastAPI route, same token, same 3 rows"


async def _warm_up(client: httpx.AsyncClient, auth: dict[str, str], rng: random.Random) -> None:
    """Connections, caches, the classifier's first call; then the floor's rows to copy, and its own first calls."""
    for i in range(20):
        (await client.post("/api/v1/incidents", json=payload(i, rng), headers=auth)).raise_for_status()
    (await client.get("/floor/intake/ready")).raise_for_status()
    for i in range(20):
        (await client.post("/floor/incidents", json=payload(i, rng), headers=auth)).raise_for_status()


class Poster:
    """POSTs of the bench's reports (and GETs) through a minimal keep-alive client (bench/_common.RawPool): httpx
    cost this process ~4 ms a request, which a 2-core machine's server then waits for too."""

    def __init__(self, base: str, auth: dict[str, str], rng: random.Random) -> None:
        self.pool = RawPool(int(base.rsplit(":", 1)[1]), auth)
        self.rng, self.counter = rng, itertools.count()
        self.made: list[int] = []

    async def post(self, path: str = "/api/v1/incidents") -> bool:
        body = json.dumps(payload(next(self.counter), self.rng), ensure_ascii=False).encode()
        status, answer = await self.pool.request("POST", path, body)
        if status == 201 and path == "/api/v1/incidents":
            self.made.append(json.loads(answer)["id"])
        return status == 201

    async def floor_post(self) -> bool:
        return await self.post("/floor/incidents")

    async def get(self, target: str) -> bool:
        return (await self.pool.request("GET", target))[0] == 200


async def through_api(base: str, rate: float, seconds: float) -> dict[str, Timings]:
    """POST reports to the service and to its floor at ``rate``, in turns; then GET the incidents they made."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        auth = await admin_token(client)
        await _warm_up(client, auth, random.Random(1))
    poster = Poster(base, auth, random.Random(2))
    try:
        results = await alternating(rate, seconds, {"api": poster.post, "floor": poster.floor_post})
        ids = itertools.cycle(poster.made or [0])

        async def get() -> bool:
            return await poster.get(f"/api/v1/incidents/{next(ids)}")

        results["get"] = await open_loop(rate, seconds / 2, get, name="get")
    finally:
        await poster.pool.close()
    return results


async def where_the_time_goes(url: str, rate: float, requests: int, profile: int) -> tuple[dict[str, Any], str]:
    """The service with intake's stages timed (bench/spans.py): ``requests`` reports at ``rate``; then, with
    ``profile``, cProfile over that many more. Returns the spans' means and the profile's top lines."""
    top = ""
    with server(url, app=FLOOR_APP, extra_env={"BENCH_SPANS": "1"}) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            auth = await admin_token(client)
            await _warm_up(client, auth, random.Random(3))
            await client.get("/floor/spans", params={"reset": 1})
            poster = Poster(base, auth, random.Random(4))
            try:
                await alternating(rate, 2 * requests / rate, {"api": poster.post, "floor": poster.floor_post})
                spans = (await client.get("/floor/spans")).json()
                if profile:
                    with tempfile.TemporaryDirectory() as work:
                        out = str(Path(work) / "intake.prof")
                        await client.get("/floor/profile", params={"start": 1})
                        await open_loop(rate, profile / rate, poster.post)
                        await client.get("/floor/profile", params={"out": out})
                        top = profile_top(out)
            finally:
                await poster.pool.close()
    return spans, top


def print_spans(spans: dict[str, Any]) -> None:
    """The stages (top-level ones add up to the whole; indented ones are inside the one above), then the SQL."""
    total = spans["total_ms"]
    print(f"\nWhere the time goes: {spans['requests']} POST /api/v1/incidents, stages timed in the server (means)")
    print(f"  {'stage':<62} {'calls':>6} {'ms':>7} {'top-level ms':>13} {'share':>6}")
    covered = 0.0
    stages = {label: span for label, span in spans["spans"].items() if "SQL:" not in label}
    order = [label for _, _, label in STAGE_LABELS if label in stages]
    for label in order + [label for label in stages if label not in order]:
        span = stages[label]
        covered += span["top_ms"]
        share = f"{span['top_ms'] / total:.0%}" if span["top_ms"] else ""
        top = f"{span['top_ms']:.2f}" if span["top_ms"] else ""
        print(f"  {label:<62} {span['calls']:>6.1f} {span['ms']:>7.2f} {top:>13} {share:>6}")
    rest = total - covered
    label = "the rest: uvicorn, middleware, routing, body read"
    print(f"  {label:<62} {'':>6} {'':>7} {rest:>13.2f} {rest / total:>6.0%}")
    print(f"  {'whole request (server side)':<62} {'':>6} {'':>7} {total:>13.2f}")
    floor = f"the floor's whole request, server side ({spans['floor_requests']}, in turns)"
    print(f"  {floor:<62} {'':>6} {'':>7} {spans['floor_ms']:>13.2f}")
    sql = {label: span for label, span in spans["spans"].items() if "SQL:" in label}
    print(f"  SQL round trips (inside the stages above): {sum(s['ms'] for s in sql.values()):.2f} ms in all")
    for label, span in sorted(sql.items(), key=lambda item: -item[1]["ms"]):
        print(f"  {label.strip():<62} {span['calls']:>6.1f} {span['ms']:>7.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=60.0, help="for the service and for the floor, each")
    parser.add_argument("--plans", action="store_true", help="load the shipped plan library first")
    parser.add_argument("--spans", type=int, default=400, help="requests timed stage by stage (0: none)")
    parser.add_argument("--profile", type=int, default=0, help="requests profiled with cProfile (0: none)")
    args = parser.parse_args()
    print(f"start: {load_note()}")
    started = time.perf_counter()
    async with bench_database("intake") as url:
        if args.plans:
            await load_library(url)
        with server(url, app=FLOOR_APP) as base:
            others = Others()
            results = await through_api(base, args.rate, args.seconds)
            note = others.note()
        raw, raw_failures = await floor(url, args.rate, args.seconds / 2)
        spans, top = await where_the_time_goes(url, args.rate, args.spans, args.profile) if args.spans else ({}, "")
    library = "the shipped plan library loaded" if args.plans else "no plans"
    print_table(
        f"Intake at an offered {args.rate:g}/s (open loop, turns of 5 s), {library}",
        [
            (FLOOR, summary_ms(results["floor"][0])),
            ("POST /api/v1/incidents", summary_ms(results["api"][0])),
            ("GET /api/v1/incidents/{id}", summary_ms(results["get"][0])),
            ("for scale: plain asyncpg INSERT, no HTTP", summary_ms(raw)),
        ],
        floor=FLOOR,
    )
    failures = {name: failed for name, (_, failed) in results.items()}
    print(f"  failures: {failures}, plain INSERT {raw_failures}")
    print("  targets: POST p50 ≤ 3× floor and < 20 ms; p99 < 60 ms")
    print(f"  {note}")
    print_slow(started)
    if spans:
        print_spans(spans)
    if top:
        print(f"\ncProfile over {args.profile} more requests (the whole process; shares, not timings):\n{top}")


if __name__ == "__main__":
    asyncio.run(main())
