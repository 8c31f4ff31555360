"""Response-time percentiles over a year: ``GET /api/v1/reports/response-times`` on a real server, beside its floor,
the same SQL sent straight to PostgreSQL, in the same run. The bench database holds a year of incidents (10,000 by
default) with their events as the service writes them (incident.created, regradings, each dispatch's created,
acknowledged, en route, on scene, closed) and, around them, the noise a real log carries (unit.location events of
every unit, many times the incident events), so the period's index has to find the incidents among them. Also one
incident's after-action report, JSON and HTML.

    .venv/bin/python -m bench.reports [--incidents 10000] [--positions 400000] [--runs 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from bench._common import admin_token, asyncpg_dsn, bench_database, print_table, server, summary_ms
from command.service import RESPONSE_TIMES

YEAR = datetime(2025, 1, 1, tzinfo=UTC)
CATEGORIES = [
    ("accident_disaster", "building_fire"),
    ("accident_disaster", "road_traffic"),
    ("natural_disaster", "flood"),
    ("public_health", "food_poisoning"),
    ("social_security", "mass_incident"),
]
GRADES = ["IV", "IV", "IV", "III", "III", "II", "I"]
INSERT = """
INSERT INTO event (type, data, incident_id, unit_id, created_at)
SELECT t, d::jsonb, i, u, c FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::timestamptz[])
    AS x(t, d, i, u, c)
