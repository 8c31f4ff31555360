"""Grading rule sets as versioned data (DOMAIN.md section 2). ``incidents.grading`` evaluates them.

A rule set is a list of criteria ``level: fact >= min`` (inclusive: "N以上" includes N), OR-ed: the highest level any
criterion reaches wins. Facts are those of ``Facts`` plus three derived ones:
``deaths_and_missing`` (EQ-2012 counts the missing as dead), ``serious_or_poisoned`` (Decree 493's 重伤 includes acute
industrial poisoning, ENV-2014's "poisoned" includes the seriously injured; the two counts are added as distinct
people) and ``cases`` (the larger of ``affected`` and ``poisoned``, for outbreaks).
Tables marked ``configurable`` have no single statutory numeric source: they are policy and may be changed; bump
their version when you do, because every stored grade records the rule id and version that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from incidents import taxonomy as tx
from incidents.schemas import Level

LEVELS: Final[tuple[Level, ...]] = ("I", "II", "III", "IV")


@dataclass(frozen=True, slots=True)
class Criterion:
    """``level`` is reached when ``fact >= min`` and every ``also`` condition holds; a known ``unless_known`` fact
    disables it (EQ-2012 drops the magnitude estimate once deaths or missing are reported)."""

    level: Level
    fact: str
    min: float
    also: tuple[tuple[str, float], ...] = ()
    unless_known: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A versioned grading table. ``floor_facts`` are facts that, stated, establish at least level IV."""

    rule_id: str
    version: str
    title: str
    source: str
    criteria: tuple[Criterion, ...]
    floor_facts: tuple[str, ...] = ()
    configurable: bool = False


def ladder(fact: str, *mins: float | None, unless_known: tuple[str, ...] = ()) -> tuple[Criterion, ...]:
    """Criteria for one fact from the minimums of levels I, II, III, IV in order (``None``: no such level)."""
    return tuple(
        Criterion(level, fact, low, unless_known=unless_known)
        for level, low in zip(LEVELS, mins, strict=False)
        if low is not None
    )


_CONTEXT = (
    "deaths",
    "missing",
    "injuries",
    "serious_injuries",
    "poisoned",
    "affected",
    "evacuated",
    "economic_loss_cny",
)


def _floor(*used: str) -> tuple[str, ...]:
    return tuple(name for name in _CONTEXT if name not in used)


DECREE_493 = RuleSet(
    tx.DECREE_493,
    "2007",
    "Production-safety accidents (生产安全事故报告和调查处理条例)",
    "State Council Decree 493 (2007), art. 3",
    ladder("deaths", 30, 10, 3, 0)
    + ladder("serious_or_poisoned", 100, 50, 10, 0)
    + ladder("economic_loss_cny", 100_000_000, 50_000_000, 10_000_000, 0),
    _floor("deaths", "serious_injuries", "poisoned", "economic_loss_cny"),
)

EQ_2012 = RuleSet(
    tx.EQ_2012,
    "2012",
    "Earthquakes (国家地震应急预案)",
    "National earthquake emergency plan (2012), 1.3; magnitude only as the initial estimate (初判)",
    ladder("deaths_and_missing", 300, 50, 10, 0)
    + ladder("magnitude", 6.0, 5.0, 4.0, 0, unless_known=("deaths", "missing")),
    _floor("deaths", "missing"),
)

ENV_2014 = RuleSet(
    tx.ENV_2014,
    "2014",
    "Environmental emergencies (国家突发环境事件应急预案)",
    "National environmental emergency plan (2014), annex 1",
    ladder("deaths", 30, 10, 3, 0)
    + ladder("serious_or_poisoned", 100, 50, 10, 0)
    + ladder("evacuated", 50_000, 10_000, 5_000, 0)
    + ladder("economic_loss_cny", 100_000_000, 20_000_000, 5_000_000, 0),
    _floor("deaths", "serious_injuries", "poisoned", "evacuated", "economic_loss_cny"),
)

