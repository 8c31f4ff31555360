"""The example plan of docs/plans.md is a valid plan: the page a plan writer copies from stays true."""

from __future__ import annotations

import re
from pathlib import Path

from plans.service import parse_plan

DOC = Path(__file__).resolve().parents[2] / "docs" / "plans.md"


def test_the_documented_example_plan_validates() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1, "docs/plans.md shows one example plan"
    plan = parse_plan(blocks[0], media="yaml")
    assert plan.id == "cd-jinjiang-gas-leak" and plan.triggers.min_level == "III"
    assert [level for level in ("I", "II", "III", "IV") if plan.levels.get(level)] == ["I", "II", "III"]
    first = plan.levels.get("I")
    assert first is not None
    tasks = [t for phase in first.phases for t in phase.tasks]
    assert len(tasks) == 6 and {t.role for t in tasks} >= {"utility_lead", "shelter_lead"}
