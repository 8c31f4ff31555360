"""The classifier, extractor and grader against the labelled corpus (tests/incidents/corpus.jsonl).

Accuracy is printed (run with ``-s`` to see it); the floors sit just under the measured scores (392 reports: category
100%, subtype 99.7% with one miss), so one new miss fails the test and is looked at. Every report tagged with a trap of
DOMAIN.md section 1 must be classified exactly.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from incidents.intake import classify_report
from incidents.reader import classify, extract_facts
from incidents.taxonomy import SUBTYPES, category_of

CORPUS = [json.loads(line) for line in (Path(__file__).parent / "corpus.jsonl").read_text("utf-8").splitlines() if line]
TRAPS = [row for row in CORPUS if row.get("trap")]
WITH_FACTS = [row for row in CORPUS if "facts" in row]
WITH_GRADE = [row for row in CORPUS if "grade" in row]
# Just under the measured scores; a corpus line added later moves them, so measure again and set them again.
CATEGORY_MIN = 0.998  # measured 392/392: one category miss (391/392 = 99.74%) fails
SUBTYPE_MIN = 0.995  # measured 391/392 = 99.74%: a second miss (390/392 = 99.49%) fails


def _short(row: dict[str, Any]) -> str:
    return row["text"][:40]


def test_corpus_is_broad_and_well_formed() -> None:
    langs = Counter(row["lang"] for row in CORPUS)
    assert len(CORPUS) >= 260 and langs["zh"] >= 100 and langs["en"] >= 100
    assert {row["category"] for row in CORPUS} >= {
        "natural_disaster",
        "accident_disaster",
        "public_health",
        "social_security",
        None,
    }
    assert len({row["subtype"] for row in CORPUS if row["subtype"]}) >= 35
    for row in CORPUS:
        assert row["subtype"] is None or row["subtype"] in SUBTYPES
        assert row["category"] == (category_of(row["subtype"]) if row["subtype"] else None)


def test_accuracy_on_the_corpus() -> None:
    results = [(row, classify(row["text"])) for row in CORPUS]
    category = sum(found.category == row["category"] for row, found in results) / len(results)
    subtype = sum(found.subtype == row["subtype"] for row, found in results) / len(results)
    print(f"\ncorpus: {len(results)} reports, category accuracy {category:.1%}, subtype accuracy {subtype:.1%}")
    for row, found in results:
        if found.subtype != row["subtype"]:
            print(f"  expected {row['subtype']}, got {found.subtype} ({found.confidence}): {row['text'][:80]}")
    assert category >= CATEGORY_MIN
    assert subtype >= SUBTYPE_MIN


@pytest.mark.parametrize("row", TRAPS, ids=[f"{row['trap']}:{_short(row)}" for row in TRAPS])
def test_every_trap(row: dict[str, Any]) -> None:
    found = classify(row["text"])
    assert (found.category, found.subtype) == (row["category"], row["subtype"]), found.matched


@pytest.mark.parametrize("row", WITH_FACTS, ids=[_short(row) for row in WITH_FACTS])
def test_expected_facts_are_extracted(row: dict[str, Any]) -> None:
    facts, _ = extract_facts(row["text"])
    got = facts.model_dump()
    for name, value in row["facts"].items():
        if name == "lower_bounds":
            assert sorted(got["lower_bounds"]) == sorted(value)
        else:
            assert got[name] == value, name


@pytest.mark.parametrize("row", WITH_GRADE, ids=[_short(row) for row in WITH_GRADE])
def test_expected_grade(row: dict[str, Any]) -> None:
    result = classify_report(row["text"], category=row["category"], subtype=row["subtype"])
    assert result.grade.level == row["grade"], [b.text for b in result.grade.basis]


def test_confidence_and_matched_are_consistent() -> None:
    for row in CORPUS:
        found = classify(row["text"])
        if found.subtype is None:
            assert (found.category, found.confidence, found.matched) == (None, 0.0, [])
        else:
            assert 0.0 < found.confidence <= 1.0 and found.matched
            assert category_of(found.subtype) == found.category


def test_clear_reports_are_more_confident_than_thin_ones() -> None:
    thin = classify("Caller reports smoke.")
    rich = classify("居民楼发生火灾，大火从3楼窜出，浓烟滚滚，消防员正在灭火，多人被困。")
    assert rich.subtype == "building_fire" and rich.confidence > max(thin.confidence, 0.6)


def test_negation_and_hedges_lower_confidence() -> None:
    plain = classify("Rioters clashed with police in the city centre.")
    rumour = classify("Unverified rumours say rioters clashed with police in the city centre.")
    assert plain.subtype == rumour.subtype == "mass_incident"
    assert rumour.confidence < plain.confidence
    assert classify("No fire was found; the alarm was false.").subtype is None
