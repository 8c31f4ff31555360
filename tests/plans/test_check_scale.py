"""The dry run at scale (issue 14): a fixed number of statements however many examples it is given, the same
answers as matching one incident at a time, and a cap on the examples per request by role."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.settings import Settings
from plans import service
from plans.matching import IncidentFacts
from tests.conftest import TokenFor
from tests.plans.conftest import JINJIANG, OUTSIDE_CITY, WUHOU, MakeIncident, add_jinjiang_boundary
from web.app import create_app

IN_JINJIANG_BY_NAME = (104.2000, 30.5000)  # outside the plan's polygon, inside the boundary added below
SPRING_FESTIVAL = datetime(2026, 2, 14, 20, 0, tzinfo=UTC)
JULY = datetime(2026, 7, 20, 8, 0, tzinfo=UTC)
APRIL = datetime(2026, 4, 2, 8, 0, tzinfo=UTC)
PLACES = [JINJIANG, WUHOU, OUTSIDE_CITY, IN_JINJIANG_BY_NAME]
SUBTYPES = ["building_fire", "rainstorm", "gas_leak", "earthquake", "cyber_attack", "explosion"]
WHEN = [SPRING_FESTIVAL, JULY, APRIL]


def _mix() -> Iterator[tuple[str, tuple[float, float], datetime, str | None]]:
    """Subtypes × places × times × grades: polygons, jurisdiction names, time windows, grades all take part."""
    return itertools.product(SUBTYPES, PLACES, WHEN, [None, "III", "I"])  # type: ignore[return-value]


async def test_matching_many_at_once_agrees_with_one_at_a_time(session: AsyncSession, loaded: object) -> None:
    await add_jinjiang_boundary(session)
    cases = [IncidentFacts(category=None, subtype=s, level=lv, lon=p[0], lat=p[1], at=t) for s, p, t, lv in _mix()]
    at_once = await service.match_many(session, cases=cases)
    one_by_one = [await service.match_facts(session, facts=facts) for facts in cases]
    assert at_once == one_by_one
    reasons = [r for matches in at_once for m in matches for r in m.reasons]
    assert any("one of the plan's jurisdictions" in r for r in reasons)  # matched by the boundary's name
    assert any("inside the plan's area" in r for r in reasons)  # matched by the plan's polygon
    assert any("within" in r for r in reasons)  # a time window
    assert await service.match_many(session, cases=[]) == []


def _examples(n: int) -> list[dict[str, Any]]:
    mix = itertools.islice(itertools.cycle(list(_mix())), n)
    return [
        {"name": f"e{i}", "subtype": s, "level": lv, "location": list(p), "at": t.isoformat()}
        for i, (s, p, t, lv) in enumerate(mix)
    ]


async def test_the_dry_run_takes_the_same_few_statements_for_any_number_of_examples(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine, token_for: TokenFor, loaded: object
) -> None:
    await add_jinjiang_boundary(session)
    await session.commit()
    admin = await token_for("admin")
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "app_user" not in statement and not statement.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)  # the request's own work (the caller's lookup may or may not be cached)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        counts = {}
        for n in (12, 1500):
            statements.clear()
            answer = await client.post("/api/v1/plans/check", json={"incidents": _examples(n)}, headers=admin)
            assert answer.status_code == 200, answer.text
            assert answer.json()["incidents"] == n
            counts[n] = len(statements)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert counts[12] == counts[1500] <= 3, counts


async def test_examples_are_capped_by_role(client: httpx.AsyncClient, token_for: TokenFor, loaded: object) -> None:
    observer, admin = await token_for("observer"), await token_for("admin")
    url = "/api/v1/plans/check"
    assert (await client.post(url, json={"incidents": _examples(100)}, headers=observer)).status_code == 200
    over = await client.post(url, json={"incidents": _examples(101)}, headers=observer)
    assert over.status_code == 422, over.text[:300]
    body = over.json()
    assert body["error"] == "invalid" and body["field"] == "incidents" and body["max_items"] == 100
    assert "at most 100" in body["detail"] and "COMMANDPOST_PLANS_CHECK_MAX_EXAMPLES" in body["detail"]
    assert (await client.post(url, json={"incidents": _examples(101)}, headers=admin)).status_code == 200
    too_many = await client.post(url, json={"incidents": _examples(2001)}, headers=admin)
    assert too_many.status_code == 422 and "at most 2000" in too_many.json()["detail"]


async def test_the_stored_replay_is_clamped_to_the_cap(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    token_for: TokenFor,
    loaded: object,
    make_incident: MakeIncident,
) -> None:
    for subtype in ("earthquake", "gas_leak", "building_fire"):
        await make_incident(subtype, level="III")
    await session.commit()
    observer = await token_for("observer")
    app = create_app(settings.model_copy(update={"plans_check_max_examples": 2}), sessionmaker=sessionmaker)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            replay = await client.post("/api/v1/plans/check", json={"limit": 1000}, headers=observer)
    assert replay.status_code == 200, replay.text
    assert replay.json()["incidents"] == 2  # the newest two, not a 422: a limit is clamped, as on every list
