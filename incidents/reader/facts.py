"""Extract the facts grading needs (deaths, injuries, evacuated, loss, magnitude...) from a report's text.

Rules a reader of the result should know:
- The largest figure stated for a fact wins: a running total ("死亡人数上升至12人") beats an earlier figure, and a
  subset ("其中2人重伤", "of whom 3 died") is smaller than its total, so it never displaces it. Trapped is not dead.
- ``injuries`` is the total injured and includes the seriously injured: when a report gives only serious and minor
  counts (2人重伤、3人轻伤) their sum is the total; when it gives only serious ones, injuries equals that count.
- "No casualties" (无人员伤亡, "no one was hurt") sets deaths and injuries to 0; "no deaths" sets deaths only. A stated
  figure beats a stated zero.
- Approximate words: 余/多/逾/超过/以上/至少, "at least", "more than", "over", "dozens" make the figure a floor and name
  the fact in ``lower_bounds``; 近, 约, "about", "nearly" keep the figure without marking it.
- Money counts only in CNY (元, 人民币, RMB, CNY, yuan); dollar or other currencies are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from incidents.reader import fact_patterns as fp
from incidents.reader.cues import background_spans
from incidents.reader.numbers import parse_en, parse_zh, whole
from incidents.reader.termindex import normalize
from incidents.schemas import MAX_COUNT, MAX_MONEY, Facts

_CJK = re.compile(r"[\u4e00-\u9fff]")
_REAL = ("economic_loss_cny", "magnitude")
_LOWER_SUFFIX = re.compile(r"\s*(?:人|名|位|例)?\s*以上")


@dataclass(frozen=True, slots=True)
class _Figure:
    value: float
    lower: bool
    snippet: str


def _parse(raw: str) -> tuple[float, bool] | None:
    raw = raw.strip()
    if raw.startswith(("a ", "an ", "the ")):
        return (2.0 if raw.endswith("couple") else 1.0), False
    return parse_zh(raw) if _CJK.search(raw) or raw[-1:] in "余多" else parse_en(raw) or parse_zh(raw)


def _figures(text: str, patterns: tuple[re.Pattern[str], ...], past: list[tuple[int, int]]) -> list[_Figure]:
    found: list[_Figure] = []
    for pattern in patterns:
        for match in pattern.finditer(text):
            if _in(match.start(), past):
                continue
            parsed = _parse(match.group("n"))
            if parsed is None or not 0 <= parsed[0] <= MAX_COUNT:
                continue
            lower = parsed[1] or bool(_LOWER_SUFFIX.match(text, match.end("n")))
            found.append(_Figure(parsed[0], lower, match.group().strip()))
    return found


def _in(position: int, spans: list[tuple[int, int]]) -> bool:
    return any(a <= position < b for a, b in spans)


def _largest(figures: list[_Figure]) -> _Figure | None:
    return max(figures, key=lambda f: (f.value, f.lower)) if figures else None


def _money(text: str, past: list[tuple[int, int]]) -> list[_Figure]:
    found: list[_Figure] = []
    for match in fp.ZH_LOSS.finditer(text):
        if _in(match.start(), past):
            continue
        parsed = parse_zh(match.group("n"))
        if parsed is not None:
            found.append(_Figure(parsed[0], parsed[1], match.group()))
    for match in fp.EN_LOSS.finditer(text):
        if _in(match.start(), past):
            continue
        amount, scale = (
            (match.group("a"), match.group("s")) if match.group("a") else (match.group("b"), match.group("t"))
        )
        factor = {"million": 1e6, "mn": 1e6, "billion": 1e9, "bn": 1e9}.get(scale or "", 1)
        before = text[max(0, match.start() - 40) : match.start()]
        found.append(
            _Figure(float(amount.replace(",", "")) * factor, "more than" in before or "over" in before, match.group())
        )
    return [f for f in found if f.value <= MAX_MONEY]


def _magnitude(text: str, past: list[tuple[int, int]]) -> list[_Figure]:
    found = []
    for pattern in fp.MAGNITUDE:
        for match in pattern.finditer(text):
            if _in(match.start(), past):
                continue
            value = float(match.group("m"))
            if 0 < value <= 10:
                found.append(_Figure(value, False, match.group()))
    return found


def extract_facts(text: str) -> tuple[Facts, list[str]]:
    """The facts stated in a report and the text snippets (normalised: NFKC, lower case) they were read from."""
    folded = normalize(text)
    chosen: dict[str, _Figure] = {}
    snippets: list[str] = []
    # Figures in a background sentence ("the 2008 quake, killing nearly 90,000 people") belong to another event.
    past = background_spans(folded)
    groups = {name: _figures(folded, patterns, past) for name, patterns in fp.PATTERNS.items()}
    if fp.POISON_CONTEXT.search(folded):
        groups["poisoned"] += _figures(folded, (fp.HOSPITALISED,), past)
    else:
        groups["injuries"] += _figures(folded, (fp.HOSPITALISED,), past)
    groups["economic_loss_cny"] = _money(folded, past)
    groups["magnitude"] = _magnitude(folded, past)
    for name, figures in groups.items():
        best = _largest(figures)
        if best is not None:
            chosen[name] = best
            snippets.extend(dict.fromkeys(f.snippet for f in figures))
    _total_injuries(chosen)
    _stated_zeros(folded, chosen, snippets)
    chosen.pop("minor", None)
    if "serious" in chosen:
        chosen["serious_injuries"] = chosen.pop("serious")
    # Counts are whole people; "2.5万人" is already 25000, so rounding only guards odd input.
    # Money is kept to the fen: 149.2亿 computed in floating point is 14919999999.999998.
    values = {name: round(f.value, 2) if name in _REAL else round(f.value) for name, f in chosen.items()}
    values = {name: whole(v) for name, v in values.items()}
    lower = [name for name, f in chosen.items() if f.lower]
    return Facts.model_validate({**values, "lower_bounds": lower}), snippets


def _total_injuries(chosen: dict[str, _Figure]) -> None:
    # Injuries are the total; serious (and minor) counts are parts of it.
    parts = [chosen[k] for k in ("serious", "minor") if k in chosen]
    if not parts:
        return
    total = _Figure(sum(p.value for p in parts), any(p.lower for p in parts), "")
    stated = chosen.get("injuries")
    if stated is None or stated.value < total.value:
        chosen["injuries"] = total


def _stated_zeros(folded: str, chosen: dict[str, _Figure], snippets: list[str]) -> None:
    for pattern, names in ((fp.ZERO_BOTH, ("deaths", "injuries")), (fp.ZERO_DEATHS, ("deaths",))):
        match = pattern.search(folded)
        if match:
            snippets.append(match.group())
            for name in names:
                chosen.setdefault(name, _Figure(0, False, match.group()))
