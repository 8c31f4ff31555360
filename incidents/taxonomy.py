"""The four categories of sudden public events (突发事件) and their subtypes, as data.

Keys are the API vocabulary of DOMAIN.md section 1. GB/T 35561-2017 codes are given only where real national warning
feeds were seen to carry them (the meteorological natural-disaster codes); every other code is left ``None`` rather
than invented.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from core.errors import Invalid


@dataclass(frozen=True, slots=True)
class Category:
    """One of the four top-level categories of the national overall emergency plan."""

    key: str
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class Subtype:
    """A subtype of a category; ``gbt_codes`` are GB/T 35561-2017 codes seen in real warning messages."""

    key: str
    category: str
    zh: str
    en: str
    gbt_codes: tuple[str, ...] = ()


NATURAL = "natural_disaster"
ACCIDENT = "accident_disaster"
HEALTH = "public_health"
SOCIAL = "social_security"

CATEGORIES: Final = MappingProxyType(
    {
        c.key: c
        for c in (
            Category(NATURAL, "自然灾害", "natural disaster"),
            Category(ACCIDENT, "事故灾难", "accident or disaster"),
            Category(HEALTH, "公共卫生事件", "public health event"),
            Category(SOCIAL, "社会安全事件", "social security event"),
        )
    }
)

_SUBTYPES: tuple[Subtype, ...] = (
    Subtype("flood", NATURAL, "洪水/内涝", "flood"),
    Subtype("drought", NATURAL, "干旱", "drought"),
    Subtype("rainstorm", NATURAL, "暴雨", "rainstorm", ("11B03",)),
    Subtype("typhoon", NATURAL, "台风", "typhoon", ("11B01",)),
    Subtype("tornado", NATURAL, "龙卷风", "tornado", ("11B02",)),
    Subtype("snowstorm", NATURAL, "暴雪/雪灾", "snowstorm", ("11B04",)),
    Subtype("cold_wave", NATURAL, "寒潮", "cold wave", ("11B05",)),
    Subtype("gale", NATURAL, "大风", "gale", ("11B06",)),
    Subtype("sandstorm", NATURAL, "沙尘暴", "sandstorm", ("11B07",)),
    Subtype("heat_wave", NATURAL, "高温/热浪", "heat wave", ("11B09", "11B10")),
    Subtype("lightning", NATURAL, "雷电", "lightning", ("11B14",)),
    Subtype("hail", NATURAL, "冰雹", "hail", ("11B15",)),
    Subtype("fog", NATURAL, "大雾", "fog", ("11B17",)),
    Subtype("earthquake", NATURAL, "地震", "earthquake"),
    Subtype("landslide", NATURAL, "滑坡/山体崩塌", "landslide"),
    Subtype("debris_flow", NATURAL, "泥石流", "debris flow"),
    Subtype("land_subsidence", NATURAL, "地面塌陷/沉降", "land subsidence"),
    Subtype("storm_surge", NATURAL, "风暴潮", "storm surge"),
    Subtype("tsunami", NATURAL, "海啸", "tsunami"),
    Subtype("biological_disaster", NATURAL, "生物灾害", "biological disaster (pests)"),
    Subtype("forest_fire", NATURAL, "森林草原火灾", "forest or grassland fire"),
    Subtype("mine", ACCIDENT, "矿山事故", "mine accident"),
    Subtype("hazardous_chemicals", ACCIDENT, "危险化学品事故", "hazardous chemicals accident"),
    Subtype("explosion", ACCIDENT, "爆炸", "explosion"),
    Subtype("building_fire", ACCIDENT, "火灾", "fire (buildings, factories, vehicles)"),
    Subtype("road_traffic", ACCIDENT, "道路交通事故", "road traffic accident"),
    Subtype("rail", ACCIDENT, "铁路/轨道交通事故", "rail or urban rail accident"),
    Subtype("aviation", ACCIDENT, "民航事故", "civil aviation accident"),
    Subtype("waterway", ACCIDENT, "水上交通事故", "waterway accident"),
    Subtype("construction", ACCIDENT, "建筑施工事故", "construction accident"),
    Subtype("building_collapse", ACCIDENT, "建筑物/桥梁坍塌", "building or bridge collapse"),
    Subtype("gas_leak", ACCIDENT, "燃气泄漏", "gas leak"),
    Subtype("utility_outage", ACCIDENT, "停电/停水/通信中断", "power, water or communications outage"),
    Subtype("public_facility", ACCIDENT, "其他公共设施设备事故", "other public facility or equipment accident"),
    Subtype("environmental_pollution", ACCIDENT, "环境污染和生态破坏", "environmental pollution"),
    Subtype("nuclear_radiation", ACCIDENT, "核与辐射事故", "nuclear or radiation accident"),
    Subtype("infectious_disease", HEALTH, "传染病疫情", "infectious disease outbreak"),
    Subtype("unexplained_illness", HEALTH, "群体性不明原因疾病", "cluster of unexplained illness"),
    Subtype("food_poisoning", HEALTH, "食物中毒/食品安全", "food poisoning or food safety"),
    Subtype("occupational_poisoning", HEALTH, "职业中毒/职业危害", "occupational poisoning"),
    Subtype("animal_epidemic", HEALTH, "动物疫情", "animal epidemic"),
    Subtype("terrorist_attack", SOCIAL, "恐怖袭击", "terrorist attack"),
    Subtype("major_crime", SOCIAL, "重大刑事案件", "major criminal case"),
    Subtype("mass_incident", SOCIAL, "群体性事件", "mass incident"),
    Subtype("economic_security", SOCIAL, "经济安全", "economic security"),
    Subtype("foreign_related", SOCIAL, "涉外突发事件", "foreign-related emergency"),
    Subtype("cyber_attack", SOCIAL, "网络与信息安全", "network and information security"),
    Subtype("ethnic_religious", SOCIAL, "民族宗教事件", "ethnic or religious incident"),
)

SUBTYPES: Final = MappingProxyType({s.key: s for s in _SUBTYPES})

# Rule-set ids of DOMAIN.md section 2. The configurable tables live in ``incidents.rules``.
DECREE_493: Final = "CN-Decree493-2007"
EQ_2012: Final = "CN-EQ-2012"
ENV_2014: Final = "CN-ENV-2014"
RELIEF_2016: Final = "CN-Relief-2016"
NUCLEAR_POLICY: Final = "CN-Radiation-policy"
PH_FOOD: Final = "CN-PH-FoodPoisoning-policy"
PH_OCCUPATIONAL: Final = "CN-PH-Occupational-policy"
PH_INFECTIOUS: Final = "CN-PH-Infectious-policy"
PH_GENERAL: Final = "CN-PH-General-policy"
SOCIAL_POLICY: Final = "CN-SocialSecurity-policy"

_SUBTYPE_RULES: Final = MappingProxyType(
    {
        "earthquake": EQ_2012,
        "environmental_pollution": ENV_2014,
        "nuclear_radiation": NUCLEAR_POLICY,
        "food_poisoning": PH_FOOD,
        "occupational_poisoning": PH_OCCUPATIONAL,
        "infectious_disease": PH_INFECTIOUS,
    }
)
_CATEGORY_RULES: Final = MappingProxyType(
    {NATURAL: RELIEF_2016, ACCIDENT: DECREE_493, HEALTH: PH_GENERAL, SOCIAL: SOCIAL_POLICY}
)


def category_of(subtype: str) -> str | None:
    """The category key a subtype belongs to, or ``None`` for an unknown subtype."""
    found = SUBTYPES.get(subtype)
    return found.category if found else None


def is_valid(category: str | None, subtype: str | None) -> bool:
    """Whether the pair is known and consistent; a category alone (subtype ``None``) is valid."""
    if category not in CATEGORIES:
        return False
    return subtype is None or category_of(subtype) == category


def check_keys(*, category: str | None, subtype: str | None) -> None:
    """Raise ``Invalid`` naming the field for a category or subtype key DOMAIN.md does not have, or a subtype of
    another category. The one check of caller-given keys: intake (``incidents.intake``) and the incident list's
    filters run it; a lone subtype is fine (its category follows from it)."""
    if category is not None and category not in CATEGORIES:
        raise Invalid(f"unknown category {category!r}; known: {', '.join(CATEGORIES)}", field="category")
    if subtype is not None:
        owner = category_of(subtype)
        if owner is None:
            raise Invalid(f"unknown subtype {subtype!r}", field="subtype")
        if category is not None and owner != category:
            raise Invalid(f"subtype {subtype!r} belongs to {owner}, not {category}", field="subtype")


def rule_set_for(category: str | None, subtype: str | None = None) -> str | None:
    """The id of the grading rule set for an event: by subtype first, else by category, else ``None``."""
    if subtype is not None and subtype in SUBTYPES:
        return _SUBTYPE_RULES.get(subtype, _CATEGORY_RULES[SUBTYPES[subtype].category])
    if category is not None:
        return _CATEGORY_RULES.get(category)
    return None
