"""The patterns that find casualty, impact and magnitude figures in reports (data for ``incidents.reader.facts``).

Every count pattern is anchored on a word that says what the number counts (死亡, 受伤, "killed", "evacuated"), and a
Chinese number must be followed by a measure word (人, 名, 位, 例) or the verb itself, so dates (3月5日), times
(14时30分), addresses (3号楼, No. 5 Road), ages (65岁, 65-year-old) and phone numbers never become facts. Each pattern
has a group ``n``: the number with its approximation words (余, 逾, "at least").
"""

from __future__ import annotations

import re
from typing import Final

from incidents.reader.numbers import EN_NUMBER, ZH_NUMBER, ZH_NUMERAL

_Q = f"(?P<n>{ZH_NUMBER})"
# Between the measure word and the verb: a few characters naming who ("3名工人死亡"), but never another number, a
# clause break, a date/time/address unit or another casualty word.
_GAP = r"[^\d,;:。、!?！？\s零〇一二两三四五六七八九十百千万亿伤亡死踪困]{0,12}?"
_MEASURE = rf"(?:(?:名|位|个|人|例){_GAP})?人?"
_ADV = r"(?:已|已经|不幸|当场|先后|相继|经抢救无效|抢救无效|因伤势过重|送医后|均)?"
_TO = r"(?:人数|者)?(?:已|已经)?(?:上升至|上升到|升至|增至|增加至|增加到|达到|达|为|共|累计|总计)?"

_PEOPLE = (
    r"(?:people|persons|residents|villagers|workers|miners|students|children|passengers|tourists|others|more|locals"
    r"|inhabitants|civilians|pupils|employees|crew members|crew|soldiers|pilgrims|patients|households|families)"
)
_ONE = (
    r"(?:an?|the)\s+(?:[\w-]+\s+)?(?:man|woman|person|worker|child|boy|girl|driver|passenger|pedestrian|miner"
    r"|firefighter|student|resident|villager|officer|motorcyclist|cyclist|teenager|baby|toddler|farmer|tourist"
    r"|crew member|employee|mechanic|guard|pilot|owner|victim|fisherman|hiker|climber|rider|labou?rer|welder"
    r"|electrician|cleaner|courier|shopkeeper|patient|couple)(?![a-z])"
)
_EQ = rf"(?P<n>{EN_NUMBER}|{_ONE})"
_ENQ = rf"(?P<n>{EN_NUMBER})"
# "no one was hurt", "not one died": a count word after a negator is no count.
_NOT_NEGATED = r"(?<![\w$.,-])(?<!no )(?<!not )(?<!no-)"
_EGAP = (
    r"(?:\s+of\s+(?:whom|them))?"
    r"(?:\s+(?!(?:and|or|but|while|with|after|before|were|was|injured|wounded|hurt|killed|dead|died|missing)\b)"
    r"[a-z'-]+){0,6}?"
)
_AUX = (
    r"(?:\s+(?:were|was|have|has|had|been|are|is|got|remain|remained|remains|still|reportedly|reported|confirmed"
    r"|later|also|now|all|being|believed|hospitali[sz]ed|listed|taken to hospital|immediately|quickly|safely|urgently"
    r"|successfully|subsequently|since|already))*"
)


def _zh_subject(verbs: str) -> re.Pattern[str]:
    return re.compile(rf"{_Q}{_MEASURE}{_ADV}(?:{verbs})")


def _zh_verb_first(verbs: str, unit: str = "人|名") -> re.Pattern[str]:
    # "死亡12人", but not the "死亡2人" of "致1人死亡2人受伤": that count belongs to the next verb.
    nxt = rf"(?:受伤|伤|死|遇难|失踪|失联|被困|中毒)(?!\s*(?:{ZH_NUMBER}))"
    return re.compile(rf"(?:{verbs}){_TO}{_Q}(?:{unit})(?![^\d,，。;；、]{{0,4}}?{nxt})")


def _en_subject(verbs: str) -> re.Pattern[str]:
    return re.compile(rf"{_NOT_NEGATED}{_EQ}{_EGAP}{_AUX}\s+(?:{verbs})(?![a-z])")


def _en_object(verbs: str, tail: str = "") -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z])(?:{verbs})\s+(?:all\s+)?{_ENQ}(?:\s+{_PEOPLE})?{tail}(?![\w,.]\d)")


