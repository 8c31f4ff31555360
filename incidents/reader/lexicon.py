"""Weighted evidence terms for each subtype, Chinese and English, as data for ``incidents.reader.classifier``.

Format: subtype → {weight: "term|term|..."}. English terms are lower case and match whole words; ``{a,b}`` expands to
alternatives (``collide{,s,d}`` → collide, collides, collided). Chinese terms match anywhere. The longest term wins at
a position, so a compound (森林火灾, "forest fire", "opened fire", "hand, foot and mouth disease") consumes its parts.
Weights: 6 names the event outright, 4–5 strong evidence, 2–3 supporting, 1 a hint.
"""

from __future__ import annotations

from typing import Final

SUBTYPE_TERMS: Final[dict[str, dict[float, str]]] = {
    # ---- natural_disaster ----
    "flood": {
        6: "洪水|洪灾|洪涝|内涝|溃坝|决堤|溃堤|溃口|山洪|洪峰|城市内涝|洪涝灾害|flood{,s}|flash flood{,s,ing}|决口|漫坝"
        "|flood-hit|flood-stricken|flood-ravaged|monsoon flood{,s}|river flood{,s,ing}"
        "|floodwater{,s}|超警戒水位|dam burst|dam breach|dam collapse|levee breach|burst its banks|broke its banks"
        "|waterlogging",
        4: "warning level{,s}|swelled|higher ground|above the warning|rising river|冲走|河水暴涨|河水突涨|突涨|洪流"
        "|swept away|washed away|管涌|险情|洪水位|汛情|漫堤|超警|超保证水位|泄洪|防汛|被淹|水淹|倒灌|inundated"
        "|inundation|overflowed|swollen river"
        "|embankment breach|dike breach|deluge|submerged|flooding|levee{,s}|dike{,s}|dyke{,s}|breached|漫溢|水位暴涨",
        3: "flooded|waterlogged",
        2: "积水|淹没|水位|涨水|防洪|high water|water level{,s}|rising waters",
    },
    "drought": {
        6: "干旱|旱情|旱灾|大旱|气象干旱|特旱|drought{,s}|dry spell",
        3: "人饮困难|饮水困难|缺墒|河道断流|水库干涸|农田龟裂|rainfall deficit|parched|crops wither{ed,ing}|dried up",
        1: "缺水|抗旱|water shortage{,s}",
    },
    "rainstorm": {
        6: "暴雨|大暴雨|特大暴雨|暴雨预警|强降雨|rainstorm{,s}|torrential rain{,s}|cloudburst|rainstorm warning{,s}"
        "|black rainstorm|red rainstorm|rainstorm warning signal|extreme rainfall|暴雨红色预警|暴雨橙色预警",
        4: "强降水|downpour{,s}|more rain|rain warning{,s}|rain alert{,s}|受降雨影响|累计雨量|小时雨量",
        3: "降雨|降水|雨量|heavy rain{,s,fall}|heavy rainfall|rain-triggered|intense rainfall|record rainfall",
        1: "毫米|雨水|rainfall|rain|mm of rain",
    },
    "typhoon": {
        6: "台风|强台风|超强台风|热带风暴|强热带风暴|台风预警|typhoon{,s}|hurricane{,s}|cyclone{,s}|tropical storm"
        "|super typhoon|severe tropical storm",
        4: "热带低压|tropical depression",
        3: "登陆|made landfall|landfall|eye of the storm",
    },
    "tornado": {6: "龙卷风|龙卷|tornado{,es}|twister{,s}|waterspout"},
    "snowstorm": {
        6: "暴雪|雪灾|暴雪预警|blizzard{,s}|snowstorm{,s}|bomb cyclone|ice storm{,s}|snow and ice storm{,s}",
        4: "heavy snow{,fall}|积雪深度|snowed in|snow-bound|snow and ice",
        3: "大雪|降雪|积雪|冻雨|雪压|snowfall|freezing rain|snowbound|snowdrifts",
        1: "snow|冰冻|道路结冰",
    },
    "cold_wave": {
        6: "寒潮|寒潮预警|低温冰冻|cold wave|cold snap|cold spell|polar vortex|deep freeze",
        4: "temperatures plunged|temperatures plunging|plunging temperatures|受冻",
        3: "冷空气|霜冻|强降温|剧烈降温|frost|freezing temperatures|sub-zero temperatures|hypothermia",
        1: "降温|低温|冻伤",
    },
    "gale": {
        6: "大风预警|狂风|级大风|级以上大风|雷暴大风|大风黄色预警|大风蓝色预警|大风橙色预警|gale{,s}|gale-force"
        "|windstorm",
        4: "大风|强风|阵风|大风天气|strong winds|high winds|powerful winds|damaging winds",
        3: "刮倒|吹倒|被风吹|吹落|被吹落|刮落|blown down|blown off|toppled by wind{,s}|uprooted|瞬时风力|极大风速"
        "|winds gusting|gusts of up to",
        1: "gusts|wind",
    },
    "sandstorm": {
        6: "沙尘暴|强沙尘暴|沙尘天气|扬沙|sandstorm{,s}|dust storm{,s}|duststorm{,s}|haboob",
        3: "沙尘|浮尘|sand and dust",
    },
    "heat_wave": {
        6: "热浪|高温预警|高温红色预警|高温橙色预警|持续高温|极端高温|热射病|heat wave{,s}|heatwave{,s}|extreme heat",
        4: "高温|酷暑|中暑|heatstroke|heat stroke|heat-related|scorching|record temperatures|temperatures soared",
        1: "最高气温|气温|temperatures",
    },
    "lightning": {
        6: "雷击|遭雷击|被雷击中|雷电|struck by lightning|lightning strike{,s}|lightning",
        2: "雷暴|闪电|雷雨|thunderstorm{,s}",
    },
    "hail": {6: "冰雹|雹灾|降雹|hailstorm{,s}|hailstone{,s}|hail"},
    "fog": {
        6: "大雾预警|大雾橙色预警|大雾红色预警|大雾黄色预警|浓雾预警|fog warning|dense fog warning",
        4: "大雾|浓雾|强浓雾|dense fog|heavy fog|thick fog|受大雾影响|大雾天气",
        3: "团雾|雾天|in dense fog|in heavy fog|in thick fog|foggy",
        1: "雾|雾霾|能见度|fog|smog|visibility",
    },
    "earthquake": {
        6: "地震|强震|震中|震级|震源深度|抗震救灾|级地震|余震|earthquake{,s}|quake{,s}|temblor|epicent{er,re}"
        "|tremor{,s}"
        "|richter|aftershock{,s}|seismic",
        3: "震感|震区|地震局|magnitude",
    },
    "landslide": {
        6: "滑坡|山体滑坡|山体崩塌|岩崩|landslide{,s}|landslip{,s}|rockfall{,s}|rock slide",
        5: "塌方|山体垮塌|土石方|掩埋道路|slope collapse|rockslide",
        3: "崩塌|落石|山石滚落|boulders",
    },
    "debris_flow": {6: "泥石流|山洪泥石流|debris flow{,s}|mudflow{,s}|mud-rock flow|mud and rock", 5: "mudslide{,s}"},
    "land_subsidence": {
        6: "地面塌陷|地面沉降|路面塌陷|地陷|天坑|地裂缝|地面开裂|sinkhole{,s}|subsidence|ground subsidence|land sank"
        "|ground sank|groundwater pumping|crack opened in the ground",
        3: "塌陷|沉降|ground collapse|road caved in|caved in",
    },
    "storm_surge": {
        6: "风暴潮|风暴增水|storm surge{,s}|tidal surge",
        4: "海水倒灌|海水漫堤|seawater surged|seawater flooded|seawall",
        3: "天文大潮|潮位|king tide|high tide",
    },
    "tsunami": {6: "海啸|tsunami{,s}"},
    "biological_disaster": {
        6: "蝗灾|蝗虫|病虫害|虫害|草地贪夜蛾|松材线虫|红火蚁|美国白蛾|鼠害|稻飞虱|locust{,s}|pest infestation"
        "|armyworm{,s}|fall armyworm|fire ant{,s}|pine wilt|bark beetle{,s}|crop pest{,s}",
        3: "赤潮|外来物种|生物入侵|虫灾|林业有害生物|infestation|red tide|invasive species|pest{,s}|swarm{,s}",
    },
    "forest_fire": {
        6: "森林火灾|草原火灾|森林草原火灾|山火|林火|林区火灾|森林大火|草场火灾|荒山火|wildfire{,s}|bushfire{,s}"
        "|bush fire{,s}|forest fire{,s}|brush fire{,s}|brushfire{,s}|grass fire{,s}|grassfire{,s}|wildland fire{,s}"
        "|scrub fire{,s}|grassland fire{,s}|vegetation fire{,s}|forest blaze",
        4: "烧荒|野外用火|上坟烧纸|祭祀用火|林地过火|山林起火|林木过火",
        3: "过火面积|扑火|火线|防火隔离带|acres burned|hectares burned|containment|percent contained|% contained",
    },
    # ---- accident_disaster ----
    "mine": {
        6: "煤矿|矿难|矿井|瓦斯|透水|冒顶|煤与瓦斯突出|矿工|井下|非煤矿山|尾矿库|尾矿坝|tailings dam|coal mine{,s}"
        "|colliery|collieries"
        "|miners|mine blast|mine collapse|mine explosion|mine flood{,ing}|gas outburst|coal pit|mineshaft",
        4: "矿山|金矿|铁矿|铜矿|煤业|采煤|采空区|露天矿|采石场|mine|mining|quarry|tailings",
    },
    "hazardous_chemicals": {
        6: "危险品|危险货物|危化品|危险化学品|化工厂|化工园区|槽罐车|油罐车|液化气罐车|液氨|液氯|氯气|氢氟酸|硝酸铵"
        "|光气|氰化钠|化学品泄漏"
        "|hazardous chemical{,s}|hazardous material{,s}|hazmat|chemical plant|chemical factory|chemical leak"
        "|chemical spill|chemical explosion|加油站|加气站|gas station|petrol station|fuel tank{,s}|fuel depot"
        "|tanker truck|tank truck|ammonium nitrate|chlorine|chemical park",
        4: "化工|化学品|罐车|氯乙烯|环氧乙烷|二甲苯|液化天然气|氢气|乙炔|二氧化硫|汽油|柴油|油罐|氨气|硫酸|盐酸|硝酸"
        "|甲苯|苯乙烯|丙烯|甲醇|氰化物|储罐|石化|炼油厂|炼化|有毒气体"
        "|腐蚀性|chemical{,s}|ammonia|sulfuric acid|sulphuric acid|hydrochloric acid|nitric acid|hydrofluoric acid"
        "|toluene|styrene|methanol|vinyl chloride|ethylene oxide|xylene|hydrogen chloride|lng|phenol"
        "|acrylonitrile|fuel tanker|petrol tanker|gasoline tanker|oil tanker|hazardous cargo|dangerous goods|cyanide"
        "|petrochemical|refinery|storage tank{,s}|toxic gas|toxic fumes|tanker",
        2: "易燃|有毒|泄漏|泄露|外泄|flammable|corrosive|leak{,s,ed,ing}|spill{,s,ed,ing}",
    },
    "explosion": {
        6: "爆炸事故|粉尘爆炸|锅炉爆炸|烟花爆竹|燃爆事故|花炮厂|烟花厂|鞭炮厂|dust explosion|boiler explosion"
        "|fireworks factory|firework{,s}",
        4: "爆炸|爆燃|燃爆|闪爆|发生爆炸|巨响|花炮|鞭炮|炸药|民爆|explosion{,s}|exploded|explode{,s}|blast{,s}|blew up"
        "|firecrackers|dynamite|explosives|gas explosion{,s}",
        1: "爆裂|burst",
    },
    "building_fire": {
        6: "火灾事故|电气火灾|居民楼起火|住宅火灾|caught fire|fire broke out|house fire|apartment fire"
        "|building fire|warehouse fire|factory fire|high-rise fire|set ablaze|burned down|burnt down",
        4: "火灾|起火|着火|失火|大火|自燃|燃起|烧毁|fire{,s}|blaze{,s}|inferno|on fire|gutted|smoke inhalation"
        "|thick smoke|black smoke|heavy smoke|smoke billowing|billowing smoke|smoke pouring",
        5: "arson attack|纵火案|加油站起火",
        3: "火情|火势|浓烟|明火|火警|烧死|引燃|引发火灾|flames|arson|ignited",
        2: "燃烧|冒烟|过火|灭火|扑灭|烧伤|纵火|engulfed|smoke|burning|burned|burnt|burns|smoulder{ing}|smolder{ing}",
        1: "消防|火场|firefighters|fire brigade|fire department|fire service|fire engines|fire crews",
    },
    "road_traffic": {
        6: "交通事故|车祸|多车相撞|连环撞|撞车|追尾|traffic accident{,s}|road accident{,s}|car crash|car accident"
        "|pile-up|pileup|pile up|multi-vehicle|rear-ended|hit-and-run|traffic collision|road crash|bus crash"
        "|bus accident|truck crash|head-on collision",
        4: "相撞|侧翻|翻车|坠崖|冲出路面|驶入对向车道|肇事|交警|撞上|撞倒|碾压|翻下|head-on|collided|collision{,s}"
        "|overturned|rolled over|plowed into|ploughed into|veered|swerved|skidded|ran over|run over|hit by a car"
        "|colliding"
        "|crashed into|smashed into|slammed into|rammed into|went off the road"
        "|off the bridge|{car,bus,truck,lorry,van,coach,vehicle} {hit,struck,rammed}|car into {the ,a ,}river"
        "|plunged into"
        "|knocked down|traffic police|plunged off|fell off a cliff|冲破护栏|冲出护栏|撞断护栏|撞破护栏|坠河|坠江"
        "|冲入河|驶入河|刹车失灵|crashed through|坠入山崖|坠下山崖|翻下山崖|坠入悬崖|坠入深沟"
        # Issue 26 reviewed the words added with the tuned set: 连撞 ("hit one after another") is said of vehicles
        # only and stays; "brake failure" went (lifts, trains and escalators fail their brakes too).
        "|连撞",
        2: "碰撞|司机|驾驶员|货车|大货车|客车|大巴|面包车|轿车|公交车|校车|摩托车|高速公路|国道|省道|crash{,ed,es}"
        "|bus|truck{,s}|lorry|lorries|minibus|van|vehicle{,s}|driver{,s}|motorist{,s}|highway|expressway"
        "|motorway|freeway|motorcycle|坠入|中巴|中巴车|大客车|小客车|越野车|皮卡|三轮车|拖拉机|渣土车|半挂车|私家车"
        "|出租车|网约车",
        1: "高速|路段|车辆|电动车|car{,s}|road",
    },
    "rail": {
        6: "脱轨|出轨|脱线|动车|动车组|高铁|列车相撞|火车相撞|derail{,ed,ment,s}|train crash|train collision"
        "|high-speed rail"
        "|bullet train{,s}|freight train{,s}|passenger train{,s}|commuter train{,s}|level crossing|railway crossing",
        3: "列车|火车|地铁|轻轨|有轨电车|城轨|铁路|机车|道口|train{,s}|railway|railroad|subway|light rail"
        "|tram{,s}|locomotive|railway line",
        2: "车厢|站台|铁轨|carriage{,s}|metro|platform|track{,s}",
    },
    "aviation": {
        6: "坠机|空难|客机|冲出跑道|迫降|备降|黑匣子|plane crash|air crash|airliner|crash-landed|crash landing"
        "|emergency landing|skidded off the runway|black box|passenger jet|plane{,s}|airplane|aircraft",
        4: "航班|飞机|民航|坠毁|直升机|机组|通用航空|flight|jet|runway|airline{,s}|helicopter|cockpit|boeing|airbus"
        "|turbulence|air traffic",
        2: "机场|跑道|失事|airport|pilot{,s}",
    },
    "waterway": {
        6: "沉船|翻沉|翻船|水上交通事故|轮渡|渡船|搁浅|触礁|capsized|capsize{,s}|shipwreck|ferry|ferries|ran aground",
        4: "船只|船舶|渔船|客船|货船|游船|翻覆|沉没|落水|船员|海事|海上搜救|游艇|快艇|渡口|ship{,s}|vessel{,s}"
        "|boat{,s}|fishing boat{,s}|cargo ship|barge|maritime|overboard|coast guard|tugboat|yacht|sank|sinking",
        2: "码头|溺水|drowned|drowning|crew members",
    },
    "construction": {
        6: "工地|施工现场|脚手架|塔吊|塔式起重机|施工升降机|基坑|深基坑|高支模|模板坍塌|架桥机|construction site"
        "|building site|scaffold{,ing}|tower crane|formwork",
        4: "施工|在建|吊装|高处坠落|建筑工人|盾构|under construction|construction workers|crane"
        "|excavation|trench|fell from height|unfinished|under-construction|halt work|work was halted",
        1: "坠落|工人|作业|workers",
    },
    "building_collapse": {
        6: "房屋倒塌|楼房倒塌|桥梁垮塌|桥梁坍塌|自建房倒塌|大楼倒塌|building collapse|bridge collapse|roof collapse"
        "|collapsed building|collapsed bridge|overpass collapse|grandstand collapse",
        2: "桥梁|大桥|拱桥|石拱桥|高架桥|立交桥|人行天桥|桥面|看台|overpass|flyover|viaduct|footbridge|bridge"
        "|grandstand|elevated road|elevated highway|平房|瓦房|土坯房|老房子|楼房"
        # Kept after issue 26's review: a brick house is the commonest building that falls in a report.
        "|砖房",
        4: "坍塌|垮塌|倒塌|塌落|断桥|自建房|危房|废墟|压埋|collapse{,s,d}|caved in|gave way|rubble|structural failure",
        1: "被埋|buried|trapped under|debris",
    },
    "gas_leak": {
        6: "燃气泄漏|天然气泄漏|煤气泄漏|液化气泄漏|漏气|煤气中毒|一氧化碳中毒|燃气泄露|天然气泄露|gas leak{,s}"
        "|leaking gas|smell of gas|carbon monoxide poisoning|co poisoning|燃气味|煤气味|gas smell|smelled gas",
        4: "燃气|天然气|液化气|液化石油气|煤气|燃气管道|燃气罐|煤气罐|气罐|沼气|一氧化碳|natural gas|gas main"
        "|gas pipeline|gas pipe|gas line|gas cylinder{,s}|lpg|propane|carbon monoxide|gas explosion{,s}",
        1: "gas",
    },
    "utility_outage": {
        6: "大面积停电|停电|断电|停水|供水中断|通信中断|停电事故|power outage{,s}|blackout{,s}|power cut{,s}"
        "|power failure|without power|lost power|without electricity|water outage|water supply cut",
        4: "断水|网络中断|光缆|电网|跳闸|电力故障|供暖中断|爆管|停气|outage{,s}|substation|grid failure|water main"
        "|communications outage|network outage|power grid|fibre-optic|fiber-optic|optical cable|internet services"
        "|mobile services|phone services|telecom services|services were disrupted|通信光缆|通讯中断",
        2: "供电|抢修|电力|供水|transformer|burst pipe|power lines",
    },
    "public_facility": {
        6: "拥挤踩踏|踩踏|自动扶梯|游乐设施|过山车|摩天轮|玻璃栈道|充气城堡|stampede|crowd crush|escalator"
        "|amusement ride|roller coaster|ferris wheel|bouncy castle",
        5: "高空坠物|玻璃幕墙|幕墙脱落|falling glass|falling debris|facade collapse",
        4: "电梯|扶梯|游乐场|脱落|坠物|幕墙|索道|缆车|广告牌|井盖|看台|蹦床|滑梯|elevator|cable car|gondola|bleachers"
        "|billboard"
        "|manhole|zip line|water park|theme park|amusement park",
        1: "lift|ride",
    },
    "environmental_pollution": {
        5: "chemical smell|foul smell|dumped into|storm drain|river turned|crude oil|killing fish|killed fish"
        "|fish and wildlife|into a creek|into the creek|into a stream|untreated sewage"
        # Issue 26's review: "untreated" makes waste water a discharge, in any report, so it stays; "foul-smelling"
        # went (it says as much of leaking gas, smoke or spoiled food as of a polluted stream).
        "|untreated waste water",
        6: "环境污染|水污染|水体污染|大气污染|土壤污染|生态破坏|排污|偷排|超标排放|死鱼|鱼类死亡|溢油|原油泄漏|漏油"
        "|污染带|突发环境事件|oil spill|fish kill|dead fish|polluted|pollution|environmental emergency",
        4: "污染|油污|饮用水源|水源地|废水|重金属|镉|铊|锑|砷|蓝藻|入河|流入河道|排入河道|进入水体|contamination"
        "|into the river"
        "|into the sea|into the lake|water intake|heavy metal{,s}|cadmium"
        "|thallium|arsenic|algal bloom|slick|sewage|wastewater|waste water|effluent|dumping|water quality"
        "|drinking water source"
        "|水质监测|应急监测|stench|paper mill",
        2: "水质|污水|废气|异味|生态环境|环保|超标|流入|into a river|contaminated|discharge{,d}|emissions"
        "|environmental",
    },
    "nuclear_radiation": {
        6: "核电站|核电厂|核泄漏|核事故|核辐射|核污染|放射源|放射性物质|核设施|核应急|nuclear plant|nuclear power plant"
        "|nuclear accident|radioactive|radiological|radiation leak|dirty bomb|nuclear reactor|meltdown{,s}",
        4: "辐射|放射性|反应堆|钴-60|铱-192|辐照|radiation|reactor|cesium|caesium|cobalt-60|iridium-192|irradiation"
        "|sievert{,s}|nuclear",
        2: "射线|铯|dosimeter",
    },
}
