"""The plan schema and the safe reader: every shipped plan validates; bad input is refused whole with a message
naming the field and, for YAML, the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import Invalid, TooLarge
from incidents.schemas import SUBTYPES
from plans.loading import parse_plan, read_plans
from plans.schemas import PlanDocument
from plans.vocabulary import LEVELS, RESOURCE_TYPES
from tests.plans.conftest import library

MINIMAL = """\
id: test-fire
name: {zh: 测试火灾预案, en: Test fire plan}
kind: local
agency: {zh: 测试机构, en: Test agency}
version: "1"
effective_from: 2026-01-01
triggers:
  subtypes: [building_fire]
  min_level: III
levels:
  I: &pkg
    resources: {fire_engine: 10}
    notify:
      - {agency: {zh: 消防支队, en: Fire detachment}, channel: radio}
    phases:
      - name: {zh: 处置, en: Response}
        tasks:
          - {task: {zh: 灭火, en: Put out the fire}, role: fire_rescue_lead, due_minutes: 10}
  II: *pkg
  III: *pkg
"""


def test_every_shipped_plan_loads_and_validates() -> None:
    plans = library()
    assert len(plans) >= 15
    ids = {d.id for _, d in plans}
    for wanted in (
        "cn-earthquake",
        "cn-flood-control",
        "cn-typhoon",
        "cn-geological-disaster",
        "cn-forest-fire",
        "cn-hazardous-chemicals",
        "cn-mine-accident",
        "cn-road-traffic",
        "cn-building-fire",
        "cn-power-outage",
        "cn-environmental-pollution",
        "cn-infectious-disease",
        "cn-food-poisoning",
        "cn-mass-incident",
        "cn-terrorist-attack",
    ):
        assert wanted in ids
    for path, document in plans:
        assert all(document.levels.get(level) is not None for level in LEVELS), path.name
        assert document.name.zh and document.name.en and document.agency.zh and document.agency.en
        for level in LEVELS:
            package = document.levels.get(level)
            assert package is not None and package.resources and package.notify and package.tasks(), (path, level)
            assert set(package.resources) <= RESOURCE_TYPES
        # A more severe level never asks for fewer tasks than a milder one.
        counts = [len(document.levels.get(level).tasks()) for level in LEVELS]  # type: ignore[union-attr]
        assert counts == sorted(counts, reverse=True), path.name
    hazchem = next(d for _, d in plans if d.id == "cn-hazardous-chemicals")
    assert {"hazardous_chemicals", "explosion", "gas_leak"} <= set(hazchem.triggers.subtypes)
    assert any(d.triggers.area and d.triggers.area.polygon for _, d in plans)
    assert any(d.triggers.area and d.triggers.area.jurisdictions for _, d in plans)
    assert any(d.triggers.time_window for _, d in plans)
    for _, document in plans:
        for subtype in document.triggers.subtypes:
            assert subtype in SUBTYPES


def test_a_minimal_plan_with_a_few_anchors_loads() -> None:
    document = parse_plan(MINIMAL, media="yaml")
    assert document.id == "test-fire" and document.levels.IV is None and document.version_number == 1_000_000
    as_json = json.dumps(document.model_dump(mode="json"))
    assert parse_plan(as_json, media="json") == document


def refused(text: str, media: str = "yaml") -> Invalid:
    with pytest.raises(Invalid) as caught:
        parse_plan(text, media=media)  # type: ignore[arg-type]
    return caught.value


def problem(error: Invalid) -> dict[str, object]:
    problems = error.extra.get("problems") or [
        {"field": error.field, "message": error.detail, "line": error.extra.get("line")}
    ]
    return dict(problems[0])


@pytest.mark.parametrize(
    ("old", "new", "field", "line", "words"),
    [
        (
            "subtypes: [building_fire]",
            "subtypes: [building_fire, alien_landing]",
            "triggers.subtypes[1]",
            8,
            "unknown subtype 'alien_landing'",
        ),
        (
            "  subtypes: [building_fire]",
            "  categories: [alien_invasion]",
            "triggers.categories[0]",
            8,
            "unknown category 'alien_invasion'",
        ),
        (
            "{fire_engine: 10}",
            "{fire_engine: 10, tank: 2}",
            "levels.I.resources.tank",
            12,
            "unknown resource type 'tank'",
        ),
        ("{fire_engine: 10}", "{fire_engine: -4}", "levels.I.resources.fire_engine", 12, "at least 1, got -4"),
        ("min_level: III", "min_level: V", "triggers.min_level", 9, "'I', 'II', 'III' or 'IV'"),
        ("  III: *pkg", "  III: *pkg\n  V: *pkg", "levels.V", 21, "'V' is not a response level"),
        (
            "due_minutes: 10",
            "due_minutes: -5",
            "levels.I.phases[0].tasks[0].due_minutes",
            18,
            "cannot be due before activation",
        ),
        ("role: fire_rescue_lead", "role: janitor", "levels.I.phases[0].tasks[0].role", 18, "unknown role 'janitor'"),
        ("  III: *pkg\n", "", "levels", 10, "missing level(s) III"),
        ('version: "1"', 'version: "one"', "version", 5, "version must look like"),
        ("kind: local", "kind: galactic", "kind", 3, "'special', 'departmental' or 'local'"),
        ("kind: local", "kind: local\nkind: special", "body", 4, "duplicate key 'kind'"),
        ("triggers:", "triggers: [", "body", None, "YAML error at line"),
    ],
    ids=[
        "subtype",
        "category",
        "resource-type",
        "negative-count",
        "level-V-floor",
        "level-V",
        "due-before-activation",
        "role",
        "missing-level",
        "version",
        "kind",
        "duplicate-key",
        "syntax",
    ],
)
def test_bad_plans_are_refused_naming_field_and_line(
    old: str, new: str, field: str, line: int | None, words: str
) -> None:
    assert old in MINIMAL
    error = refused(MINIMAL.replace(old, new, 1))
    found = problem(error)
    assert found["field"] == field, error.detail
    assert words in str(found["message"]) or words in error.detail, error.detail
    if line is not None:
        assert found["line"] == line, error.detail
        assert f"line {line}" in error.detail
    assert error.detail.startswith(("the plan is not valid", "YAML error"))


def test_polygon_that_does_not_close_is_refused() -> None:
    area = """
  area:
    polygon:
      type: Polygon
      coordinates: [[[104.0, 30.6], [104.1, 30.6], [104.1, 30.7], [104.0, 30.7]]]
