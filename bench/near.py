"""``GET /api/v1/resources?near=lon,lat&limit=5`` over real HTTP, beside its floors in the same run (bench/map.py
loads the 100,000 resources and calls ``near_figures``):

- the framework floor (issue 15): a bare FastAPI route in the service's own process (bench/floor_app.py) that
  checks the same bearer token and sends the same KNN statement through the same engine and pool (checked before
  measuring: ``same_statement``); and the same route mounted inside the service, behind its middleware;
- for scale, the bare ASGI floor (bench/knn_floor.py: no framework, no token, one asyncpg connection, the same
  statement) and the raw statement through asyncpg from this process, no HTTP;
- first one request to each in turn (closed loop: p50 beside p50; target: the service ≤ 1.5× the framework floor);
  then the service and the framework floor each offered 200 requests a second (open loop, in turns of 5 s), p99
  (target: the service under 25 ms). Each search is made at the next of a fixed sequence of points around the
  centre, where the resources are dense, the same sequence on every side.
"""

from __future__ import annotations

import gc
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import numpy as np

from bench._common import (
    CENTRE,
    Others,
    RawPool,
    admin_token,
    alternating,
    asyncpg_dsn,
    print_slow,
    print_table,
    server,
    summary_ms,
)
from bench.knn_floor import SERVICE_NEAR_SQL

NEAR_QUERY = "limit=5"  # issue 15: GET /resources?near=lon,lat&limit=5 (every type)
FLOOR_APP = "bench.floor_app:create()"
NEAR_ROWS = {
    "raw": "raw KNN SQL, asyncpg, no HTTP (scale)",
    "bare": "bare ASGI + asyncpg, no auth (knn_floor)",
    "floor": "framework floor: FastAPI + token + pool",
    "inside": "same floor route inside the app (middleware)",
    "ours": "GET /api/v1/resources?near=…&limit=5",
}


def near_points(n: int) -> list[tuple[float, float]]:
    """Where the searches are made: around the centre as the resources are (a fixed sequence, the same for all)."""
    rng = np.random.default_rng(11)
    return [(CENTRE[0] + dx, CENTRE[1] + dy) for dx, dy in rng.normal(0, 0.03, (n, 2))]


async def same_statement(base: str, auth: dict[str, str], at: tuple[float, float]) -> None:
    """The framework floor's statement is the one the service sends (as sent, parameters aside), and both find the
    same five resources; a change to the service's SQL fails the bench here instead of measuring something else."""
    near = f"near={at[0]},{at[1]}"
    async with httpx.AsyncClient(base_url=base) as client:
        await client.get("/floor/sql", params={"watch": 1})
        ours = (await client.get(f"/api/v1/resources?{near}&{NEAR_QUERY}", headers=auth)).json()
        floor = (await client.get(f"/floor/near?{near}&{NEAR_QUERY}", headers=auth)).json()
        sent = [s for s in (await client.get("/floor/sql")).json() if "<->" in s]
    assert {i["id"] for i in ours["items"]} == {i["id"] for i in floor["items"]}, (ours, floor)  # (order: spheroid)

    def plain(sql: str) -> str:
        sql = re.sub(r"\$(\d)::FLOAT", r"CAST($\1 AS FLOAT)", sql)
        return re.sub(r"\s+", " ", sql.replace("( ", "(").replace(" )", ")")).strip()

    assert len(sent) == 2 and plain(sent[0]) == plain(sent[1]), "the floor's SQL is not the service's:\n" + "\n".join(
        plain(s) for s in sent
    )


