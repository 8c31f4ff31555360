"""How a name is folded into search terms, and how a query is read: pure functions, no database.

A name and a query are folded the same way (``fold``): NFKC, traditional characters to simplified, lower case, the
common English street words to their pinyin (``Road`` → ``lu``, so ``Chunxi Road`` meets ``chunxilu``), and no
spaces or punctuation. A Chinese name also gives its pinyin, full (``chunxilu``) and initials (``cxl``). A numbered
or directional section (红星路四段, 春熙路东段, "Hongxing Lu 4th Section") also gives the street's own name, so the
street finds its sections.

pypinyin (and its dictionaries, several MB) and zhconv load on first use only: a web worker that never searches a
place never imports them (tests/test_lean_worker.py).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# How much a kind of term is worth when it matches: the name as written beats its street (the name without its
# section), which beats pinyin, which beats initials (three letters say little).
NAME, STREET, PINYIN, INITIALS = 1.0, 0.95, 0.9, 0.8
# A term longer than this is cut: no name is longer, and a long query must not cost more than a short one.
TERM_MAX = 64

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HAN_RUN = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)")
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)
_SECTION_ZH = re.compile(r"(?:[一二三四五六七八九十]+|\d+)段$|[东西南北中]段$")
_SECTION_EN = re.compile(
    r"\s*(?:\b(?:\d+(?:st|nd|rd|th)|first|second|third|fourth|fifth|east|west|south|north|middle)\s+section"
    r"|\bsection\s+\d+|\b(?:east|west|south|north|middle)|\bsec\.?\s*\d+)\s*$",
    re.IGNORECASE,
)
# English street words and their pinyin, so an English name and a pinyin query meet (whole words only).
_ENGLISH_WORDS = {
    "road": "lu", "rd": "lu", "street": "jie", "st": "jie", "avenue": "dadao", "ave": "dadao", "lane": "xiang",
    "alley": "xiang", "bridge": "qiao", "square": "guangchang",
}  # fmt: skip
_WORD = re.compile(r"[a-z]+")


@functools.cache
def _simplified() -> Any:
    import zhconv  # traditional → simplified tables: loaded by the first search or import, not by every worker

    return zhconv


@functools.cache
def _pinyin() -> Any:
    import pypinyin  # several MB of dictionaries: loaded by the first search or import, not by every worker

    return pypinyin


def has_han(text: str) -> bool:
    return _HAN.search(text) is not None


def simplified(text: str) -> str:
    """Traditional characters as simplified (總府路 → 总府路); other text unchanged."""
    return str(_simplified().convert(text, "zh-hans")) if has_han(text) else text


def fold(text: str) -> str:
    """The form names and queries are compared in: simplified, lower case, English street words as pinyin, no
    spaces or punctuation, at most TERM_MAX characters."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = simplified(text)
    text = _WORD.sub(lambda m: _ENGLISH_WORDS.get(m.group(0), m.group(0)), text)
    return _NOT_WORD.sub("", text)[:TERM_MAX]


def street_of(name: str) -> str | None:
    """The street a section belongs to (红星路四段 → 红星路, "Hongxing Lu 4th Section" → "Hongxing Lu"), or None."""
    name = unicodedata.normalize("NFKC", name).strip()
    for pattern in (_SECTION_ZH, _SECTION_EN):
        base = pattern.sub("", name).strip()
        if base != name and len(fold(base)) >= 2:
            return base
    return None


@functools.lru_cache(maxsize=4096)
def pinyin_of(text: str) -> tuple[str, str] | None:
    """A Chinese name's pinyin, full and initials (春熙路 → ("chunxilu", "cxl")); None for a name without Han.
    Letters and digits in the name are kept as they are in both. Cached: an extract repeats its names (a street's
    name on each way, a name in ``name`` and ``name:zh``), and this is most of an import's time."""
    text = simplified(unicodedata.normalize("NFKC", text))
    if not has_han(text):
        return None
    pinyin = _pinyin()
    full, initials = [], []
    for run in _HAN_RUN.split(text):
        if has_han(run):  # one call a run of characters: a word's reading depends on its neighbours (重庆)
            syllables = pinyin.lazy_pinyin(run, style=pinyin.Style.NORMAL)
            full += syllables
            initials += [s[:1] for s in syllables]
        else:
            full.append(run)
            initials.append(run)
    return fold("".join(full)), fold("".join(initials))


def terms_of(names: list[str]) -> dict[str, float]:
    """Every search term a place's names give, each with its worth (the best when two names give the same)."""
    found: dict[str, float] = {}

    def add(term: str, worth: float) -> None:
        if term and found.get(term, 0.0) < worth:
            found[term] = worth

    for name in names:
        add(fold(name), NAME)
        street = street_of(name)
        if street is not None:
            add(fold(street), STREET)
        for written, worth in ((name, 1.0), (street, STREET)):
            if written is None:
                continue
            spoken = pinyin_of(written)
            if spoken is not None:
                add(spoken[0], PINYIN * worth)
                add(spoken[1], INITIALS * worth)
    return found


# ------------------------------------------------------------------------------------------------------- crossings
# Where at the crossing, as a caller says it after the crossing's name: 北侧, 东南角, 附近, 往北50米 (the search
# answers the crossing; the officer keeps the words in the address as typed).
_AT_THE_CROSSING = (
    r"(?:(?:往|向)?[东南西北]{1,2}(?:侧|角|面|边|方向|方)?(?:约?\d+(?:\.\d+)?\s*(?:米|m|公里|km))?"
    r"|附近|旁边?|处|一带|周边)"
)
_CROSSING_END = re.compile(rf"(?:的)?(?:交叉路口|十字路口|交叉口|交界处|路口|交口|口){_AT_THE_CROSSING}?$")
# Separators that never occur inside a street's name; 和, 跟 and 同 do (人和街), so they count only before 路口.
_ALWAYS = re.compile(r"\s*(?:与|/|／|&|＆|×|\band\b|\bat\b)\s*", re.IGNORECASE)
_WITH_END = re.compile(r"\s*[和跟同及]\s*")


@dataclass(frozen=True)
class Crossing:
    """A query read as the crossing of two streets, each already folded."""

    first: str
    second: str

    def __iter__(self) -> Iterator[str]:
        return iter((self.first, self.second))


def crossing_of(query: str) -> Crossing | None:
    """``A与B交叉口`` (also ``…交叉口北侧``, ``…路口附近``), ``A和B路口``, ``A/B``, ``A & B``, ``A and B`` → the two
    streets; None for anything else."""
    text = unicodedata.normalize("NFKC", query).strip()
    ended = _CROSSING_END.search(text) is not None
    body = _CROSSING_END.sub("", text).strip()
    parts = _ALWAYS.split(body)
    if len(parts) != 2 and ended:
        parts = _WITH_END.split(body)
    if len(parts) != 2:
        return None
    first, second = fold(parts[0]), fold(parts[1])
    if len(first) < 2 or len(second) < 2:
        return None
    return Crossing(first, second)