_ZH_DEATH = r"死亡|遇难|身亡|罹难|丧生|殒命|丧命|遇害|死(?!伤)"
_ZH_PERSON = (
    r"男子|女子|男孩|女孩|男童|女童|老人|老汉|妇女|村民|居民|市民|工人|司机|驾驶员|乘客|行人|学生|儿童|孩子|游客|渔民|矿工"
    r"|骑车人|骑手|外卖员|工作人员|施工人员|作业人员|维修工|消防员|民警|婴儿|患者|船员"
)
# "一村民在田间劳作时遭雷击，经抢救无效死亡": one person named, then their death, with no other number between.
_ZH_ONE_DIED = re.compile(
    rf"(?<![\d{ZH_NUMERAL}])(?P<n>一)(?:名|位|个)?(?:{_ZH_PERSON})[^。；;!?！？\d{ZH_NUMERAL}]{{0,30}}?{_ADV}(?:死亡|身亡|遇难|丧生)"
)
# "A worker fell 20 metres from scaffolding ... and was pronounced dead at hospital."
_EN_ONE_DIED = re.compile(
    rf"(?<![a-z])(?P<n>{_ONE})[^.;]{{0,120}}?\b(?:and|but|before)\s+(?:was\s+|later\s+)?"
    r"(?:pronounced dead|died|was killed|drowned|was crushed to death)(?![a-z])"
)
_ZH_SERIOUS = r"(?:伤势|病情)?(?:重伤|严重|较重|危重|垂危|病危|重症|危急)"
_ZH_MINOR = r"(?:伤势)?(?:轻伤|轻微伤|较轻)"

PATTERNS: Final[dict[str, tuple[re.Pattern[str], ...]]] = {
    "deaths": (
        _zh_subject(_ZH_DEATH),
        _ZH_ONE_DIED,
        _EN_ONE_DIED,
        _zh_verb_first("死亡|遇难|罹难|身亡|打死|杀死|砍死|刺死|撞死|致死"),
        _en_subject(
            r"killed|(?<!feared )(?<!presumed )dead|died|perished|drowned"
            r"|lost (?:their|his|her) li(?:ves|fe)|confirmed dead|(?:burned|stabbed"
            r"|crushed|beaten) to death"
            r"|shot dead|shot and killed"
        ),
        _en_object(r"killing|killed|kills|claimed the lives of|claiming the lives of|took the lives of"),
        re.compile(rf"(?<![a-z])(?:killing|killed|kills)\s+(?P<n>{_ONE})"),
        _en_object(r"leaving|left", r"(?:\s+[a-z-]+){0,2}?\s+dead"),
        re.compile(rf"death toll[^.;]{{0,80}}?(?:to|at|of|reached|hit|is|was|stood at|stands at)\s+{_ENQ}(?![\w,.]\d)"),
        re.compile(rf"{_NOT_NEGATED}{_ENQ}(?:\s+[a-z-]+){{0,2}}?\s+(?:deaths|fatalities|bodies)(?![a-z])"),
    ),
    "missing": (
        _zh_subject(r"失踪|失联|下落不明"),
        _zh_verb_first(r"失踪|失联"),
        _en_subject(r"missing|unaccounted for"),
        _en_object(r"leaving|left", r"\s+missing"),
    ),
    "serious": (
        _zh_subject(_ZH_SERIOUS),
        _zh_verb_first(r"重伤"),
        _en_subject(r"(?:seriously|severely|critically|gravely|badly) (?:injured|wounded|hurt|burned|burnt)"),
        _en_subject(r"(?:in\s+)?(?:critical|serious|severe|grave) condition"),
        re.compile(
            rf"{_NOT_NEGATED}{_ENQ}\s+(?:of them\s+|people\s+)?(?:seriously|critically|severely)(?![a-z])(?! ill)"
        ),
        _en_object(r"(?:seriously|critically|severely) (?:injuring|wounding)"),
    ),
    "minor": (
        _zh_subject(_ZH_MINOR),
        _zh_verb_first(r"轻伤"),
        _en_subject(r"(?:slightly|lightly|minor(?:ly)?) (?:injured|wounded|hurt)|(?:suffered|with) minor injuries"),
    ),
    "injuries": (
        _zh_subject(r"(?<![重危轻])(?:受伤|负伤|受轻重伤|伤)(?![亡势者])"),
        _zh_verb_first(r"受伤|负伤"),
        _en_subject(r"injured|wounded|hurt|injuries|treated for injuries|hospitali[sz]ed with injuries"),
        _en_object(r"injuring|wounding|injured|wounded|hurting|injures"),
        _en_object(r"leaving|left", r"(?:\s+[a-z-]+){0,2}?\s+(?:injured|wounded|hurt)"),
    ),
    "poisoned": (
        _zh_subject(r"(?:出现|发生|疑似|相继出现|先后出现)?(?:食物)?中毒|出现[^,;。]{0,16}?(?:症状|不适)"),
        _zh_verb_first(r"中毒", "人|名|例"),
        re.compile(rf"{_Q}例(?:食物)?中毒"),
        _en_subject(
            r"poisoned|sickened|fell ill|became ill|taken ill|showed symptoms|developed symptoms|reported symptoms"
            r"|suffered (?:from )?(?:food )?poisoning|(?:were |was )?diagnosed with (?:[a-z-]+ ){0,3}poisoning"
            r"|(?:were )?treated for (?:food )?poisoning"
        ),
        _en_object(r"sickening|poisoning|sickened|poisoned"),
        re.compile(rf"{_NOT_NEGATED}{_ENQ}\s+cases of (?:suspected )?(?:food |gas |chemical )?poisoning"),
    ),
    "evacuated": (
        re.compile(
            rf"(?:紧急)?(?:转移安置|避险转移|转移|疏散|撤离|安置)了?{_GAP.replace('困', '')}"
            rf"(?:群众|人员|居民|村民|游客|师生|民众|住户)?(?:共|约|达|近|超过)?{_Q}(?:人|名)(?!次)"
        ),
        _zh_subject(r"被?(?:紧急)?(?:转移|疏散|撤离)"),
        _en_subject(r"evacuated|relocated|displaced|moved|forced to flee|fled their homes|evacuating"),
        _en_object(
            r"evacuated|evacuating|evacuation of|relocation of|relocated|relocating|displacing|displaced|forcing|forced"
            r"|moved"
        ),
    ),
    "affected": (
        _zh_verb_first(r"受灾|影响|波及", "人|名"),
        re.compile(rf"受灾(?:人口|群众|人数)(?:达|约|共|超过|为)?{_Q}"),
        _zh_subject(r"受灾|受影响"),
        re.compile(rf"(?:确诊|报告|累计报告|发现|感染)(?:病例|患者|者)?(?:共|累计)?{_Q}例"),
        re.compile(rf"{_Q}例(?:确诊|感染|疑似)?病例"),
        re.compile(rf"病例(?:数)?(?:共|累计|达|为)?{_Q}例"),
        _en_object(r"affecting|affected|impacting"),
        _en_subject(r"affected|impacted"),
        re.compile(
            rf"{_NOT_NEGATED}{_ENQ}\s+(?:new\s+|confirmed\s+|suspected\s+|human\s+|infection\s+)*cases(?![a-z])"
        ),
        _en_subject(r"tested positive|infected"),
    ),
}