async def near_figures(
    database_url: str, times: int, rate: float, seconds: float, *, gc_freeze: bool = False
) -> dict[str, Any]:
    """``near`` over real HTTP: the service and its framework floor in one process (bench/floor_app.py), the bare
    ASGI floor (bench/knn_floor.py) on the same uvicorn, and the raw SQL from here. First one request to each in
    turn, ``times`` rounds (closed loop: the machine's drift falls on all alike); then the service and the framework
    floor each offered ``rate`` requests a second (open loop, in turns of 5 s) for ``seconds`` in all, with the
    server's full garbage collections during each side's turns. ``gc_freeze``: the variant of the server that
    freezes what start-up made (bench/floor_app.py's ``BENCH_GC_FREEZE``)."""
    quiet = {"COMMANDPOST_SCHEDULER_EMBEDDED": "false", "COMMANDPOST_REDIS_URL": ""}  # no background sweeps
    if gc_freeze:
        quiet["BENCH_GC_FREEZE"] = "1"
    floor_env = {"FLOOR_DSN": asyncpg_dsn(database_url)}
    points = near_points(1000)
    started = time.perf_counter()
    with (
        server(database_url, extra_env=quiet, app=FLOOR_APP) as ours_base,
        server(database_url, extra_env=floor_env, app="bench.knn_floor:app") as bare_base,
    ):
        async with httpx.AsyncClient(base_url=ours_base) as client:
            auth = await admin_token(client)
        await same_statement(ours_base, auth, points[0])
        raw = await asyncpg.connect(asyncpg_dsn(database_url))
        ours, bare = RawPool(_port(ours_base), auth), RawPool(_port(bare_base))
        try:
            paths = {
                "ours": "/api/v1/resources",
                "inside": "/api/v1/floor/near",
                "floor": "/floor/near",
            }
            turn = dict.fromkeys(NEAR_ROWS, 0)

            def call(name: str) -> Callable[[], Awaitable[Any]]:
                def next_point() -> tuple[float, float]:
                    turn[name] += 1
                    return points[turn[name] % len(points)]

                if name == "raw":
                    return lambda: raw.fetch(SERVICE_NEAR_SQL, *next_point())
                if name == "bare":
                    return lambda: bare.get("/full?near={},{}".format(*next_point()))
                return lambda: ours.get(paths[name] + "?near={},{}&".format(*next_point()) + NEAR_QUERY)

            others = Others()
            closed = await _interleaved({name: call(name) for name in NEAR_ROWS}, times)
            notes = [others.note()]
            others = Others()

            def ok(name: str) -> Callable[[], Awaitable[bool]]:
                fetch = call(name)

                async def one() -> bool:
                    await fetch()
                    return True

                return one

            collections: dict[str, list[dict[str, Any]]] = {"floor": [], "ours": []}
            async with httpx.AsyncClient(base_url=ours_base) as client:

                async def gc_before() -> None:
                    await client.get("/floor/gc", params={"reset": 1})

                async def gc_after(name: str) -> None:
                    collections[name].append((await client.get("/floor/gc", params={"reset": 1})).json())

                loaded = await alternating(
                    rate,
                    seconds,
                    {name: ok(name) for name in ("floor", "ours")},
                    before_turn=gc_before,
                    after_turn=gc_after,
                )
        finally:
            await raw.close()
            await ours.close()
            await bare.close()
    notes.append(others.note())
    return {
        "closed": closed,
        "loaded": loaded,
        "started": started,
        "gc": collections,
        "gc_freeze": gc_freeze,
        "notes": notes,
    }


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


async def _interleaved(calls: dict[str, Callable[[], Awaitable[Any]]], times: int) -> dict[str, list[float]]:
    """Each call ``times`` times, one of each in turn, after 50 rounds of warming up (plans, the token cache)."""
    for name, call in calls.items():
        answer = await call()
        assert len(answer if isinstance(answer, list) else json.loads(answer)["items"]) == 5, name
    samples: dict[str, list[float]] = {name: [] for name in calls}
    gc.disable()  # this process's full collections (~130 ms here) between rounds, not inside a timed request
    try:
        for round_ in range(times + 50):
            if round_ % 200 == 0:
                gc.collect()
            for name, call in calls.items():
                start = time.perf_counter()
                await call()
                if round_ >= 50:
                    samples[name].append(time.perf_counter() - start)
    finally:
        gc.enable()
    return samples


def print_near(figures: dict[str, Any], rate: float) -> None:
    """Both tables, with the load of the machine as they end."""
    closed = figures["closed"]
    print_table(
        f"near over {len(closed['ours'])} rounds, one request to each in turn (closed loop)",
        [(NEAR_ROWS[name], summary_ms(closed[name])) for name in NEAR_ROWS],
        floor=NEAR_ROWS["floor"],
    )
    print("  target: the service's p50 ≤ 1.5× the framework floor's")
    print(f"  {figures['notes'][0]}")
    loaded = figures["loaded"]
    variant = ", server with gc.freeze() at start-up" if figures["gc_freeze"] else ""
    print_table(
        f"near at an offered {rate:g} requests/s (open loop, turns of 5 s){variant}",
        [(NEAR_ROWS[name], summary_ms(loaded[name][0])) for name in ("floor", "ours")],
        floor=NEAR_ROWS["floor"],
    )
    failures = {name: failed for name, (_, failed) in loaded.items()}
    print(f"  failures: {failures}; target: the service's p99 < 25 ms")
    print(f"  {figures['notes'][1]}")
    for name, turns in figures["gc"].items():
        pauses = [turn["max_ms"] for turn in turns if turn["count"]]
        count = sum(turn["count"] for turn in turns)
        frozen = turns[0]["frozen"] if turns else 0
        print(
            f"  server's full garbage collections in {name}'s turns: {count}, longest {max(pauses, default=0):.0f} ms"
            + (f" ({frozen:,} objects frozen at start-up: gc.freeze() variant)" if frozen else "")
        )
    print_slow(figures["started"])
