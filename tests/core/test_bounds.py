"""core.bounds and core.clock's time types: what PostgreSQL can store, decided without a server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from core.bounds import JsonObject, ascii_whole_number, json_problem, text_problem
from core.clock import ObservedAt, ScenarioAt, utcnow


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ({"a": ["ok", "no\x00"]}, "body.a.1"),
        ({"a": {"b": "\ud800"}}, "body.a.b"),
        ({"k\x00": 1}, "body"),
        ({"n": 2**63}, "body.n"),
        ({"n": -(2**63) - 1}, "body.n"),
        ({"n": float("nan")}, "body.n"),
        ({"n": float("inf")}, "body.n"),
        (json.loads("[" * 40 + "]" * 40), "body" + ".0" * 32),
    ],
)
def test_json_problem_names_the_first_unstorable_value(document: Any, where: str) -> None:
    problem = json_problem(document)
    assert problem is not None and problem[0] == where, problem


def test_json_problem_passes_what_postgresql_stores() -> None:
    document = {"text": "火灾 🔥 \u0007", "n": 2**63 - 1, "m": -(2**63), "x": 1.5, "ok": True, "none": None, "l": [[]]}
    assert json_problem(document) is None
    assert text_problem("🔥") is None
    # JSON's "\ud83d\udd25" decodes to the one character above; Python can also hold the two halves apart.
    assert json.loads('"\\ud83d\\udd25"') == "🔥"
    assert text_problem("\ud83d\udd25") is not None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("42", 42),
        ("9223372036854775807", 2**63 - 1),
        ("9223372036854775808", None),
        ("²", None),
        ("١٢", None),
        ("-1", None),
        (" 1", None),
        ("", None),
        ("9" * 5000, None),
    ],
)
def test_ascii_whole_number(text: str, value: int | None) -> None:
    assert ascii_whole_number(text) == value


class _Times(BaseModel):
    seen: ObservedAt | None = None
    imagined: ScenarioAt | None = None


@pytest.mark.parametrize(
    "raw",
    [
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "1999-12-31T23:59:59+00:00",
        "2026-01-01T00:00:00",
        "2026-01-01",
        "20260101T000000Z",
        1767225600,
        True,
    ],
)
def test_an_observed_time_is_rfc3339_with_a_zone_within_its_window(raw: Any) -> None:
    with pytest.raises(ValidationError):
        _Times(seen=raw)


def test_observed_and_scenario_windows() -> None:
    now = utcnow()
    assert _Times(seen=(now + timedelta(hours=23)).isoformat()).seen is not None
    with pytest.raises(ValidationError):
        _Times(seen=(now + timedelta(days=2)).isoformat())
    assert _Times(seen="2000-01-01T00:00:00Z").seen == datetime(2000, 1, 1, tzinfo=UTC)
    assert _Times(seen=datetime(2020, 5, 1, tzinfo=UTC)).seen is not None  # from Python code
    with pytest.raises(ValidationError):
        _Times(seen=datetime(2020, 5, 1))  # naive
    assert _Times(imagined="2090-02-01T10:00:00+08:00").imagined is not None
    with pytest.raises(ValidationError):
        _Times(imagined="2100-01-01T00:00:00Z")


class _Row(BaseModel):
    properties: JsonObject


def test_a_json_object_is_bounded_in_size_and_depth() -> None:
    assert _Row(properties={"beds": 40, "note": "二楼"}).properties["beds"] == 40
    with pytest.raises(ValidationError, match="bytes"):
        _Row(properties={"note": "x" * 20_000})
    deep: dict[str, Any] = {}
    for _ in range(8):
        deep = {"v": deep}
    with pytest.raises(ValidationError, match="levels"):
        _Row(properties=deep)
    with pytest.raises(ValidationError, match="NUL"):
        _Row(properties={"note": "a\x00"})
