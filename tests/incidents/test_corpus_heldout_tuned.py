"""The classifier and extractor against corpus_heldout_tuned.jsonl: 240 reports that are corpus now, not a blind set.

Where it came from: the 240 reports imitate real sources (wire copy, police and fire notices, call-taker notes, weibo
posts, radio) and were labelled from DOMAIN.md alone; ``note`` explains the judgment calls. They were added as
"heldout_blind.jsonl" with lines 1-160 for tuning and lines 161-240 kept back, but the commit that added them also
added lexicon words found only in lines 161-240 (issue 26), so every line has been tuned on. Issue 26 reviewed those
words on their merits: the general ones stay (each with a corpus line of its own), the others went, and the lines
that needed them miss again. The blind set is tests/incidents/blind.jsonl (test_blind.py), which nobody tunes on.

A report may list ``alt_subtypes`` where DOMAIN.md itself allows two keys ("a gas explosion in a building →
``explosion`` or ``gas_leak``"); the strict score ignores them, the lenient one accepts them. ``facts`` are the figures
a reader would take from the text. Run with ``-s`` to see the misses.

Measured after issue 26's review: category 100.0%, subtype 98.75% strict (3 misses), 99.6% with alternatives. A tuned
set should score that high, so the floors sit just under those scores: one more miss is a regression to look at.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from incidents.intake import classify_report
from incidents.reader import extract_facts
from incidents.taxonomy import SUBTYPES, category_of

ROWS = [
    json.loads(line)
    for line in (Path(__file__).parent / "corpus_heldout_tuned.jsonl").read_text("utf-8").splitlines()
    if line
]
WITH_FACTS = [(i + 1, row) for i, row in enumerate(ROWS) if "facts" in row]

# Just under the measured scores (240 reports: each miss costs 0.42 points).
CATEGORY_MIN = 0.996  # measured 100% (240/240): one category miss fails
SUBTYPE_MIN = 0.985  # measured 98.75% (237/240): a fourth miss fails
LENIENT_MIN = 0.995  # measured 99.6% (239/240): a second miss fails


def _score(rows: list[dict[str, Any]], name: str) -> tuple[float, float, float]:
    results = [(row, classify_report(row["text"])) for row in rows]
    category = sum(found.category == row["category"] for row, found in results) / len(rows)
    strict = sum(found.subtype == row["subtype"] for row, found in results) / len(rows)
    lenient = sum(found.subtype in (row["subtype"], *row.get("alt_subtypes", ())) for row, found in results) / len(rows)
    scores = f"category {category:.1%}, subtype {strict:.1%} (with alternatives {lenient:.1%})"
    print(f"\n{name}: {len(rows)} reports, {scores}")
    for row, found in results:
        if found.subtype != row["subtype"]:
            print(f"  expected {row['subtype']}, got {found.subtype} ({found.confidence}): {row['text'][:90]}")
    return category, strict, lenient


def test_tuned_set_is_well_formed() -> None:
    assert len(ROWS) == 240
    assert len({row["subtype"] for row in ROWS if row["subtype"]}) >= 40
    assert sum(row["category"] is None for row in ROWS) >= 10
    for row in ROWS:
        assert row["lang"] in ("zh", "en", "mixed")
        assert row["subtype"] is None or row["subtype"] in SUBTYPES
        assert row["category"] == (category_of(row["subtype"]) if row["subtype"] else None)
        assert all(alt in SUBTYPES for alt in row.get("alt_subtypes", ()))


def test_accuracy_on_the_tuned_set() -> None:
    category, strict, lenient = _score(ROWS, "corpus_heldout_tuned (all tuned on)")
    assert category >= CATEGORY_MIN
    assert strict >= SUBTYPE_MIN
    assert lenient >= LENIENT_MIN


@pytest.mark.parametrize(("line", "row"), WITH_FACTS, ids=[f"line{i}" for i, _ in WITH_FACTS])
def test_tuned_set_facts(line: int, row: dict[str, Any]) -> None:
    got = extract_facts(row["text"])[0].model_dump()
    wrong = {name: (value, got[name]) for name, value in row["facts"].items() if got[name] != value}
    assert not wrong, f"line {line}: expected vs got {wrong}"
