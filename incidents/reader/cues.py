"""Context cues for the classifier's trap rules (DOMAIN.md section 1), and the negation and hedge patterns.

A cue is not evidence for a subtype by itself: it tells where a fire burns (forest or building), how people were
poisoned (ate, breathed a sudden release, worked in it for months), who caught bird flu (poultry or people), whether
weather is named only in passing. Same format as ``incidents.reader.lexicon``; keys start with ``@``.
"""

from __future__ import annotations

import re
from typing import Final

CUE_TERMS: Final[dict[str, dict[float, str]]] = {
    "@forest_ctx": {
        2: "森林|林区|林场|山林|林地|草原|草场|荒山|山坡|山头|山上|自然保护区|国家公园|林业|护林员|灌木|forest{,s}"
        "|woodland{,s}"
        "|grassland{,s}|hillside{,s}|hills|mountain{,s}|mountainside|brush|scrub|scrubland|bush|bushland|national park"
        "|canyon|vegetation|prairie|pine|tinder-dry|dry grass|timber",
        1: "公顷|亩|hectares|acres",
    },
    "@building_ctx": {
        2: "居民楼|住宅|小区|大楼|厂房|仓库|车间|商场|超市|酒店|宾馆|餐馆|饭店|饭馆|商铺|门店|医院|学校|宿舍|养老院"
        "|幼儿园"
        "|公寓|写字楼|高层|民房|自建房|出租屋|工厂|厂区|网吧|房屋|房间|building|apartment{,s}|flat|house|residential"
        "|high-rise|tower block|floor|storey|warehouse|factory|workshop|mall|store|shop|restaurant|hotel|hospital"
        "|school|dormitory|nursing home|office|kitchen|basement|garage|e-bike|villa|home",
        1: "墙|屋顶|天花板|隧道|roof|wall|ceiling|stage|structure|tunnel|楼|层|车|汽车|客车|公交|大巴|货车|电动车|电瓶"
        "|厂|market|car|vehicle|bus|truck|battery",
    },
    "@crash": {
        2: "相撞|追尾|侧翻|翻车|撞车|碰撞|撞上|坠崖|车祸|交通事故|撞|collision{,s}|collided|crash{,ed,es}|pile-up"
        "|pileup|colliding|collide{,s}"
        "|rear-ended|overturned|rolled over|head-on|hit by|ploughed into|plowed into|smashed into|slammed into",
    },
    "@leak": {
        2: "泄漏|泄露|外泄|逸出|喷出|破裂|管道破裂|leak{,s,ed,ing,age}|spill{,s,ed,ing}|escaped|release{,d}"
        "|ruptur{e,ed}",
    },
    "@poison": {
        2: "腹泻|呕吐|vomiting|diarrh{ea,oea}|中毒|中毒症状|身体不适|不适症状|poison{ed,ing,ings}|sickened"
        "|intoxication|fell ill|taken ill|became ill",
        1: "头晕|恶心|toxic",
    },
    "@drink": {2: "饮用|喝了|饮水|自来水|井水|桶装水|drinking water|tap water|drank|well water"},
    "@work": {
        2: "工人|员工|职工|车间|作业|工厂|企业|厂区|workers|employees|staff|workshop|factory|workplace|plant",
        1: "厂|公司|company",
    },
    "@chronic": {
        2: "长期|慢性|体检|筛查|职业病|数月|多年|long-term|chronic|screening|health check{,s}|check-up{,s}|months|years"
        "|over time",
        1: "超标|elevated",
    },
    "@residents": {2: "村民|居民|儿童|孩子|villagers|residents|children|kids"},
    "@avian": {2: "禽流感|h5n1|h7n9|h5n6|h5n8|h7n7|h10n3|h9n2|bird flu|avian influenza|avian flu"},
    "@human_case": {
        3: "人感染|患者|病例|感染者|病人|human case{,s}|human infection{,s}|patient{,s}|infected person"
        "|男子|女子|男童|女童|死亡病例|woman|man|boy|girl|human death{,s}|villager",
        2: "住院|hospitali{s,z}ed|resident",
    },
    "@poultry": {
        2: "家禽|活禽|鸡|鸭|鹅|禽类|养殖场|养殖户|扑杀|poultry|chicken{,s}|duck{,s}|geese|goose|farm{,s}|flock{,s}"
        "|bird{,s}"
        "|culled|culling|hens|turkeys|wild birds",
    },
    "@weather_cond": {
        2: "雨天|雨天路滑|路面湿滑|道路结冰|雾天|大雾天气|团雾|冰雪路面|能见度低|能见度不足|受降雨影响|受大雾影响"
        "|in fog"
        "|in dense fog|in heavy fog|in thick fog|foggy|icy road{,s}|slippery|wet road{,s}|poor visibility"
        "|low visibility"
        "|snowy road{,s}|icy conditions|rain-slicked|rain-soaked",
    },
    "@drill": {
        2: "演练|演习|模拟|应急演练|安全培训|培训|线上学习|科普|宣传周|同比|去年全年|drill{,s}|rehearsal|mock"
        "|simulat{e,ed,es,ing,ion}|tabletop exercise|emergency exercise|training|course|lecture|annual report"
        "|statistics|awareness|percent last year|year-on-year",
    },
    "@hedge": {2: "网传|传言|据传|rumo{u,}r{,s,ed}|unconfirmed|unverified|reportedly|alleged{,ly}"},
    "@debunked": {
        2: "谣言|不实|辟谣|假消息|虚假信息|误报|hoax|false alarm|fake news|misinformation|debunk{,ed}|unfounded"
        "|false report{,s}|未见异常|一切正常|运行正常|供水正常|no abnormal|routine maintenance|scheduled maintenance"
        "|例行检修|计划检修|秩序正常|旧闻|旧视频|old footage|old video",
    },
    "@disaster": {2: "因灾|受灾|灾区|救灾|灾情|灾害|disaster-hit|disaster area|disaster zone|disaster relief"},
    # Flights, trains and roads delayed, cancelled or closed: a consequence of weather, not a transport accident.
    "@disruption": {
        2: "航班延误|航班取消|航班停飞|列车晚点|列车停运|停运|停航|晚点|延误|滞留|临时封闭|交通管制|封闭"
        "|flights delayed|flights were delayed|flights cancelled|flights were cancelled|flights canceled"
        "|grounded flights|flights grounded|flight delays|flight cancellations|delayed flights|cancelled flights"
        "|trains were delayed|trains delayed|services suspended|service suspended|stranding|stranded|closed sections"
        "|roads closed|were closed",
    },
    "@subset": {1: "其中|of whom|of them|including|among them"},
    "@ignore": {1: "heart attack|panic attack|asthma attack"},
}

