"""What a warning's event is in our vocabulary: category and subtype (DOMAIN.md section 1), from the codes it
carries, the words of its event name, the text classifier, or its CAP category alone. The tables are data
(``warning_events.yaml``; China's codes: notify's ``gbt35965_events.yaml``)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from incidents.intake import classify_report
from incidents.taxonomy import SUBTYPES
from notify.service import CHINA_EVENT_CODE, CapAlert, CapInfo, china_event

TABLE_PATH = Path(__file__).with_name("warning_events.yaml")
_GBT_CODE = re.compile(r"^\d{2}[A-Z]\d{2}$")
MIN_CONFIDENCE = 0.5


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    with TABLE_PATH.open(encoding="utf-8") as f:
        data: dict[str, Any] = yaml.safe_load(f)
    data["patterns"] = [
        (re.compile(rf"\b{re.escape(w)}\b" if len(w) <= 4 else rf"\b{re.escape(w)}", re.IGNORECASE), s)
        if w.isascii()
        else (re.compile(re.escape(w)), s)
        for w, s in data["words"]
    ]
    return data


def _of_subtype(subtype: str | None) -> tuple[str | None, str | None]:
    if subtype is None or subtype not in SUBTYPES:
        return None, None
    return SUBTYPES[subtype].category, subtype


def _from_codes(info: CapInfo) -> tuple[str | None, str | None]:
    table = _table()
    for name, value in info.event_codes:
        code = value.strip()
        if name == CHINA_EVENT_CODE or _GBT_CODE.match(code):
            subtype, category, _, _ = china_event(code)
            if subtype or category:
                return (category, None) if subtype is None else _of_subtype(subtype)
        if name.upper() == "SAME" and code.upper() in table["same"]:
            return _of_subtype(table["same"][code.upper()])
    return None, None


def _from_words(text: str) -> tuple[str | None, str | None]:
    for pattern, subtype in _table()["patterns"]:
        if pattern.search(text):
            return _of_subtype(subtype)
    return None, None


def primary(alert: CapAlert) -> CapInfo | None:
    """The info block shown first: Chinese, then English, then the first."""
    for prefix in ("zh", "en"):
        for info in alert.infos:
            if info.language.lower().startswith(prefix):
                return info
    return alert.infos[0] if alert.infos else None


def classify_event(alert: CapAlert) -> tuple[str | None, str | None]:
    """(category, subtype) of the warning; either may be None when nothing says."""
    for info in alert.infos:
        found = _from_codes(info)
        if found[0]:
            return found
    for info in alert.infos:
        found = _from_words(info.event)
        if found[1]:
            return found
    main = primary(alert)
    if main is not None:
        result = classify_report(". ".join(t for t in (main.event, main.headline) if t))
        if result.subtype and result.confidence >= MIN_CONFIDENCE:
            return result.category, result.subtype
    for info in alert.infos:
        for category in info.categories:
            ours = _table()["cap_categories"].get(category)
            if ours:
                return ours, None
    return None, None
