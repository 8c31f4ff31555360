"""Classify, extract and grade one report: the pure core behind ``POST /api/v1/classify`` and incident intake."""

from __future__ import annotations

from incidents.grading import grade
from incidents.reader import classify, extract_facts
from incidents.schemas import FACT_FIELDS, Classification, ClassifyResult, Facts, FactSource
from incidents.taxonomy import category_of, check_keys


def merge_facts(given: Facts | None, extracted: Facts) -> tuple[Facts, dict[str, FactSource]]:
    """Given facts win over extracted ones field by field; say where each stated fact came from.

    A fact's "at least" mark follows the value that won.
    """
    values: dict[str, object] = {}
    sources: dict[str, FactSource] = {}
    lower: list[str] = []
    for name in FACT_FIELDS:
        source: FactSource
        if given is not None and getattr(given, name) is not None:
            winner, source = given, "given"
        elif getattr(extracted, name) is not None:
            winner, source = extracted, "extracted"
        else:
            continue
        values[name] = getattr(winner, name)
        sources[name] = source
        if name in winner.lower_bounds:
            lower.append(name)
    return Facts.model_validate({**values, "lower_bounds": lower}), sources


def forced_classification(category: str | None, subtype: str | None) -> Classification:
    """A caller's category/subtype, checked against the taxonomy; raises ``Invalid`` naming the bad field."""
    check_keys(category=category, subtype=subtype)
    owner = category_of(subtype) if subtype is not None else None
    return Classification(category=category or owner, subtype=subtype, confidence=1.0, matched=[])


def classify_report(
    text: str, given: Facts | None = None, *, category: str | None = None, subtype: str | None = None
) -> ClassifyResult:
    """Classify a report, extract its facts, merge the caller's facts over them and grade the event.

    ``category``/``subtype``, when given, replace the classifier (confidence 1.0, no matched terms) after being
    validated against the taxonomy; ``core.errors.Invalid`` names the field of an unknown or mismatched key.
    """
    forced = category is not None or subtype is not None
    found = forced_classification(category, subtype) if forced else classify(text)
    extracted, _ = extract_facts(text)
    facts, sources = merge_facts(given, extracted)
    return ClassifyResult(
        category=found.category,
        subtype=found.subtype,
        confidence=found.confidence,
        matched=found.matched,
        facts=facts,
        fact_sources=sources,
        grade=grade(found.category, found.subtype, facts),
    )
