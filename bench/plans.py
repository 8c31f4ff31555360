"""Matching 50 plans against one incident: the pure ranking, the whole service call (candidates and PostGIS area
test in one query, then the ranking), and beside them the floor: the bare containment SQL on the same table.

    .venv/bin/python -m bench.plans [--n 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bench._common import bench_database, print_table, summary_ms
from core.db import create_engine, create_sessionmaker
from core.settings import get_settings
from plans import service
from plans.schemas import PlanDocument
from plans.service import IncidentFacts, rank

PLANS = 50
# A festival-season building fire inside Jinjiang: local, area and time-window plans all take part.
INCIDENT = IncidentFacts(
    category="accident_disaster",
    subtype="building_fire",
    level="III",
    lon=104.0788,
    lat=30.6600,
    at=datetime(2026, 2, 18, 12, 0, tzinfo=UTC),
)
FLOOR_SQL = text(
    "SELECT id FROM plan WHERE area IS NOT NULL AND ST_Covers(area, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
)


def _variant(document: PlanDocument, i: int) -> PlanDocument:
    """A district copy of a shipped plan, with its own square area around Chengdu: 50 plans, many with polygons."""
    lon, lat = 103.95 + 0.03 * (i % 8), 30.55 + 0.03 * (i // 8)
    square = [[lon, lat], [lon + 0.05, lat], [lon + 0.05, lat + 0.05], [lon, lat + 0.05], [lon, lat]]
    data = document.model_dump(mode="json", exclude_none=True)
    data["id"] = f"bench-{i:02d}-{document.id}"[:64]
    data["kind"] = "local"
    data["triggers"]["area"] = {"polygon": {"type": "Polygon", "coordinates": [square]}}
    return PlanDocument.model_validate(data)


async def _load(session: AsyncSession) -> int:
    library = [d for _, d in service.read_plans(service.LIBRARY)]
    for document in library:
        await service.load_plan(session, document=document, source="bench")
    for i in range(PLANS - len(library)):
        await service.load_plan(session, document=_variant(library[i % len(library)], i), source="bench")
    await session.commit()
    return len(library)


async def _time(n: int, call: object) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await call()  # type: ignore[operator]
        samples.append(time.perf_counter() - start)
    return samples


async def main(n: int) -> None:
    async with bench_database("plans") as url:
        settings = get_settings().model_copy(update={"database_url": url})
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as session:
                shipped = await _load(session)
                plans, in_area = await service.candidates_for(session, facts=INCIDENT)
                matches = rank(INCIDENT, plans, in_area=in_area)
                print(f"{len(plans)} plans ({shipped} shipped, {len(plans) - shipped} district copies with areas);")
                print(f"{len(matches)} match the incident; first: {', '.join(m.plan_id for m in matches[:3])}")

                async def floor() -> None:
                    (await session.execute(FLOOR_SQL, {"lon": INCIDENT.lon, "lat": INCIDENT.lat})).all()

                async def whole() -> None:
                    await service.match_facts(session, facts=INCIDENT)

                async def pure() -> None:
                    rank(INCIDENT, plans, in_area=in_area)

                for call in (floor, whole, pure):  # warm up pools, plans and caches
                    await _time(50, call)
                results = [
                    ("containment SQL alone (floor)", summary_ms(await _time(n, floor))),
                    ("match_facts: candidates + PostGIS + ranking", summary_ms(await _time(n, whole))),
                    ("rank() alone, pure Python", summary_ms(await _time(n, pure))),
                ]
                await session.rollback()
        finally:
            await engine.dispose()
    print_table(f"matching {len(plans)} plans against one incident", results, floor="containment SQL alone (floor)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000, help="timed runs of each")
    asyncio.run(main(parser.parse_args().n))
