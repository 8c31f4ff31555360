"""Weighted evidence terms for the public-health and social-security subtypes (same format as ``reader.lexicon``)."""

from __future__ import annotations

from typing import Final

SUBTYPE_TERMS: Final[dict[str, dict[float, str]]] = {
    # ---- public_health ----
    "infectious_disease": {
        6: "传染病|聚集性疫情|霍乱|鼠疫|麻疹|登革热|诺如病毒|诺如|手足口病|新冠|新型冠状病毒|肺结核|猩红热|伤寒|痢疾"
        "|水痘"
        "|流行性腮腺炎|腮腺炎|疟疾|猴痘|埃博拉|中东呼吸综合征|非典|甲型肝炎|甲肝|出血热|基孔肯雅热|人感染|流行性感冒"
        "|甲流"
        "|sars|cholera|plague|measles|dengue|norovirus|hand, foot and mouth disease|hand-foot-and-mouth|covid|covid-19"
        "|coronavirus|tuberculosis|mpox|monkeypox|ebola|mers|chikungunya|typhoid|diphtheria|meningitis|polio"
        "|scarlet fever|mumps|chickenpox|whooping cough|legionnaires|malaria|zika|infectious disease{,s}|epidemic"
        "|pandemic|human case{,s}|human infection{,s}",
        4: "疫情|确诊病例|病例|确诊|流感|结核|炭疽|狂犬病|流调|密接|密切接触者|核酸|隔离|传染|influenza|flu|anthrax"
        "|rabies|hepatitis|outbreak{,s}|confirmed case{,s}|tested positive|contact tracing|quarantine{,d}|infected",
        2: "感染|暴发|阳性|疾控|发热|病毒|cases|infection{,s}|cdc|virus|transmission|fever",
    },
    "unexplained_illness": {
        6: "不明原因疾病|群体性不明原因疾病|不明原因肺炎|不明原因发热|怪病|mystery illness|mysterious illness"
        "|unexplained illness|unknown illness|unidentified illness|undiagnosed illness|mystery disease|unknown disease"
        # Issue 26's review took out "cause remained unclear" (added for one tuned line): it is said of fires and
        # crashes as often as of an illness.
        "|cause unknown|of unknown cause|cause is not yet known|cause remains unknown"
        "|mysterious pneumonia|mystery pneumonia|unexplained pneumonia|undiagnosed pneumonia"
        "|mass psychogenic",
        3: "不明原因|原因不明|集体发病|unknown cause|unexplained|undiagnosed|fell ill|mysterious|mystery",
        1: "症状|皮疹|symptoms|rash",
    },
    "food_poisoning": {
        6: "食物中毒|食源性|毒蘑菇|野生菌|野生蘑菇|亚硝酸盐|米酵菌酸|酵米面|河豚|肉毒|沙门氏菌|误食|集体食物中毒"
        "|food poisoning|foodborne|food-borne|botulism|salmonella|listeria|contaminated food|poisonous mushrooms"
        "|wild mushrooms|tainted food",
        4: "食品安全|食用|进食|就餐|聚餐|食堂|饭菜|盒饭|宴席|婚宴|变质|四季豆|豆角|e. coli|e.coli|nitrite"
        "|mushroom{,s}|canteen|cafeteria|banquet|meal{,s}|ate|food safety|spoiled|tainted",
        2: "腹泻|呕吐|vomiting|diarrh{ea,oea}|午餐|晚餐|早餐|外卖|腹痛|恶心|饮用|lunch|dinner|breakfast|takeaway"
        "|catered|eating|stomach|nausea",
    },
    "occupational_poisoning": {
        6: "职业中毒|急性职业中毒|职业病|血铅|血铅超标|苯中毒|正己烷|尘肺|尘肺病|矽肺|汞中毒|镉中毒|慢性中毒|职业危害"
        "|职业健康|occupational poisoning|occupational disease{,s}|blood lead|elevated lead levels|benzene poisoning"
        "|n-hexane|silicosis|pneumoconiosis|black lung|chronic exposure|long-term exposure|occupational exposure",
        4: "铅中毒|长期接触|有限空间|硫化氢|化粪池|污水池|清淤|occupational|lead poisoning|mercury poisoning"
        "|hydrogen sulfide|hydrogen sulphide|confined space|septic tank|sewage pit|manure pit|lead levels|lead exposure"
        "|safe limit",
        1: "窒息|asphyxiat{ed,ion}|benzene|苯",
    },
    "animal_epidemic": {
        6: "非洲猪瘟|猪瘟|口蹄疫|动物疫情|小反刍兽疫|牛结节性皮肤病|新城疫|高致病性禽流感|禽流感疫情"
        "|african swine fever"
        "|swine fever|foot-and-mouth|foot and mouth disease|animal disease|epizootic|lumpy skin disease"
        "|peste des petits ruminants|newcastle disease",
        4: "禽流感|扑杀|无害化处理|疫点|bird flu|avian influenza|avian flu|culled|culling|cull",
        2: "家禽|生猪|养殖场|养殖户|禽类|poultry|livestock|flock{,s}|veterinary|h5n1|h7n9|h5n6|h5n8|h7n7",
    },
    # ---- social_security ----
    "terrorist_attack": {
        6: "恐怖袭击|恐袭|暴恐|恐怖分子|爆炸装置|简易爆炸装置|可疑装置|自杀式|人体炸弹|汽车炸弹|炸弹|宣称负责|极端组织"
        "|terrorist{,s}|terrorism|terror attack{,s}|suicide bomber{,s}|suicide bombing|car bomb|explosive device{,s}"
        "|improvised explosive|ied{,s}|suspicious device|suspicious package|claimed responsibility|pipe bomb"
        "|jihadist{,s}|islamic state|bomb{,s,ing,ings}|bomber{,s}|暴力恐怖|恐怖事件|恐怖案件",
        4: "恐怖|可疑包裹|可疑物品|劫机|排爆|暴徒|terror|militant{,s}|extremist{,s}|hijack{,ed,ing}|bomb squad"
        "|bomb disposal|detonated",
    },
    "major_crime": {
        6: "持刀|砍人|行凶|杀人|命案|枪击|开枪|劫持人质|人质|绑架|投毒|捅伤|刺伤|故意杀人|血案|报复社会|驾车冲撞"
        "|stabbing{,s}|knife attack|knife-wielding|knifeman|gunman|gunmen|opened fire|open fire|mass shooting"
        "|shooting{,s}|hostage{,s}|kidnapping|kidnapped|murder{,ed,s}|homicide|assailant|ramming attack"
        "|drove into a crowd|drove into crowd|armed robbery|manhunt|shot dead|gunfire",
        4: "嫌疑人|犯罪嫌疑人|凶手|刑事案件|伤人|抢劫|袭击|纵火案|砍刀|菜刀|stabbed|shot|attacker|rampage|robbery"
        "|suspect"
        "|machete|knife|armed with|passers-by|持枪",
        3: "attack{,s,ed}",
        2: "警方|公安|抓获|刑拘|arrested|police",
    },
    "mass_incident": {
        6: "群体性事件|聚集上访|群众聚集|上访|堵路|拉横幅|骚乱|暴乱|打砸|讨薪|protest{,s,ed,ers,ors}|riot{,s,ing,ers}"
        "|demonstrator{,s}|petitioner{,s}|sit-in|mob|unrest|looting",
        4: "聚集|围堵|抗议|示威|游行|静坐|维权|欠薪|围攻|械斗|罢工|闹事|demonstration{,s}|clash{,es,ed}|blockade"
        "|blocked a road|blocked the road|tear gas|marched|rally|rallies|unpaid wages|brawl|堵塞|拦路|阻断交通|集体停运"
        "|on strike|went on strike|in a strike|staged a strike|walkout|outside city hall|outside government offices",
        3: "发生冲突|群众冲突|村民冲突|两村",
        2: "冲突|冲击|crowd{,s}|strike",
    },
    "economic_security": {
        6: "挤兑|银行挤兑|抢购食盐|抢购潮|股灾|股市暴跌|恐慌性抛售|哄抬物价|挤提|抢盐|bank run{,s}|run on the bank"
        "|market crash"
        "|stock market crash|market panic|panic buying|price gouging|ponzi",
        4: "暴跌|抢购|囤积|囤货|保供稳价|非法集资|爆雷|兑付|储户|金融风险|资金链断裂|depositors|sell-off|selloff"
        "|financial crisis"
        "|hoarding|insolvency|withdrawals|shares plunged|stocks plunged|panic selling|trading halt|circuit breaker"
        "|unable to withdraw|peer-to-peer|p2p|lending platform|index plunged|stock index|composite index|投资人|投资者"
        "|wealth management|demanding repayment|currency crisis|yuan plunged|year low|理财产品|人民币贬值|提不出",
        2: "理财|汇率|物价|取款|currency|liquidity|default",
    },
    "foreign_related": {
        6: "涉外|海外中国公民|领事保护|撤侨|我国公民|中国公民|驻外使馆|evacuation of chinese|chinese nationals"
        "|chinese citizens|consular protection",
        4: "大使馆|使馆|领事馆|外籍|外国游客|外国人|中方人员|中国游客|中资企业|侨民|embassy|consulate|consular"
        "|foreign nationals|foreign tourists|foreigners|expatriates",
        2: "外交部|境外|华人|diplomatic|abroad|overseas",
    },
    "cyber_attack": {
        6: "网络攻击|黑客|勒索病毒|勒索软件|数据泄露|个人信息泄露|网络安全事件|木马|cyberattack{,s}|cyber attack{,s}"
        "|cyber-attack{,s}|hacker{,s}|hacked|hacking|ransomware|malware|ddos|denial-of-service|data breach{,es}"
        "|botnet|defaced",
        4: "信息泄露|网站瘫痪|网络安全|篡改|漏洞|入侵|钓鱼|phishing|cybersecurity|leaked data|zero-day|it systems",
        2: "系统瘫痪|服务器|servers|vulnerability|breach",
    },
    "ethnic_religious": {
        6: "民族宗教|宗教冲突|民族矛盾|民族冲突|非法宗教|教派|宗教场所|sectarian|communal violence|communal clashes"
        "|ethnic group{,s}|ethnic violence|ethnic clash{,es}|ethnic conflict|hindu-muslim|religious riot{,s}"
        "|communal riot{,s}"
        "|ethnic tension{,s}|religious clash{,es}|religious tension{,s}",
        4: "宗教|邪教|清真寺|信众|信教群众|亵渎|民族习俗|宗教习俗|风俗习惯|religious|ethnic|blasphemy"
        "|desecration|worshippers|worshipers|interfaith"
        "|buddhist{,s}|muslim{,s}|hindu{,s}|christians|sikh{,s}|communal"
        # Kept after issue 26's review: a dispute over 民族风俗 (ethnic customs) is how policy texts name the typical
        # 民族宗教事件.
        "|民族风俗",
        2: "民族|寺庙|寺院|教堂|mosque|church|temple|pilgrims|cult",
    },
}