# Money: only amounts in Chinese yuan count; "$3 million", "US$", "美元", "港元" are left out.
ZH_LOSS: Final = re.compile(
    rf"(?:经济损失|财产损失|损失)(?:约|达|初步估计|初步估算|预计|估计|超过|逾|近|共|为|高达|已)*{_Q}(?:元|人民币)"
)
EN_LOSS: Final = re.compile(
    r"(?:loss|losses|damage|damages|cost)[^.;]{0,60}?(?<![$\w])"
    r"(?:(?:rmb|cny|¥)\s?(?P<a>\d[\d,]*(?:\.\d+)?)\s*(?P<s>million|billion|mn|bn)?"
    r"|(?P<b>\d[\d,]*(?:\.\d+)?)\s*(?P<t>million|billion|mn|bn)?\s*(?:yuan|rmb|cny)(?![a-z]))"
)

MAGNITUDE: Final = (
    re.compile(r"里氏\s*(?P<m>\d+(?:\.\d+)?)\s*级"),
    re.compile(r"震级(?:为|达|是)?\s*(?:m[swl]?\s*)?(?P<m>\d+(?:\.\d+)?)"),
    re.compile(r"(?<![\d.])(?P<m>\d{1,2}(?:\.\d{1,2})?)\s*级(?:强烈|浅源|左右的?|的)?(?:地震|强震|余震|震)"),
    re.compile(r"(?<![a-z0-9])m[swlb]?\s?(?P<m>\d\.\d)(?![\d.])"),
    re.compile(r"magnitude[- ](?:of\s+)?(?:about\s+|around\s+)?(?P<m>\d+(?:\.\d+)?)(?![\d])"),
    re.compile(r"(?<![\d.])(?P<m>\d+(?:\.\d+)?)[- ]?(?:magnitude|on the richter scale)"),
    re.compile(r"(?<![\d.$])(?P<m>\d\.\d)[- ](?:earth)?quake"),
)

ZERO_BOTH: Final = re.compile(
    r"(?:无|没有|未造成|未发生|未有|暂无|暂未发现|未发现|并无|无一|未见)人员?(?:伤亡|受伤)|无人伤亡|无人受伤|无伤亡"
    r"|no (?:immediate )?(?:reports? of )?(?:casualties|injuries)|(?:no one|nobody|no-one) was (?:hurt|injured)"
    r"|without (?:any )?casualties|no (?:injuries or deaths|deaths or injuries)|caused no casualties"
    r"|(?:no one|nobody) was (?:killed or injured|injured or killed|hurt or killed|killed or hurt)"
)
ZERO_DEATHS: Final = re.compile(
    r"(?:无|没有|未造成|暂无|并无)人员?死亡|无人死亡|无人遇难|未造成人员死亡"
    r"|(?:no one|nobody|no-one) (?:was killed|died|was dead)|no (?:reported )?(?:deaths|fatalities)"
)
POISON_CONTEXT: Final = re.compile(r"中毒|poison|food|ill(?![a-z])|symptom|vomit|diarrh")
HOSPITALISED: Final = _en_subject(r"hospitali[sz]ed|taken to hospital|sent to hospital")
