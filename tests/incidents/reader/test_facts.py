"""Fact extraction: numerals, units, approximations, the figure that matters, and numbers that are not facts."""

from __future__ import annotations

from typing import Any

import pytest

from incidents.reader import extract_facts
from incidents.reader.numbers import parse_en, parse_zh


def facts(text: str) -> dict[str, Any]:
    return extract_facts(text)[0].model_dump(exclude_none=True, exclude_defaults=True)


@pytest.mark.parametrize(
    ("raw", "value", "lower"),
    [
        ("三", 3, False),
        ("十二", 12, False),
        ("两", 2, False),
        ("二十", 20, False),
        ("一百零五", 105, False),
        ("两万三千", 23000, False),
        ("2.5万", 25000, False),
        ("1.2万余", 12000, True),
        ("40余", 40, True),
        ("100多", 100, True),
        ("十余", 10, True),
        ("数十", 20, True),
        ("近百", 100, False),
        ("逾千", 1000, True),
        ("1.5亿", 150_000_000, False),
        ("800万", 8_000_000, False),
    ],
)
def test_chinese_numbers(raw: str, value: float, lower: bool) -> None:
    assert parse_zh(raw) == (value, lower)


@pytest.mark.parametrize(
    ("raw", "value", "lower"),
    [
        ("12", 12, False),
        ("10,000", 10000, False),
        ("three", 3, False),
        ("twenty-five", 25, False),
        ("at least 5", 5, True),
        ("more than 100", 100, True),
        ("over 30", 30, True),
        ("nearly 40", 40, False),
        ("1.5 million", 1_500_000, False),
        ("dozens", 24, True),
        ("a dozen", 12, False),
        ("one hundred and two", 102, False),
    ],
)
def test_english_numbers(raw: str, value: float, lower: bool) -> None:
    assert parse_en(raw) == (value, lower)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("事故造成三人死亡", {"deaths": 3}),
        ("十二名游客遇难", {"deaths": 12}),
        ("两人受伤", {"injuries": 2}),
        ("受灾人口2.5万人", {"affected": 25000}),
        ("紧急转移安置1.2万余人", {"evacuated": 12000, "lower_bounds": ["evacuated"]}),
        ("直接经济损失800万元", {"economic_loss_cny": 8_000_000}),
        ("直接经济损失1.5亿元", {"economic_loss_cny": 150_000_000}),
        ("40余人受伤", {"injuries": 40, "lower_bounds": ["injuries"]}),
        ("发生5.8级地震", {"magnitude": 5.8}),
        ("M6.1", {"magnitude": 6.1}),
        ("里氏6.1级", {"magnitude": 6.1}),
        ("12 killed in the blast", {"deaths": 12}),
        ("at least 5 dead", {"deaths": 5, "lower_bounds": ["deaths"]}),
        ("the crash, killing three", {"deaths": 3}),
        ("two people died", {"deaths": 2}),
        ("injuring 30", {"injuries": 30}),
        ("5 seriously injured", {"serious_injuries": 5, "injuries": 5}),
        ("10,000 evacuated", {"evacuated": 10000}),
        ("a magnitude 6.1 quake", {"magnitude": 6.1}),
        ("a 6.1-magnitude quake", {"magnitude": 6.1}),
        ("3人中毒", {"poisoned": 3}),
        ("5人失踪", {"missing": 5}),
        ("12 people are missing", {"missing": 12}),
        ("losses of 20 million yuan", {"economic_loss_cny": 20_000_000}),
        ("losses of RMB 3.5 billion", {"economic_loss_cny": 3_500_000_000}),
        ("30人以上死亡", {"deaths": 30, "lower_bounds": ["deaths"]}),
        ("more than 100 people were evacuated", {"evacuated": 100, "lower_bounds": ["evacuated"]}),
        ("dozens were injured", {"injuries": 24, "lower_bounds": ["injuries"]}),
        ("近百人受灾", {"affected": 100}),
    ],
)
def test_forms(text: str, expected: dict[str, Any]) -> None:
    assert facts(text) == expected


@pytest.mark.parametrize(
    "text",
    ["damage estimated at $3 million", "损失约300万美元", "losses of US$5 million", "经济损失约200万港元"],
)
def test_foreign_currency_is_not_cny(text: str) -> None:
    assert "economic_loss_cny" not in facts(text)


@pytest.mark.parametrize(
    "text", ["无人员伤亡", "未造成人员伤亡", "no casualties were reported", "no injuries", "no one was hurt"]
)
def test_no_casualties_is_zero(text: str) -> None:
    assert facts(text) == {"deaths": 0, "injuries": 0}


def test_no_deaths_only_zeroes_deaths_and_a_figure_beats_a_zero() -> None:
    assert facts("no one was killed but 5 were injured") == {"deaths": 0, "injuries": 5}
    assert facts("无人死亡，3人受伤") == {"deaths": 0, "injuries": 3}


def test_the_figure_that_matters() -> None:
    assert facts("5名工人被困，其中2人已遇难") == {"deaths": 2}
    assert facts("此前报告8人死亡，死亡人数上升至12人") == {"deaths": 12}
    assert facts("The death toll rose to 45 from 30 killed on Monday") == {"deaths": 45}
    assert facts("12人受伤，其中3人重伤") == {"injuries": 12, "serious_injuries": 3}
    assert facts("20 injured, 4 of them critically") == {"injuries": 20, "serious_injuries": 4}


def test_serious_injuries_are_part_of_injuries() -> None:
    assert facts("2人重伤、3人轻伤") == {"injuries": 5, "serious_injuries": 2}
    assert facts("10人重伤") == {"injuries": 10, "serious_injuries": 10}
    assert facts("3 people in critical condition") == {"injuries": 3, "serious_injuries": 3}


@pytest.mark.parametrize(
    "text",
    [
        "2024年3月5日14时30分，3号楼发生火情",
        "65岁男子",
        "A 65-year-old man was found",
        "No. 5 Road, 3rd floor",
        "call 13800138000 or 120",
        "Route 66, exit 12",
        "8级大风",
        "3 trapped on the 5th floor",
    ],
)
def test_numbers_that_are_not_facts(text: str) -> None:
    assert facts(text) == {}


def test_snippets_name_the_source() -> None:
    found, snippets = extract_facts("事故造成3人死亡，5人受伤。")
    assert found.deaths == 3 and any("3人死亡" in s for s in snippets)
