"""Place search benchmark on the Chengdu extract: the route beside the raw trigram SQL, in the same run.

    .venv/bin/python bench/places.py [--repeat 300]

- ``GET /api/v1/places?q=&near=<Tianfu Square>&limit=10`` over real HTTP (``commandpost serve``, one worker,
  closed loop), for names of the extract written three ways: characters (春熙路), pinyin (chunxilu), initials
  (cxl);
- ``GET /api/v1/me`` with the same token: what any request costs here before it searches anything;
- the floor: the bare trigram statement on the same terms (``term % q OR term LIKE 'q%'``, best 10 by similarity)
  for the same queries, folded, on a plain asyncpg connection.

It creates a throwaway database (``commandpost_bench_places_<random>``), imports the Chengdu extract
(``../shared/data``) and drops the database at the end. The issue asks p50 under 10 ms and p99 under 30 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench._common import CENTRE, admin_token, asyncpg_dsn, bench_database, print_table, server, summary_ms  # noqa: E402
from core.db import create_engine, create_sessionmaker, transaction  # noqa: E402
from core.settings import get_settings  # noqa: E402
from gis import service as gis  # noqa: E402

FLOOR_SQL = """SELECT place_id, similarity(term, $1) AS s FROM place_term
WHERE term % $1 OR term LIKE $2 ORDER BY s DESC LIMIT 10"""


# Each Chinese name with its pinyin and initials as import-osm stored them (a name's own pinyin is worth 0.9 and its
# initials 0.8, gis/places/names.py): the same text the route is asked, folded.
NAMES_SQL = """SELECT DISTINCT ON (p.name) p.name,
       (SELECT t.term FROM place_term t WHERE t.place_id = p.id AND t.worth = 0.9 LIMIT 1) AS pinyin,
       (SELECT t.term FROM place_term t WHERE t.place_id = p.id AND t.worth = 0.8 LIMIT 1) AS initials
FROM place p WHERE p.name ~ '[一-龥]' ORDER BY p.name, p.id"""


async def load(settings: object) -> list[tuple[str, str, str]]:
    """Import Chengdu; the Chinese names of its streets, stations and facilities, with their pinyin and initials."""
    engine = create_engine(settings, bulk=True)  # type: ignore[arg-type]
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            started = time.perf_counter()
            path = get_settings().shared_data / "chengdu" / "chengdu_core_2018.osm.pbf"
            report = await gis.import_osm(session, path=path)
            print(f"imported Chengdu in {time.perf_counter() - started:.2f} s: {report.places:,} places to search")
        async with engine.connect() as conn:
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text("VACUUM ANALYZE"))
            rows = await conn.execute(text(NAMES_SQL))
            return [(r.name, r.pinyin, r.initials) for r in rows if r.pinyin and r.initials]
    finally:
        await engine.dispose()


def queries(names: list[tuple[str, str, str]], repeat: int) -> dict[str, list[str]]:
    """``repeat`` names drawn at random, each as characters, pinyin and initials."""
    drawn = random.Random(7).choices(names, k=repeat)
    return {
        "characters": [d[0] for d in drawn],
        "pinyin": [d[1] for d in drawn],
        "initials": [d[2] for d in drawn],
    }


async def route_times(base: str, qs: list[str], *, path: str = "/api/v1/places") -> list[float]:
    """Each query once, one after the other (closed loop), after 20 to warm up (the first search loads the
    converters, the pool opens its connections)."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        auth = await admin_token(client)
        near = f"{CENTRE[0]},{CENTRE[1]}"
        times = []
        for i, q in enumerate([*qs[:20], *qs]):
            started = time.perf_counter()
            response = await client.get(path, params={"q": q, "near": near}, headers=auth)
            if i >= 20:
                times.append(time.perf_counter() - started)
            response.raise_for_status()
        return times


async def floor_times(url: str, qs: list[str]) -> list[float]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        folded = [q.lower() for q in qs]  # as drawn: the route also folds away the punctuation of a few names
        for q in folded[:20]:
            await conn.fetch(FLOOR_SQL, q, q + "%")
        times = []
        for q in folded:
            started = time.perf_counter()
            await conn.fetch(FLOOR_SQL, q, q + "%")
            times.append(time.perf_counter() - started)
        return times
    finally:
        await conn.close()


async def main_async(repeat: int) -> None:
    base = get_settings()
    if not (base.shared_data / "chengdu" / "chengdu_core_2018.osm.pbf").is_file():
        raise SystemExit(f"bench/places.py needs the Chengdu extract in {base.shared_data / 'chengdu'}")
    async with bench_database("places") as url:
        names = await load(base.model_copy(update={"database_url": url, "redis_url": None}))
        asked = queries(names, repeat)
        rows = []
        with server(url) as http:
            for how, qs in asked.items():
                rows.append((f"GET /places, {how}", summary_ms(await route_times(http, qs))))
            me = await route_times(http, asked["characters"], path="/api/v1/me")
            rows.append(("GET /me (the same token, no search)", summary_ms(me)))
        for how, qs in asked.items():
            rows.append((f"raw trigram SQL, {how}", summary_ms(await floor_times(url, qs))))
    print(f"\n{len(names):,} Chinese names; {repeat} drawn, each asked as characters, pinyin and initials")
    print_table("place search (Chengdu)", rows, floor=rows[4][0])
    route_all = [s for name, s in rows if name.startswith("GET /places")]
    print()
    for label, key, bound in (("p50 under 10 ms", "p50", 10.0), ("p99 under 30 ms", "p99", 30.0)):
        ok = all(s[key] < bound for s in route_all)
        print(f"  route {label:<30} {'yes' if ok else 'NO'} ({', '.join(f'{s[key]:.2f}' for s in route_all)} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=300)
    asyncio.run(main_async(parser.parse_args().repeat))


if __name__ == "__main__":
    main()
