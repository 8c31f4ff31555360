"""How place candidates are ranked: text match first, distance from ``near`` next, and near-duplicates dropped.
Pure: the SQL finds the candidates with their text score (0..1) and distance; this orders and cuts them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

# With ``near``, a candidate's score is TEXT_SHARE of its text score plus the rest of its nearness, which halves at
# HALF_M: an exact name 5 km away still beats a weak match next door, and of two equal matches the nearer wins.
TEXT_SHARE = 0.8
HALF_M = 2_000.0
# Two candidates of the same kind and name closer than this are one place to a dispatcher (the two bus stops of a
# station, one each side of the road; a street's pieces): only the better one is kept.
SAME_PLACE_M = 1_000.0


@dataclass(frozen=True)
class Candidate:
    name: str
    kind: str
    lon: float
    lat: float
    text_score: float
    distance_m: float | None = None
    type: str | None = None
    name_en: str | None = None
    resource_id: int | None = None
    score: float = 0.0


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres (a sphere is plenty to tell duplicates apart)."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(h)))


def scored(candidate: Candidate) -> Candidate:
    """The candidate with its final score: the text score, blended with nearness when a distance is known."""
    if candidate.distance_m is None:
        value = candidate.text_score
    else:
        value = TEXT_SHARE * candidate.text_score + (1 - TEXT_SHARE) / (1 + candidate.distance_m / HALF_M)
    return replace(candidate, score=round(value, 4))


def rank(candidates: Sequence[Candidate], *, limit: int) -> list[Candidate]:
    """The best ``limit`` candidates, best first (ties: nearer, then shorter name), without near-duplicates."""
    ordered = sorted(
        (scored(c) for c in candidates),
        key=lambda c: (-c.score, c.distance_m if c.distance_m is not None else 0.0, len(c.name), c.name),
    )
    kept: list[Candidate] = []
    for c in ordered:
        if any(k.kind == c.kind and k.name == c.name and metres((k.lon, k.lat), (c.lon, c.lat)) < SAME_PLACE_M
               for k in kept):  # fmt: skip
            continue
        kept.append(c)
        if len(kept) == limit:
            break
    return kept
