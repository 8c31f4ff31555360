"""Arbitrary text never breaks intake; the request schema refuses empty text naming the field."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from incidents.intake import classify_report
from incidents.schemas import MAX_TEXT, ClassifyRequest, ClassifyResult, Facts

_REPORTISH = st.sampled_from(
    ["火灾", "死亡", "3人", "1.2万余人", "余", "M6.", "killed", "at least", "元", "$", "亿", "级地震"]
)
TEXT = st.one_of(
    st.text(min_size=1),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=2000),
    st.lists(st.one_of(_REPORTISH, st.text(max_size=5), st.integers(0, 10**25).map(str)), min_size=1).map("".join),
    st.text(alphabet="0123456789.,万亿余多人名死亡受伤 ", min_size=1, max_size=300),
)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_never_raises_and_is_valid(text: str) -> None:
    result = classify_report(text)
    assert isinstance(result, ClassifyResult)
    ClassifyResult.model_validate(result.model_dump())
    assert 0.0 <= result.confidence <= 1.0
    assert (result.subtype is None) == (result.category is None)
    if result.subtype is None:
        assert result.confidence == 0.0 and result.matched == []


def test_very_long_text() -> None:
    text = "🔥\x00\u200b仓库起火 fire " * 2000
    assert len(text) > MAX_TEXT
    assert classify_report(text).subtype == "building_fire"


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_text_is_refused_on_its_field(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ClassifyRequest(text=text)
    assert caught.value.errors()[0]["loc"] == ("text",)


def test_request_limits_and_facts_validation() -> None:
    assert ClassifyRequest(text="  fire  ").text == "fire"
    with pytest.raises(ValidationError) as too_long:
        ClassifyRequest(text="x" * (MAX_TEXT + 1))
    assert too_long.value.errors()[0]["loc"] == ("text",)
    for bad in (
        {"deaths": -1},
        {"injuries": 2.5},
        {"magnitude": 11},
        {"economic_loss_cny": float("inf")},
        {"deaths": float("nan")},
        {"deaths": True},
        {"lower_bounds": ["height"]},
        {"speed": 3},
    ):
        with pytest.raises(ValidationError) as caught:
            Facts.model_validate(bad)
        assert caught.value.errors()[0]["loc"][0] == next(iter(bad))
    assert Facts.model_validate({"deaths": 3.0}).deaths == 3


@pytest.mark.parametrize(
    "text",
    ["1" * MAX_TEXT, "one two three " * 1400, "一二三" * 6000, "1," * 9999, "余多" * 9999, "3人死亡," * 3000],
    ids=["digits", "number-words", "zh-numerals", "commas", "approximations", "repeated-facts"],
)
def test_pathological_long_input_is_handled(text: str) -> None:
    # A regex retried at every position of a long run would take minutes here (the suite's timeout catches it).
    result = classify_report(text[:MAX_TEXT])
    assert isinstance(result, ClassifyResult)