RELIEF_2016 = RuleSet(
    tx.RELIEF_2016,
    "2016",
    "Natural-disaster relief response (国家自然灾害救助应急预案), as a proxy for the event grade",
    "National natural disaster relief plan (2016), 5.1-5.4; below the level IV thresholds still IV",
    ladder("deaths", 200, 100, 50, 0) + ladder("evacuated", 2_000_000, 1_000_000, 500_000, 0),
    _floor("deaths", "evacuated"),
)

PH_FOOD = RuleSet(
    tx.PH_FOOD,
    "2006.1",
    "Food poisoning (policy after 国家突发公共卫生事件应急预案 2006)",
    "II: >100 poisoned with a death, or >=10 deaths; III: >100 poisoned or a death; IV: 30-99 without deaths",
    (
        Criterion("II", "poisoned", 101, also=(("deaths", 1),)),
        *ladder("deaths", None, 10, 1, 0),
        *ladder("poisoned", None, None, 101, 0),
    ),
    _floor("deaths", "poisoned"),
    configurable=True,
)

PH_OCCUPATIONAL = RuleSet(
    tx.PH_OCCUPATIONAL,
    "2006.1",
    "Acute occupational poisoning (policy after 国家突发公共卫生事件应急预案 2006)",
    "II: >=50 poisoned or >=5 deaths; III: 10-49 poisoned or 1-4 deaths; IV: <=9 poisoned without deaths",
    ladder("poisoned", None, 50, 10, 0) + ladder("deaths", None, 5, 1, 0),
    _floor("deaths", "poisoned"),
    configurable=True,
)

PH_INFECTIOUS = RuleSet(
    tx.PH_INFECTIOUS,
    "2024.1",
    "Infectious disease outbreaks (configurable policy; level I is qualitative and left to the commander)",
    "Provincial plans differ; deaths and cases (affected) thresholds chosen here",
    ladder("deaths", None, 10, 1, 0) + ladder("cases", None, 500, 50, 0),
    _floor("deaths"),
    configurable=True,
)

PH_GENERAL = RuleSet(
    tx.PH_GENERAL,
    "2024.1",
    "Other public health events: unexplained illness, animal epidemics (configurable policy)",
    "Provincial plans differ; deaths and cases (affected or poisoned) thresholds chosen here",
    ladder("deaths", None, 10, 1, 0) + ladder("cases", None, 100, 30, 0),
    _floor("deaths"),
    configurable=True,
)

SOCIAL_POLICY = RuleSet(
    tx.SOCIAL_POLICY,
    "2024.1",
    "Social security events (configurable policy; no statutory numeric grading, commander may override)",
    "deaths, injuries, participants (affected) and loss thresholds chosen here",
    ladder("deaths", 10, 3, 1, 0)
    + ladder("injuries", 50, 10, 3, 0)
    + ladder("affected", 5_000, 1_000, 100, 0)
    + ladder("economic_loss_cny", 100_000_000, 50_000_000, 10_000_000, 0),
    _floor("deaths", "injuries", "affected", "economic_loss_cny"),
    configurable=True,
)

NUCLEAR_POLICY = RuleSet(
    tx.NUCLEAR_POLICY,
    "2005.1",
    "Nuclear and radiation accidents (configurable policy)",
    "After 放射性同位素与射线装置安全和防护条例 (2005) art. 40: >=3 acute deaths I, 1-2 II or >=10 serious II, "
    "1-9 serious III; evacuation thresholds as ENV-2014",
    ladder("deaths", 3, 1, None, 0)
    + ladder("serious_or_poisoned", None, 10, 1, 0)
    + ladder("evacuated", 50_000, 10_000, 5_000, 0),
    _floor("deaths", "serious_injuries", "poisoned", "evacuated"),
    configurable=True,
)

RULE_SETS: Final = MappingProxyType(
    {
        r.rule_id: r
        for r in (
            DECREE_493,
            EQ_2012,
            ENV_2014,
            RELIEF_2016,
            PH_FOOD,
            PH_OCCUPATIONAL,
            PH_INFECTIOUS,
            PH_GENERAL,
            SOCIAL_POLICY,
            NUCLEAR_POLICY,
        )
    }
)