"""


def _incident_events(incident_id: int, rng: random.Random, next_dispatch: list[int]) -> list[tuple[Any, ...]]:
    logged = YEAR + timedelta(seconds=rng.uniform(0, 365 * 86400))
    reported = logged - timedelta(seconds=rng.uniform(10, 120))
    category, subtype = rng.choice(CATEGORIES)
    grade = rng.choice(GRADES)
    incident = {"id": incident_id, "title": f"bench {incident_id}", "category": category, "subtype": subtype,
                "grade": {"level": grade}, "status": "reported", "reported_at": reported.isoformat(),
                "location": {"type": "Point", "coordinates": [104.06, 30.66]}}  # fmt: skip
    rows: list[tuple[Any, ...]] = [("incident.created", incident, incident_id, None, logged)]
    if rng.random() < 0.3:  # regraded
        rows.append(("incident.updated", incident | {"grade": {"level": rng.choice(GRADES)}, "change": "grade"},
                     incident_id, None, logged + timedelta(minutes=5)))  # fmt: skip
    sent = logged + timedelta(seconds=rng.lognormvariate(4.5, 0.5))
    for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
        next_dispatch[0] += 1
        did, unit = next_dispatch[0], rng.randrange(1, 2000)
        base = {"id": did, "unit_id": unit, "unit_type": "fire_engine", "created_at": sent.isoformat(),
                "status": "dispatched", "unit": {"id": unit, "name": f"U{unit}", "type": "fire_engine"}}  # fmt: skip
        acked = sent + timedelta(seconds=rng.lognormvariate(3.5, 0.6))
        rolling = acked + timedelta(seconds=rng.uniform(10, 90))
        there = rolling + timedelta(seconds=rng.lognormvariate(6.2, 0.5))
        cleared = there + timedelta(minutes=rng.uniform(20, 180))
        rows += [
            ("dispatch.created", base, incident_id, unit, sent),
            ("dispatch.acknowledged", base | {"acknowledged_at": acked.isoformat()}, incident_id, unit, acked),
            ("dispatch.updated", base | {"status": "en_route"}, incident_id, unit, rolling),
            ("dispatch.updated", base | {"status": "on_scene", "status_at": there.isoformat()}, incident_id, unit,
             there + timedelta(seconds=5)),
            ("dispatch.closed", base | {"status": "completed", "closed_at": cleared.isoformat()}, incident_id, unit,
             cleared),
        ]  # fmt: skip
        sent += timedelta(seconds=rng.uniform(30, 600))
    return rows


async def _insert(conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
    columns = list(zip(*rows, strict=True))
    await conn.execute(INSERT, list(columns[0]), [json.dumps(d) for d in columns[1]], *map(list, columns[2:]))


async def _load(dsn: str, incidents: int, positions: int) -> int:
    rng = random.Random(23)
    conn = await asyncpg.connect(dsn)
    try:
        batch: list[tuple[Any, ...]] = []
        total, next_dispatch = 0, [0]
        for incident_id in range(1, incidents + 1):
            batch += _incident_events(incident_id, rng, next_dispatch)
            if len(batch) > 20_000:
                await _insert(conn, batch)
                total, batch = total + len(batch), []
        for n in range(positions):
            unit = rng.randrange(1, 2000)
            point = {"id": unit, "name": f"U{unit}", "location": {"type": "Point", "coordinates": [104.0, 30.6]}}
            batch.append(("unit.location", point, None, unit, YEAR + timedelta(seconds=n * 365 * 86400 / positions)))
            if len(batch) > 20_000:
                await _insert(conn, batch)
                total, batch = total + len(batch), []
        if batch:
            await _insert(conn, batch)
            total += len(batch)
        await conn.execute("ANALYZE event")
        return total
    finally:
        await conn.close()


async def _floor(conn: asyncpg.Connection, sql: str, a: datetime, b: datetime) -> None:
    """The statement alone, as the route runs it (JIT off for its transaction)."""
    async with conn.transaction(readonly=True):
        await conn.execute("SET LOCAL jit = off")
        await conn.fetch(sql, a, b, False, [])  # unscoped: every jurisdiction, as an admin reads it


async def _time(runs: int, call: Any) -> list[float]:
    await call()  # warm: plans cached, pages in memory
    took = []
    for _ in range(runs):
        start = time.perf_counter()
        await call()
        took.append(time.perf_counter() - start)
    return took


async def main(incidents: int, positions: int, runs: int) -> None:
    async with bench_database("reports") as url:
        start = time.perf_counter()
        events = await _load(asyncpg_dsn(url), incidents, positions)
        print(f"loaded {incidents} incidents, {events} events in {time.perf_counter() - start:.1f} s")
        sql = (
            str(RESPONSE_TIMES)
            .replace(":from_at", "$1")
            .replace(":to_at", "$2")
            .replace(":scoped", "$3")
            .replace(":jurisdictions", "$4")
        )
        periods = {"a year": (YEAR, YEAR + timedelta(days=365)), "a month": (YEAR, YEAR + timedelta(days=31))}
        conn = await asyncpg.connect(asyncpg_dsn(url))
        rows: list[tuple[str, dict[str, float]]] = []
        try:
            await conn.execute("SET jit = off")
            plan = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *periods["a year"], False, [])
            print("\nplan of the year's query (first lines):")
            for line in [r[0] for r in plan][:14]:
                print("  " + line)
            with server(url) as base:
                async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                    auth = await admin_token(client)
                    for name, (a, b) in periods.items():
                        floor = await _time(runs, lambda a=a, b=b: _floor(conn, sql, a, b))
                        params = {"from": a.isoformat(), "to": b.isoformat()}

                        async def route(params: dict[str, str] = params) -> None:
                            answer = await client.get("/api/v1/reports/response-times", params=params, headers=auth)
                            answer.raise_for_status()

                        took = await _time(runs, route)
                        rows.append((f"{name}: SQL alone (floor)", summary_ms(floor)))
                        rows.append((f"{name}: the route", summary_ms(took)))
                    answer = await client.get("/api/v1/reports/response-times", params=params, headers=auth)
                    every = answer.json()["groups"][0]
                    print(f"\nthe month: {every['incidents']} incidents, {every['dispatches']} dispatches; "
                          f"on scene p50/p90/p95 {every['on_scene']['p50_s']:.0f}/{every['on_scene']['p90_s']:.0f}/"
                          f"{every['on_scene']['p95_s']:.0f} s")  # fmt: skip
        finally:
            await conn.close()
        print_table(f"response-time percentiles ({incidents} incidents in the year, {events} events)", rows)
        print(f"  (load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--positions", type=int, default=400_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    asyncio.run(main(args.incidents, args.positions, args.runs))
