"""Read the numbers of reports: Arabic, Chinese (十二, 两千三百, 2.5万, 1.2万余), English words (twenty-five, dozens).

Each parser returns ``(value, lower_bound)`` where ``lower_bound`` says the text gave a floor (余, 多, 逾, 以上,
"at least", "more than", "over", "dozens"). 近, 约, "nearly", "about" give the number as stated, not a floor.
"""

from __future__ import annotations

import re
from typing import Final

ZH_DIGITS: Final = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
ZH_UNITS: Final = {"十": 10, "百": 100, "千": 1000}
ZH_BIG: Final = {"万": 10_000, "亿": 100_000_000}

# Vague quantities read as their floor: "数十人" is at least twenty, "dozens" at least two dozen.
ZH_VAGUE: Final = {
    "数十": 20,
    "几十": 20,
    "数百": 200,
    "几百": 200,
    "上百": 100,
    "数千": 2000,
    "几千": 2000,
    "上千": 1000,
    "数万": 20_000,
    "几万": 20_000,
    "上万": 10_000,
    "十几": 10,
    "十多": 10,
}
EN_VAGUE: Final = {
    "dozens": 24,
    "scores": 40,
    "hundreds": 200,
    "thousands": 2000,
    "tens of thousands": 20_000,
    "hundreds of thousands": 200_000,
    "millions": 2_000_000,
}

# Regex pieces shared with the fact patterns.
ZH_NUMERAL: Final = "零〇一二两三四五六七八九十百千万亿"
ZH_NUMBER: Final = (
    r"(?:(?:逾|超过|超|至少|不少于|不下|约|近|大约|共|达|多达)?"
    # The lookbehind lets a number start only where a run of digits starts, and the bounded repeats keep a scan over
    # "1111…" or "一二三…" linear: an unanchored \d+ would be retried at every position of the run.
    r"(?<![\d.零〇一二两三四五六七八九十百千万亿])"
    r"(?:数十|几十|数百|几百|上百|数千|几千|上千|数万|几万|上万|十几|"
    r"\d{1,12}(?:,\d{3}){0,4}(?:\.\d{1,6})?[十百千]?"
    r"|[零〇一二两三四五六七八九十百千]{1,12}(?:[万亿][零〇一二两三四五六七八九十百千]{1,8})?)"
    r"(?:余|多|几)?[万亿]?(?:余|多)?)"
)
_EN_WORD = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen"
    r"|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|a dozen"
)
EN_WORDS: Final = {w: i + 1 for i, w in enumerate(_EN_WORD.split("|")[:19])}
EN_WORDS.update(
    {
        w: (i + 2) * 10
        for i, w in enumerate(("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"))
    }
)
EN_NUMBER: Final = (
    r"(?:(?:at least|more than|over|nearly|almost|about|around|some|approximately|roughly|an estimated|upwards of"
    r"|in excess of|up to|as many as)\s+)?"
    r"(?<![\d.,])(?:\d{1,3}(?:,\d{3}){1,4}|\d{1,12}(?:\.\d{1,6})?)(?![\d])(?:\s*(?:million|thousand|billion|mn|bn)(?![a-z]))?\+?"
    r"|(?:(?:at least|more than|over|nearly|almost|about|around|some|an estimated|as many as)\s+)?"
    r"(?<![a-z])(?:(?:" + _EN_WORD + r")(?:[\s-]+(?:and\s+)?(?:" + _EN_WORD + r")){0,4})(?![a-z])"
    r"|(?:tens of thousands|hundreds of thousands|dozens|scores|hundreds|thousands|millions)"
)
_EN_LOWER = re.compile(r"^(?:at least|more than|over|upwards of|in excess of)\s|\+$")
_ZH_LOWER_PREFIX = ("逾", "超过", "超", "至少", "不少于", "不下")
_ZH_APPROX_PREFIX = ("约", "近", "大约", "共", "达", "多达")


def _zh_integer(chars: str) -> float:
    """Value of a run of Chinese numerals and Arabic numbers mixed: 十二, 一百零五, 两万三千, 2.5万, 3千."""
    total = section = 0.0
    number = 0.0
    for token in re.findall(r"\d+(?:\.\d+)?|.", chars):
        if token[0].isdecimal():  # not isdigit(): '²' is a digit that float() refuses
            number = float(token)
        elif token in ZH_DIGITS:
            number = ZH_DIGITS[token]
        elif token in ZH_UNITS:
            section += (number or 1) * ZH_UNITS[token]
            number = 0
        elif token in ZH_BIG:
            total = (total + section + number) * ZH_BIG[token]
            section = number = 0
    return total + section + number


def parse_zh(raw: str) -> tuple[float, bool] | None:
    """A Chinese count or amount: ``"1.2万余"`` → (12000, True); ``"十二"`` → (12, False); ``"近百"`` is not a floor."""
    text = raw.replace(",", "")
    lower = False
    for prefix in (*_ZH_LOWER_PREFIX, *_ZH_APPROX_PREFIX):
        if text.startswith(prefix):
            lower = prefix in _ZH_LOWER_PREFIX
            text = text[len(prefix) :]
            break
    for vague, floor in ZH_VAGUE.items():
        if text.startswith(vague):
            rest = text[len(vague) :].strip("余多")
            return floor * (ZH_BIG.get(rest, 1)), True
    if any(mark in text for mark in "余多几"):
        lower = True
        text = text.replace("余", "").replace("多", "").replace("几", "")
    if not text or not re.search(r"[\d" + ZH_NUMERAL + "]", text):
        return None
    value = _zh_integer(text)
    return value, lower


def parse_en(raw: str) -> tuple[float, bool] | None:
    """An English count or amount: ``"at least 5"``, ``"10,000"``, ``"twenty-five"``, ``"1.5 million"``, "dozens"."""
    text = raw.strip().lower()
    lower = bool(_EN_LOWER.search(text))
    text = re.sub(
        r"^(?:at least|more than|over|nearly|almost|about|around|some|approximately|roughly|an estimated|upwards of"
        r"|in excess of|up to|as many as)\s+",
        "",
        text,
    ).rstrip("+")
    if text in EN_VAGUE:
        return float(EN_VAGUE[text]), True
    match = re.fullmatch(r"(\d[\d,]*(?:\.\d+)?)\s*(million|thousand|billion|mn|bn)?", text)
    if match:
        scale = {"million": 1e6, "mn": 1e6, "thousand": 1e3, "billion": 1e9, "bn": 1e9}.get(match.group(2) or "", 1)
        return float(match.group(1).replace(",", "")) * scale, lower
    return _en_words(text, lower)


def _en_words(text: str, lower: bool) -> tuple[float, bool] | None:
    total = current = 0.0
    seen = False
    for word in re.split(r"[\s-]+", text.replace("a dozen", "twelve")):
        if word == "and":
            continue
        if word in EN_WORDS:
            current += EN_WORDS[word]
        elif word == "hundred":
            current = (current or 1) * 100
        elif word in ("thousand", "million"):
            total += (current or 1) * (1000 if word == "thousand" else 1_000_000)
            current = 0
        else:
            return None
        seen = True
    return (total + current, lower) if seen else None


def whole(value: float) -> int | float:
    """An integral float as ``int`` (counts and round sums of money), others unchanged."""
    return int(value) if float(value).is_integer() else value
