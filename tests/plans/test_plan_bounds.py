"""A plan document's bounds: dates a plan can have, text PostgreSQL can store (a YAML body bypasses the JSON door),
and lists of a sane length; each refused by name, never a 500."""

from __future__ import annotations

import httpx
import pytest

from core.errors import Invalid
from plans.loading import parse_plan
from tests.conftest import TokenFor
from tests.plans.test_validation import MINIMAL

PHASE = (
    "      - name: {zh: 阶段%d, en: Phase}\n"
    "        tasks: [{task: {zh: 任务%d, en: Task}, role: fire_rescue_lead, due_minutes: 5}]\n"
)
WINDOW = "  min_level: III\n  time_window: {start: '2026-01-28', end: '%s'}\n"


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("effective_from: 2026-01-01", "effective_from: 0001-01-01", "effective_from"),
        ("effective_from: 2026-01-01", "effective_from: 9999-12-31", "effective_from"),
        ("  min_level: III\n", WINDOW % "9999-12-31", "window must lie between"),  # the day after overflowed: a 500
        ("  min_level: III\n", WINDOW % "2101-01-01", "window must lie between"),
        ("{zh: 测试火灾预案, en: Test fire plan}", '{zh: "测试\\0预案", en: Test fire plan}', "NUL"),
        ("{zh: 测试火灾预案, en: Test fire plan}", '{zh: "测试\\uD800", en: Test fire plan}', "surrogate"),
        ("    phases:\n", "    phases:\n" + "".join(PHASE % (n, n) for n in range(60)), "at most 50"),
    ],
    ids=["year-1", "year-9999", "window-overflow", "window-2101", "nul", "lone-surrogate", "sixty-phases"],
)
def test_a_plan_out_of_bounds_is_refused_by_name(old: str, new: str, words: str) -> None:
    assert old in MINIMAL
    with pytest.raises(Invalid) as caught:
        parse_plan(MINIMAL.replace(old, new, 1), media="yaml")
    assert words in caught.value.detail, caught.value.detail


async def test_a_yaml_plan_with_a_nul_is_422_over_http(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    commander = await token_for("commander")
    body = MINIMAL.replace("{zh: 测试火灾预案, en: Test fire plan}", '{zh: "测试\\0预案", en: Test}').encode()
    response = await client.post(
        "/api/v1/plans", content=body, headers={**commander, "Content-Type": "application/yaml"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid"
