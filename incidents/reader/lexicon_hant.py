"""Traditional Chinese characters folded to simplified ones, so that reports from Hong Kong, Taiwan and overseas
sources (礦工, 受傷, 颱風, 死亡人數) match the simplified lexicons and fact patterns.

Generated once from the character tables of the ``hanziconv`` package (Apache-2.0), keeping only the traditional
characters whose simplified form appears in a lexicon, a cue or a fact pattern; 洩 (a variant of 泄) was added by hand.
Character by character is enough for matching: the few one-to-many cases (乾/干, 後/后) fold to the form the
lexicons use.
"""

from __future__ import annotations

from typing import Final

TRADITIONAL: Final = (
    "車見兒長東來兩門亞狀計飛風負軌紅約後為係員財倉個芻級紙凍鬥討訊訓庫馬畝氣閃陣師時隻衹訪設軟區組閉側釣"
    "産陸處帶頂頃動務貨貪責婦乾捲捨視國華專淺連這氫殺習現魚眾惡貶鈉報場備傢測診棧喪結絡統陽發復揚幾間開進"
    "睏勞圍無預綁經鈷鉛鉈裏裝溝滅飯飲傳傷達過運當搶損電煉極業資幹號匯彙會節較亂農歲勢暈園閘銨銫銅銥銀認誤"
    "誘嘔態漢漁漲滯緊網維綫綜賓塵稱種對閤僑輕構槍劃禍監領實颱臺團聞與殞製鋪銻噁噴嘯養罷輛輪幣潰澇練線緻標"
    "樂樓彈擊撲層賣質調談廠廢廣廟徵衝瘧導數墳墜髮膚複駕駛駐颳劇萬價億寫碼確鬧熱蝕適暫噹諾餘應積蓋輻磚鴨燒"
    "據擁濃篩築龜頻頭機橋舉曆歷龍險學鍋環闆謠濟濕擱擠擬館聯檢點糞縫總縱購獲褻瞭臨嬰牆壓題鵝鎘檯蟲雞儲簡瀆"
    "瀉斷醫舊騎職織轉鬆鏈蟻類壞繫穫穩證轎離難嚮獸霧齣繼攔懸觸礦藍癥嚴騷爐麵糰響議鷄纍續鐵護欄闢藥屬襲權變"
    "體靈壩癱鹽韆纜鬨脫兌產著汙瘓橫並掛毀內災強腳溫豬虛靜拋戶滾煙湧沒蹤裡黃冇決異廂遊於洩"
)
SIMPLIFIED: Final = (
    "车见儿长东来两门亚状计飞风负轨红约后为系员财仓个刍级纸冻斗讨讯训库马亩气闪阵师时只只访设软区组闭侧钓"
    "产陆处带顶顷动务货贪责妇干卷舍视国华专浅连这氢杀习现鱼众恶贬钠报场备家测诊栈丧结络统阳发复扬几间开进"
    "困劳围无预绑经钴铅铊里装沟灭饭饮传伤达过运当抢损电炼极业资干号汇汇会节较乱农岁势晕园闸铵铯铜铱银认误"
    "诱呕态汉渔涨滞紧网维线综宾尘称种对合侨轻构枪划祸监领实台台团闻与殒制铺锑恶喷啸养罢辆轮币溃涝练线致标"
    "乐楼弹击扑层卖质调谈厂废广庙征冲疟导数坟坠发肤复驾驶驻刮剧万价亿写码确闹热蚀适暂当诺余应积盖辐砖鸭烧"
    "据拥浓筛筑龟频头机桥举历历龙险学锅环板谣济湿搁挤拟馆联检点粪缝总纵购获亵了临婴墙压题鹅镉台虫鸡储简渎"
    "泻断医旧骑职织转松链蚁类坏系获稳证轿离难向兽雾出继拦悬触矿蓝症严骚炉面团响议鸡累续铁护栏辟药属袭权变"
    "体灵坝瘫盐千缆闹脱兑产着污痪横并挂毁内灾强脚温猪虚静抛户滚烟涌没踪里黄没决异厢游于泄"
)
TO_SIMPLIFIED: Final = str.maketrans(TRADITIONAL, SIMPLIFIED)
