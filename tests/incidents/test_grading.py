"""Grading by rule set: every edge value of DOMAIN.md section 2, OR-ed criteria, nulls and stated zeros."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import Invalid
from incidents.grading import grade
from incidents.intake import classify_report
from incidents.rules import RULE_SETS
from incidents.schemas import Facts
from incidents.taxonomy import CATEGORIES, SUBTYPES, category_of, is_valid, rule_set_for


def level(category: str, subtype: str, **facts: Any) -> str | None:
    return grade(category, subtype, Facts(**facts)).level


ACC = ("accident_disaster", "building_fire")


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"deaths": 2}, "IV"),
        ({"deaths": 3}, "III"),
        ({"deaths": 9}, "III"),
        ({"deaths": 10}, "II"),
        ({"deaths": 29}, "II"),
        ({"deaths": 30}, "I"),
        ({"serious_injuries": 9}, "IV"),
        ({"serious_injuries": 10}, "III"),
        ({"serious_injuries": 49}, "III"),
        ({"serious_injuries": 50}, "II"),
        ({"serious_injuries": 99}, "II"),
        ({"serious_injuries": 100}, "I"),
        ({"economic_loss_cny": 9_999_999}, "IV"),
        ({"economic_loss_cny": 10_000_000}, "III"),
        ({"economic_loss_cny": 49_999_999}, "III"),
        ({"economic_loss_cny": 50_000_000}, "II"),
        ({"economic_loss_cny": 100_000_000}, "I"),
        ({"poisoned": 10}, "III"),
        ({"poisoned": 6, "serious_injuries": 4}, "III"),
        ({"injuries": 500}, "IV"),
    ],
)
def test_decree_493_edges(facts: dict[str, Any], expected: str) -> None:
    result = grade(*ACC, Facts(**facts))
    assert (result.level, result.rule_id, result.rule_version) == (expected, "CN-Decree493-2007", "2007")


def test_highest_criterion_wins_and_basis_names_it() -> None:
    result = grade(*ACC, Facts(deaths=3, serious_injuries=55, economic_loss_cny=2_000_000))
    assert result.level == "II"
    top = result.basis[0]
    assert (top.fact, top.value, top.level, top.criterion) == (
        "serious_or_poisoned",
        55,
        "II",
        "serious_or_poisoned >= 50",
    )
    assert {b.fact: b.level for b in result.basis} == {
        "serious_or_poisoned": "II",
        "deaths": "III",
        "economic_loss_cny": "IV",
    }
    assert all(b.text.endswith(".") and "CN-Decree493-2007" in b.text for b in result.basis)


def test_no_fact_is_null_with_the_rule_that_would_apply() -> None:
    result = grade(*ACC, Facts())
    assert (result.level, result.rule_id, result.basis) == (None, "CN-Decree493-2007", [])
    assert grade(None, None, Facts(deaths=40)).level is None


def test_stated_no_casualties_is_iv() -> None:
    result = classify_report("仓库起火，明火已扑灭，无人员伤亡。")
    assert result.subtype == "building_fire" and result.grade.level == "IV"
    assert result.facts.deaths == 0 and result.fact_sources["deaths"] == "extracted"


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"magnitude": 6.0}, "I"),
        ({"magnitude": 5.9}, "II"),
        ({"magnitude": 5.0}, "II"),
        ({"magnitude": 4.9}, "III"),
        ({"magnitude": 4.0}, "III"),
        ({"magnitude": 3.9}, "IV"),
        ({"magnitude": 7.5, "deaths": 3}, "IV"),
        ({"magnitude": 4.2, "deaths": 60}, "II"),
        ({"magnitude": 7.0, "missing": 12}, "III"),
        ({"magnitude": 7.0, "deaths": 0}, "IV"),
        ({"deaths": 9}, "IV"),
        ({"deaths": 9, "missing": 1}, "III"),
        ({"deaths": 49}, "III"),
        ({"deaths": 50}, "II"),
        ({"deaths": 299}, "II"),
        ({"deaths": 250, "missing": 50}, "I"),
    ],
)
def test_earthquake_estimate_gives_way_to_casualties(facts: dict[str, Any], expected: str) -> None:
    result = grade("natural_disaster", "earthquake", Facts(**facts))
    assert (result.level, result.rule_id) == (expected, "CN-EQ-2012")
    if "deaths" in facts or "missing" in facts:
        assert all(b.fact != "magnitude" for b in result.basis)


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"deaths": 2}, "IV"),
        ({"deaths": 3}, "III"),
        ({"deaths": 10}, "II"),
        ({"deaths": 30}, "I"),
        ({"poisoned": 9}, "IV"),
        ({"poisoned": 10}, "III"),
        ({"poisoned": 50}, "II"),
        ({"poisoned": 100}, "I"),
        ({"serious_injuries": 60, "poisoned": 40}, "I"),
        ({"evacuated": 4_999}, "IV"),
        ({"evacuated": 5_000}, "III"),
        ({"evacuated": 9_999}, "III"),
        ({"evacuated": 10_000}, "II"),
        ({"evacuated": 50_000}, "I"),
        ({"economic_loss_cny": 4_999_999}, "IV"),
        ({"economic_loss_cny": 5_000_000}, "III"),
        ({"economic_loss_cny": 20_000_000}, "II"),
        ({"economic_loss_cny": 100_000_000}, "I"),
    ],
)
def test_env_2014_edges(facts: dict[str, Any], expected: str) -> None:
    result = grade("accident_disaster", "environmental_pollution", Facts(**facts))
    assert (result.level, result.rule_id) == (expected, "CN-ENV-2014")


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"deaths": 0}, "IV"),
        ({"deaths": 19}, "IV"),
        ({"deaths": 20}, "IV"),
        ({"deaths": 49}, "IV"),
        ({"deaths": 50}, "III"),
        ({"deaths": 99}, "III"),
        ({"deaths": 100}, "II"),
        ({"deaths": 199}, "II"),
        ({"deaths": 200}, "I"),
        ({"evacuated": 99_999}, "IV"),
        ({"evacuated": 499_999}, "IV"),
        ({"evacuated": 500_000}, "III"),
        ({"evacuated": 1_000_000}, "II"),
        ({"evacuated": 1_999_999}, "II"),
        ({"evacuated": 2_000_000}, "I"),
        ({"affected": 3_000_000}, "IV"),
    ],
)
def test_relief_2016_edges(facts: dict[str, Any], expected: str) -> None:
    result = grade("natural_disaster", "flood", Facts(**facts))
    assert (result.level, result.rule_id) == (expected, "CN-Relief-2016")


@pytest.mark.parametrize(
    ("subtype", "facts", "expected", "rule_id"),
    [
        ("food_poisoning", {"poisoned": 29}, "IV", "CN-PH-FoodPoisoning-policy"),
        ("food_poisoning", {"poisoned": 99}, "IV", "CN-PH-FoodPoisoning-policy"),
        ("food_poisoning", {"poisoned": 101}, "III", "CN-PH-FoodPoisoning-policy"),
        ("food_poisoning", {"poisoned": 40, "deaths": 1}, "III", "CN-PH-FoodPoisoning-policy"),
        ("food_poisoning", {"poisoned": 101, "deaths": 1}, "II", "CN-PH-FoodPoisoning-policy"),
        ("food_poisoning", {"deaths": 10}, "II", "CN-PH-FoodPoisoning-policy"),
        ("occupational_poisoning", {"poisoned": 9}, "IV", "CN-PH-Occupational-policy"),
        ("occupational_poisoning", {"poisoned": 10}, "III", "CN-PH-Occupational-policy"),
        ("occupational_poisoning", {"poisoned": 50}, "II", "CN-PH-Occupational-policy"),
        ("occupational_poisoning", {"deaths": 4}, "III", "CN-PH-Occupational-policy"),
        ("occupational_poisoning", {"deaths": 5}, "II", "CN-PH-Occupational-policy"),
        ("infectious_disease", {"affected": 49}, "IV", "CN-PH-Infectious-policy"),
        ("infectious_disease", {"affected": 50}, "III", "CN-PH-Infectious-policy"),
        ("infectious_disease", {"affected": 500}, "II", "CN-PH-Infectious-policy"),
        ("animal_epidemic", {"affected": 30}, "III", "CN-PH-General-policy"),
    ],
)
def test_public_health_tables(subtype: str, facts: dict[str, Any], expected: str, rule_id: str) -> None:
    result = grade("public_health", subtype, Facts(**facts))
    assert (result.level, result.rule_id) == (expected, rule_id)
    assert RULE_SETS[rule_id].configurable


@pytest.mark.parametrize(
    ("subtype", "facts", "expected", "rule_id"),
    [
        ("terrorist_attack", {"deaths": 1}, "III", "CN-SocialSecurity-policy"),
        ("major_crime", {"deaths": 3}, "II", "CN-SocialSecurity-policy"),
        ("mass_incident", {"affected": 5000}, "I", "CN-SocialSecurity-policy"),
        ("nuclear_radiation", {"deaths": 3}, "I", "CN-Radiation-policy"),
        ("nuclear_radiation", {"serious_injuries": 1}, "III", "CN-Radiation-policy"),
    ],
)
def test_configurable_tables(subtype: str, facts: dict[str, Any], expected: str, rule_id: str) -> None:
    result = grade(category_of(subtype), subtype, Facts(**facts))
    assert (result.level, result.rule_id) == (expected, rule_id)


def test_every_subtype_has_a_rule_set() -> None:
    expected = {
        "earthquake": "CN-EQ-2012",
        "environmental_pollution": "CN-ENV-2014",
        "nuclear_radiation": "CN-Radiation-policy",
        "flood": "CN-Relief-2016",
        "forest_fire": "CN-Relief-2016",
        "mine": "CN-Decree493-2007",
        "gas_leak": "CN-Decree493-2007",
        "food_poisoning": "CN-PH-FoodPoisoning-policy",
    }
    for key, sub in SUBTYPES.items():
        assert rule_set_for(sub.category, key) in RULE_SETS
        if key in expected:
            assert rule_set_for(sub.category, key) == expected[key]
    assert len(CATEGORIES) == 4 and len(SUBTYPES) == 48


def test_taxonomy_helpers() -> None:
    assert category_of("forest_fire") == "natural_disaster" and category_of("building_fire") == "accident_disaster"
    assert category_of("food_poisoning") == "public_health" and category_of("terrorist_attack") == "social_security"
    assert category_of("volcano_on_mars") is None
    assert is_valid("public_health", "food_poisoning") and is_valid("public_health", None)
    assert not is_valid("public_health", "building_fire") and not is_valid("alien_invasion", None)
    assert SUBTYPES["rainstorm"].gbt_codes == ("11B03",) and SUBTYPES["mine"].gbt_codes == ()


def test_given_facts_win_field_by_field() -> None:
    result = classify_report("居民楼火灾造成3人死亡，5人受伤。", Facts(deaths=12, lower_bounds=["deaths"]))
    assert (result.facts.deaths, result.facts.injuries) == (12, 5)
    assert result.fact_sources == {"deaths": "given", "injuries": "extracted"}
    assert result.facts.lower_bounds == ["deaths"] and result.grade.level == "II"


def test_forced_classification_is_validated() -> None:
    forced = classify_report("something happened", category="public_health", subtype="food_poisoning")
    assert (forced.category, forced.subtype, forced.confidence) == ("public_health", "food_poisoning", 1.0)
    assert classify_report("x", subtype="mine").category == "accident_disaster"
    for kwargs, field in (
        ({"category": "alien_invasion"}, "category"),
        ({"subtype": "volcano_on_mars"}, "subtype"),
        ({"category": "public_health", "subtype": "building_fire"}, "subtype"),
    ):
        with pytest.raises(Invalid) as caught:
            classify_report("fire", **kwargs)
        assert caught.value.field == field
