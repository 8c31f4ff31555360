"""Intake under an open-loop load: POST /api/v1/incidents at a fixed offered rate, beside the raw floor.

    .venv/bin/python bench/intake.py [--rate 20] [--seconds 60] [--plans]

The floor is a plain asyncpg INSERT of the same incident row (no HTTP, no classification, no event, no audit),
offered at the same rate in the same run. Targets (issue 5): p50 20 ms, p99 60 ms on a 2-core machine.
``--plans`` loads the shipped plan library first, so that each report is matched against it as in production.
Then ``GET /api/v1/incidents/{id}`` of the incidents just logged, at the same rate (it reads the stored matches).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sys
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (  # noqa: E402
    admin_token,
    asyncpg_dsn,
    bench_database,
    open_loop,
    print_table,
    server,
    summary_ms,
)

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


async def through_api(base: str, rate: float, seconds: float) -> tuple[Timings, Timings]:
    """POST reports at ``rate``; then GET the incidents they made at the same rate."""
    rng = random.Random(1)
    counter = itertools.count()
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
    made: list[int] = []
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        auth = await admin_token(client)
        for i in range(20):  # warm up: connections, caches, the classifier's first call
            await client.post("/api/v1/incidents", json=payload(i, rng), headers=auth)

        async def post() -> bool:
            response = await client.post("/api/v1/incidents", json=payload(next(counter), rng), headers=auth)
            if response.status_code == 201:
                made.append(response.json()["id"])
            return response.status_code == 201

        posted = await open_loop(rate, seconds, post)
        ids = itertools.cycle(made or [0])

        async def get() -> bool:
            return (await client.get(f"/api/v1/incidents/{next(ids)}", headers=auth)).status_code == 200

        return posted, await open_loop(rate, seconds, get)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--plans", action="store_true", help="load the shipped plan library first")
    args = parser.parse_args()
    async with bench_database("intake") as url:
        if args.plans:
            await load_library(url)
        with server(url) as base:
            (api, api_failures), (reads, read_failures) = await through_api(base, args.rate, args.seconds)
        raw, raw_failures = await floor(url, args.rate, args.seconds)
    library = "the shipped plan library loaded" if args.plans else "no plans"
    print_table(
        f"Intake at an offered {args.rate:g}/s for {args.seconds:g} s (open loop), {library}",
        [
            ("plain asyncpg INSERT (floor)", summary_ms(raw)),
            ("POST /api/v1/incidents", summary_ms(api)),
            ("GET /api/v1/incidents/{id}", summary_ms(reads)),
        ],
        floor="plain asyncpg INSERT (floor)",
    )
    print(f"  failures: api {api_failures}, reads {read_failures}, floor {raw_failures}; targets: p50 20 ms, p99 60 ms")


if __name__ == "__main__":
    asyncio.run(main())
