"""Find weighted lexicon terms in text in one regex pass (a trie compiled to a regular expression).

One alternation of ~1,500 literal terms would make the regex engine try every branch at every position; a trie
shares prefixes, so a scan costs roughly one step per character. English terms match whole words; Chinese ones
anywhere. At each position the longest term wins, so compounds consume their parts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import product

from incidents.reader.cues import EN_NEGATION, ZH_NEGATION
from incidents.reader.lexicon_hant import TO_SIMPLIFIED

_BRACES = re.compile(r"\{([^{}]*)\}")
_SPACES = re.compile(r"\s+")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})


@dataclass(frozen=True, slots=True)
class Hit:
    """One occurrence of a term: where, which term, what it is evidence for, and whether it was negated."""

    start: int
    term: str
    entries: tuple[tuple[str, float], ...]
    negated: bool


def normalize(text: str) -> str:
    """Fold the text for matching: NFKC (full-width digits and letters), traditional Chinese characters to simplified
    ones, lower case, straight quotes, single spaces. Every fold keeps the length, so positions stay comparable."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).translate(_QUOTES).translate(TO_SIMPLIFIED)).lower()


def expand(term: str) -> list[str]:
    """Expand ``{a,b}`` groups: ``collide{,s,d}`` → collide, collides, collided."""
    parts = _BRACES.split(term)
    # split() alternates literal text and group bodies: literals at even indexes, groups at odd ones.
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(combo) for combo in product(*choices)]


_Trie = dict[str, "_Trie"]


def _trie_regex(words: Iterable[str]) -> str:
    trie: _Trie = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: _Trie) -> str:
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        # A word ending here may also continue: the optional group is greedy, so the longer term is tried first.
        return f"(?:{body})?" if "" in node else body

    return build(trie)


class TermIndex:
    """Every term of some lexicons, compiled for one scan: ``find(text)`` yields the hits in order."""

    def __init__(self, lexicons: Iterable[Mapping[str, Mapping[float, str]]]) -> None:
        table: dict[str, list[tuple[str, float]]] = {}
        for lexicon in lexicons:
            for key, tiers in lexicon.items():
                for weight, terms in tiers.items():
                    for raw in terms.split("|"):
                        for term in expand(raw.strip().lower()):
                            if term:
                                table.setdefault(term, []).append((key, weight))
        self.entries = {term: tuple(found) for term, found in table.items()}
        ascii_terms = [t for t in self.entries if t.isascii()]
        other_terms = [t for t in self.entries if not t.isascii()]
        self._ascii = re.compile(r"(?<![a-z0-9])" + _trie_regex(ascii_terms) + r"(?![a-z0-9])")
        self._other = re.compile(_trie_regex(other_terms))

    def find(self, folded: str) -> list[Hit]:
        """Hits in ``folded`` (already passed through :func:`normalize`), sorted by position."""
        hits: list[Hit] = []
        for regex, negation, reach in ((self._other, ZH_NEGATION, 10), (self._ascii, EN_NEGATION, 40)):
            for match in regex.finditer(folded):
                start = match.start()
                negated = negation.search(folded[max(0, start - reach) : start]) is not None
                hits.append(Hit(start, match.group(), self.entries[match.group()], negated))
        hits.sort(key=lambda hit: hit.start)
        return hits