# A negator right before a term ("未发生火灾", "no fire", "did not cause a fire") discounts that term. Chinese
# negators must touch the term (only a verb like 发生 between) so that 无法扑灭大火 is not read as "no fire".
# "是不是地震了", "有没有着火": a question is not a denial.
ZH_NEGATION: Final = re.compile(
    r"(?:未|(?<!有)没有|并未|(?<![有])没|无|(?<!是)不是|并非|排除|否认|尚未|暂未|并无|不存在)(?:发生|发现|出现|造成|引发|检出|任何)?$"
)
EN_NEGATION: Final = re.compile(
    r"(?:^|[^a-z])(?:no|not|without|never|nor|ruled out|no sign of|no signs of|no evidence of|no reports? of|free of"
    r"|denied)\s+(?:[a-z'-]+\s+){0,3}$"
)

# A meeting, a briefing or a work plan that states no occurrence is no event ("召开防汛会商会，部署防汛工作").
MEETING: Final = re.compile(
    r"(?:召开|举行|主持召开|组织召开)[^。；;]{0,30}?(?:会议|会商会|例会|工作会|分析会|调度会|推进会|部署会|专题会|视频会"
    r"|座谈会)|(?:held|convened|chaired) (?:a |an |its )?(?:[a-z-]+ ){0,3}(?:meeting|conference)"
)
OCCURRED: Final = re.compile(
    r"发生|造成|导致|致\d|遇难|死亡|身亡|受伤|失联|失踪|被困|倒塌|被淹|进水|转移|疏散|撤离|登陆|突发|暴发|起火|着火|泄漏|中毒"
    r"|确诊|\d+人|killed|dead|died|injur|missing|trapped|evacuat|struck|broke out|collapsed|exploded|caught fire"
    r"|outbreak|confirmed|swept|hit "
)

# A sentence about the past ("Last year an earthquake also damaged...", "这是自2012年以来最严重的...") is
# background: its terms count less. A year followed by a month is a date ("2024年7月"), not the past.
SENTENCE: Final = re.compile(r"(?:[^。；;！？!?\n.]|\.(?!\s|$))+")
BACKGROUND: Final = re.compile(
    r"(?:19|20)\d\d年(?!\d{1,2}月|度)|去年|前年|历史上|曾经|曾发生|曾遭|以来最|上一次|周年"
    r"|好像|仿佛|似乎是"
    r"|\b(?:last year|in (?:[a-z]+ )?(?:19|20)\d\d|since (?:19|20)\d\d|a (?:19|20)\d\d|earlier this year|years ago"
    r"|anniversary|previous(?:ly)?|since the|this century|had been hit by|was hit by a|as if|as though"
    r"|comes? (?:just |only )?(?:[a-z]+ )?(?:days|weeks|months) after)\b"
)


def background_spans(folded: str) -> list[tuple[int, int]]:
    """Spans of the sentences after the lead that speak of the past or of something else (see ``BACKGROUND``)."""
    sentences = SENTENCE.finditer(folded)
    next(sentences, None)  # the lead names the event
    return [m.span() for m in sentences if BACKGROUND.search(m.group())]


# A natural hazard named as the cause of another event ("受台风影响", "暴雨导致", "triggered by heavy rain",
# "after days of downpours") counts less than the event it caused.
CAUSE: Final = re.compile(
    r"受[^,，。;；]{0,14}?影响|(?:因|由于)?[^,，。;；]{1,8}?(?=导致|引发|诱发|致使)"
    r"|(?:triggered|caused|brought|fuell?ed|driven|whipped up|worsened|fanned|swollen) by [^,.;]{0,40}"
    r"|(?:after|following|amid|due to|because of) (?:days|weeks|hours|a week|a night|months) of [^,.;]{0,30}"
    r"|(?:due to|because of) [^,.;]{0,25}"
)