"""
    error = refused(MINIMAL.replace("  min_level: III\n", "  min_level: III" + area))
    assert problem(error)["field"] == "triggers.area.polygon"
    assert "does not close" in error.detail and "line 11" in error.detail
    bowtie = area.replace("[104.0, 30.7]]]", "[104.0, 30.7], [104.1, 30.6]]]").replace(
        "[104.1, 30.6], [104.1, 30.7], [104.0, 30.7], [104.1, 30.6]",
        "[104.1, 30.7], [104.1, 30.6], [104.0, 30.7], [104.0, 30.6]",
    )
    assert "not valid" in refused(MINIMAL.replace("  min_level: III\n", "  min_level: III" + bowtie)).detail
    swapped = area.replace("[104.0, 30.6]", "[30.6, 104.0]")
    assert "swapped" in refused(MINIMAL.replace("  min_level: III\n", "  min_level: III" + swapped)).detail


def test_json_errors_name_the_field() -> None:
    data = PlanDocument.model_validate(parse_plan(MINIMAL, media="yaml").model_dump()).model_dump(mode="json")
    data["levels"]["I"]["resources"] = {"boat": 0}
    error = refused(json.dumps(data), media="json")
    assert problem(error)["field"] == "levels.I.resources.boat" and "at least 1" in error.detail
    assert "JSON error at line 1" in refused('{"id": ', media="json").detail
    assert "duplicate key 'id'" in refused('{"id": "a", "id": "b"}', media="json").detail


def test_yaml_bombs_are_refused() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
    for depth in range(1, 9):
        refs = ", ".join([f"*{chr(96 + depth)}"] * 9)
        bomb += f"{chr(97 + depth)}: &{chr(97 + depth)} [{refs}]\n"
    error = refused(bomb)
    assert "YAML bomb" in error.detail and error.field == "body"
    with pytest.raises(Invalid, match="nested too deeply|YAML error"):
        parse_plan("[" * 100_000, media="yaml")


def test_oversized_documents_are_refused() -> None:
    big = MINIMAL + "#" + "x" * (1024 * 1024) + "\n"
    with pytest.raises(TooLarge, match="at most 1,048,576"):
        parse_plan(big, media="yaml")
    with pytest.raises(TooLarge):
        parse_plan(b"{" + b" " * (10 * 1024 * 1024) + b"}", media="json")


def test_not_a_mapping_and_not_utf8() -> None:
    assert "must be a mapping" in refused("- just\n- a list\n").detail
    assert "must be a mapping" in refused("").detail
    with pytest.raises(Invalid, match="not UTF-8"):
        parse_plan(b"id: \xff\xfe", media="yaml")


def test_duplicate_ids_with_the_same_version_are_refused_as_a_set(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(MINIMAL, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(MINIMAL.replace("测试火灾预案", "另一个"), encoding="utf-8")
    with pytest.raises(Invalid) as caught:
        read_plans(tmp_path)
    assert "b.yaml repeats id 'test-fire' version 1 of a.yaml" in caught.value.detail
    (tmp_path / "b.yaml").write_text(MINIMAL.replace('version: "1"', 'version: "2"'), encoding="utf-8")
    assert [d.version for _, d in read_plans(tmp_path)] == ["1", "2"]
    (tmp_path / "c.yaml").write_text(MINIMAL.replace("fire_engine: 10", "fire_engine: -1"), encoding="utf-8")
    with pytest.raises(Invalid, match="c.yaml: the plan is not valid"):
        read_plans(tmp_path)
