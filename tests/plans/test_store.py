"""Stored plans: loading is idempotent and versioned; matching runs the area test in PostGIS."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict
from plans import service
from plans.matching import IncidentFacts
from plans.models import Plan
from tests.plans.conftest import JINJIANG, OUTSIDE_CITY, WUHOU, MakeIncident, add_jinjiang_boundary, library

SPRING_FESTIVAL = datetime(2026, 2, 18, 12, 0, tzinfo=UTC)
JULY = datetime(2026, 7, 12, 8, 0, tzinfo=UTC)
APRIL = datetime(2026, 4, 15, 2, 0, tzinfo=UTC)


def facts(subtype: str, where: tuple[float, float], at: datetime, level: str | None = "IV") -> IncidentFacts:
    from incidents.schemas import category_of

    return IncidentFacts(category=category_of(subtype), subtype=subtype, level=level, lon=where[0], lat=where[1], at=at)


async def ids(session: AsyncSession, f: IncidentFacts) -> list[str]:
    return [m.plan_id for m in await service.match_facts(session, facts=f)]


async def test_loading_the_library_twice_changes_nothing(
    session: AsyncSession, loaded: list[service.LoadResult]
) -> None:
    assert {r.outcome for r in loaded} == {"created"} and len(loaded) == len(library())
    again = [await service.load_plan(session, document=d, source=p.name) for p, d in library()]
    assert {r.outcome for r in again} == {"unchanged"}
    assert await session.scalar(select(func.count()).select_from(Plan)) == len(library())
    items, total = await service.list_plans(session)
    assert total == len(library()) and all(p.current for p in items)


async def test_same_version_with_other_content_is_a_conflict(session: AsyncSession, loaded: object) -> None:
    _, earthquake = next((p, d) for p, d in library() if d.id == "cn-earthquake")
    changed = earthquake.model_copy(update={"summary": None})
    with pytest.raises(Conflict, match="already stored with different content"):
        await service.load_plan(session, document=changed, source="test")


async def test_a_new_version_supersedes_the_old_for_new_matches(session: AsyncSession, loaded: object) -> None:
    _, earthquake = next((p, d) for p, d in library() if d.id == "cn-earthquake")
    newer = earthquake.model_copy(update={"version": "2026.2"})
    result = await service.load_plan(session, document=newer, source="test")
    assert result.outcome == "created" and result.superseded == ["2026.1"]
    old = await service.get_plan(session, plan_id="cn-earthquake", version="2026.1")
    assert not old.current and old.superseded_at is not None
    assert (await service.get_plan(session, plan_id="cn-earthquake")).version == "2026.2"
    matches = await service.match_facts(session, facts=facts("earthquake", WUHOU, APRIL, "II"))
    assert [(m.plan_id, m.version) for m in matches if m.plan_id == "cn-earthquake"] == [("cn-earthquake", "2026.2")]
    # An older edition filed late is kept but never becomes current.
    older = await service.load_plan(session, document=earthquake.model_copy(update={"version": "2025.9"}), source="t")
    assert not older.plan.current and older.superseded == []
    _, total = await service.list_plans(session, all_versions=True, plan_id="cn-earthquake")
    assert total == 3


async def test_area_bound_plan_matches_inside_its_polygon_only(session: AsyncSession, loaded: object) -> None:
    inside = await ids(session, facts("building_fire", JINJIANG, SPRING_FESTIVAL))
    assert inside[:2] == ["cd-jinjiang-spring-festival-fire", "cn-building-fire"]
    outside = await ids(session, facts("building_fire", WUHOU, SPRING_FESTIVAL))
    assert "cd-jinjiang-spring-festival-fire" not in outside and outside[0] == "cn-building-fire"
    match = (await service.match_facts(session, facts=facts("explosion", JINJIANG, SPRING_FESTIVAL)))[0]
    assert match.plan_id == "cd-jinjiang-spring-festival-fire"
    assert any("inside the plan's area" in r for r in match.reasons)
    assert any("2026-02-18" in r for r in match.reasons)


async def test_time_window_plan(session: AsyncSession, loaded: object) -> None:
    # Outside the festival, the same place and subtype get the national plan only.
    assert (await ids(session, facts("building_fire", JINJIANG, APRIL)))[0] == "cn-building-fire"
    # The flood-season plan for central Chengdu: July yes, April no; Dujiangyan never.
    assert (await ids(session, facts("rainstorm", WUHOU, JULY)))[:2] == ["cd-urban-waterlogging", "cn-flood-control"]
    assert (await ids(session, facts("rainstorm", WUHOU, APRIL)))[0] == "cn-flood-control"
    assert "cd-urban-waterlogging" not in await ids(session, facts("rainstorm", OUTSIDE_CITY, JULY))
    # The category-wide relief plan ranks after every subtype plan.
    assert (await ids(session, facts("rainstorm", WUHOU, JULY)))[-1] == "cn-natural-disaster-relief"


async def test_jurisdiction_named_plans_use_the_loaded_boundaries(session: AsyncSession, loaded: object) -> None:
    # A point outside the hand-drawn polygon but inside a loaded 锦江区 boundary still matches by name.
    where = (104.2000, 30.5000)
    assert "cd-jinjiang-spring-festival-fire" not in await ids(session, facts("building_fire", where, SPRING_FESTIVAL))
    await add_jinjiang_boundary(session)
    match = (await service.match_facts(session, facts=facts("building_fire", where, SPRING_FESTIVAL)))[0]
    assert match.plan_id == "cd-jinjiang-spring-festival-fire"
    assert any("锦江区" in r for r in match.reasons)


async def test_a_stored_incident_matches_with_its_grade(
    session: AsyncSession, loaded: object, make_incident: MakeIncident
) -> None:
    incident = await make_incident("gas_leak", at=WUHOU, level="III")
    matches = await service.match(session, incident=incident)
    assert matches[0].plan_id == "cn-hazardous-chemicals" and matches[0].level == "III"
    assert any("grade III" in r for r in matches[0].reasons)
