"""The text reader: what a report (Chinese, English or both) says happened, and the figures it states.

This module is the reader's only door. Everything else in the sub-package (the classifier and its trap rules, the
lexicons and cues, the term index, the fact patterns, the number parsers) is private to it: tests/test_layering.py
fails the build when code outside the reader imports one of them. The reader is pure: no database, no I/O, no state
besides its compiled lexicons; it speaks the taxonomy's keys and the shapes of ``incidents.schemas``.

Loaded on first use: compiling the lexicon index and the fact patterns costs about 120 ms at import
(``python -X importtime``), over 200 ms in a process whose heap is already large, such as a web worker. A process that
never reads a report (the scheduler, the CLI, a worker serving only maps) should not pay that. The first call imports
the compiled modules, and Python's module cache turns every later call into a plain call.
"""

from __future__ import annotations

from incidents.schemas import Classification, Facts

__all__ = ["classify", "extract_facts"]


def classify(text: str) -> Classification:
    """Category, subtype, confidence and the deciding terms of a report.

    Deterministic and explainable: every point of the score comes from a matched term, every transfer between
    subtypes from a named trap rule of DOMAIN.md section 1. A text with no recognisable event gives category and
    subtype ``None``, confidence 0 and no matched terms.
    """
    from incidents.reader.classifier import classify as _classify  # heavy: see the module docstring

    return _classify(text)


def extract_facts(text: str) -> tuple[Facts, list[str]]:
    """The facts grading needs (deaths, injuries, evacuated, loss, magnitude...) stated in a report, and the text
    snippets (normalised: NFKC, lower case) they were read from.

    The largest figure stated for a fact wins; "at least" figures are named in ``Facts.lower_bounds``; money counts
    only in CNY. ``incidents.reader.facts`` has the full rules.
    """
    from incidents.reader.facts import extract_facts as _extract  # heavy: see the module docstring

    return _extract(text)
