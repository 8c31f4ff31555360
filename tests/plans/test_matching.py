"""Matching as a pure function: ranking by specificity, grades, areas, time windows. No database."""

from __future__ import annotations

from datetime import UTC, datetime

from plans.matching import Candidate, IncidentFacts, jurisdiction_names, rank
from plans.window import parse_window

SPRING = datetime(2026, 2, 18, 12, 30, tzinfo=UTC)
SUMMER = datetime(2026, 7, 12, 8, 0, tzinfo=UTC)


def plan(key: int, plan_id: str, *, kind: str = "special", min_level: str = "IV", **kw: object) -> Candidate:
    fields: dict[str, object] = {"categories": frozenset(), "subtypes": frozenset(), **kw}
    return Candidate(
        key=key,
        plan_id=plan_id,
        version="1",
        name=plan_id,
        name_en=plan_id,
        kind=kind,
        min_level=min_level,
        **fields,  # type: ignore[arg-type]
    )


def fire(level: str | None = "III", at: datetime = SPRING) -> IncidentFacts:
    return IncidentFacts(
        category="accident_disaster", subtype="building_fire", level=level, lon=104.08, lat=30.66, at=at
    )


CATEGORY_WIDE = plan(1, "category-wide", categories=frozenset({"accident_disaster"}))
NATIONAL_FIRE = plan(2, "national-fire", subtypes=frozenset({"building_fire"}))
DEPARTMENTAL_FIRE = plan(3, "departmental-fire", kind="departmental", subtypes=frozenset({"building_fire"}))
LOCAL_FIRE = plan(4, "local-fire", kind="local", subtypes=frozenset({"building_fire"}))
AREA_FIRE = plan(5, "area-fire", kind="local", subtypes=frozenset({"building_fire"}), has_polygon=True)
UNRELATED = plan(6, "earthquake", subtypes=frozenset({"earthquake"}))


def test_ranking_most_specific_first_with_reasons() -> None:
    plans = [CATEGORY_WIDE, NATIONAL_FIRE, DEPARTMENTAL_FIRE, LOCAL_FIRE, AREA_FIRE, UNRELATED]
    ranked = rank(fire(), plans, in_area=frozenset({5}))
    assert [m.plan_id for m in ranked] == [
        "area-fire",
        "local-fire",
        "departmental-fire",
        "national-fire",
        "category-wide",
    ]
    assert all(a.score > b.score for a, b in zip(ranked, ranked[1:], strict=False))
    top = ranked[0]
    assert any("subtype building_fire" in r for r in top.reasons)
    assert any("inside the plan's area" in r for r in top.reasons)
    assert any("grade III" in r for r in top.reasons)
    assert any("category accident_disaster" in r for r in ranked[-1].reasons)
    assert ranked[0].as_dict()["plan_id"] == "area-fire" and ranked[0].as_dict()["reasons"]


def test_subtype_beats_category_even_with_area_and_window() -> None:
    window = parse_window("01-01", "12-31")
    category_local = plan(
        7, "category-local", kind="local", categories=frozenset({"accident_disaster"}), has_polygon=True, window=window
    )
    ranked = rank(fire(), [category_local, NATIONAL_FIRE], in_area=frozenset({7}))
    assert [m.plan_id for m in ranked] == ["national-fire", "category-local"]


def test_area_plan_applies_inside_only() -> None:
    assert [m.plan_id for m in rank(fire(), [AREA_FIRE], in_area=frozenset())] == []
    assert [m.plan_id for m in rank(fire(), [AREA_FIRE], in_area=frozenset({5}))] == ["area-fire"]


def test_jurisdiction_names_match_with_or_without_the_english_gloss() -> None:
    named = plan(8, "jinjiang", kind="local", subtypes=frozenset({"building_fire"}), jurisdictions=("锦江区",))
    places = jurisdiction_names(["锦江区 (Jinjiang)", "Jinjiang District", "成都市"])
    matched = rank(fire(), [named], places=places)
    assert [m.plan_id for m in matched] == ["jinjiang"] and any("锦江区" in r for r in matched[0].reasons)
    assert rank(fire(), [named], places=jurisdiction_names(["武侯区 (Wuhou)"])) == []


def test_grades_below_the_floor_do_not_activate() -> None:
    serious_only = plan(9, "serious-only", subtypes=frozenset({"building_fire"}), min_level="II")
    assert rank(fire("III"), [serious_only]) == []
    assert [m.plan_id for m in rank(fire("II"), [serious_only])] == ["serious-only"]
    assert [m.level for m in rank(fire("I"), [serious_only])] == ["I"]


def test_an_ungraded_incident_matches_only_plans_that_start_at_iv() -> None:
    serious_only = plan(9, "serious-only", subtypes=frozenset({"building_fire"}), min_level="III")
    ranked = rank(fire(None), [NATIONAL_FIRE, serious_only])
    assert [m.plan_id for m in ranked] == ["national-fire"]
    assert ranked[0].level == "IV" and any("no grade yet" in r for r in ranked[0].reasons)


def test_one_off_time_window() -> None:
    festival = plan(
        10,
        "festival",
        kind="local",
        subtypes=frozenset({"building_fire"}),
        window=parse_window("2026-02-10", "2026-03-05"),
    )
    assert [m.plan_id for m in rank(fire(at=SPRING), [festival])] == ["festival"]
    assert rank(fire(at=SUMMER), [festival]) == []
    # The end date includes its whole day in the plan's zone (Asia/Shanghai), and not a minute more.
    assert rank(fire(at=datetime(2026, 3, 5, 15, 59, tzinfo=UTC)), [festival])
    assert not rank(fire(at=datetime(2026, 3, 5, 16, 0, tzinfo=UTC)), [festival])
    assert not rank(fire(at=datetime(2026, 2, 9, 15, 59, tzinfo=UTC)), [festival])


def test_yearly_window_including_one_that_wraps_past_new_year() -> None:
    flood_season = plan(
        11, "flood-season", subtypes=frozenset({"building_fire"}), window=parse_window("06-01", "09-30")
    )
    winter = plan(12, "winter", subtypes=frozenset({"building_fire"}), window=parse_window("12-01", "02-28"))
    assert [m.plan_id for m in rank(fire(at=SUMMER), [flood_season, winter])] == ["flood-season"]
    assert [m.plan_id for m in rank(fire(at=datetime(2026, 4, 15, tzinfo=UTC)), [flood_season, winter])] == []
    assert [m.plan_id for m in rank(fire(at=SPRING), [flood_season, winter])] == ["winter"]
    new_year = datetime(2027, 1, 2, tzinfo=UTC)
    assert [m.plan_id for m in rank(fire(at=new_year), [flood_season, winter])] == ["winter"]
    timed = rank(fire(at=SUMMER), [flood_season])[0]
    assert timed.score > rank(fire(at=SUMMER), [NATIONAL_FIRE])[0].score
    assert any("within every year 06-01" in r for r in timed.reasons)


def test_no_classification_matches_nothing() -> None:
    unknown = IncidentFacts(category=None, subtype=None, level="I", lon=104.0, lat=30.6, at=SPRING)
    assert rank(unknown, [CATEGORY_WIDE, NATIONAL_FIRE]) == []
