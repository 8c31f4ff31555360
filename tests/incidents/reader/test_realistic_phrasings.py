"""General behaviours behind the blind-set fixes: each case is a phrasing real sources use, not a blind-set line."""

from __future__ import annotations

from typing import Any

import pytest

from incidents.reader import classify, extract_facts


def facts(text: str) -> dict[str, Any]:
    return extract_facts(text)[0].model_dump(exclude_none=True, exclude_defaults=True)


@pytest.mark.parametrize(
    ("text", "subtype"),
    [
        # Traditional characters (Hong Kong, Taiwan, overseas sources) fold to the simplified lexicon.
        ("新疆哈密煤業集團二井發生重大透水事故,24名礦工被困井下。", "mine"),
        ("萬載縣一花炮廠發生燃爆事故,導致五人死亡,四人受傷。", "explosion"),
        # A question is not a denial.
        ("刚才床晃了好几下，是不是地震了", "earthquake"),
        # A meeting or a work plan that states no occurrence is no event; with an occurrence it is.
        ("省应急管理厅召开防汛会商会，部署下一阶段防汛工作。", None),
        ("省防指召开会商会。受强降雨影响，XX河发生超警戒水位洪水，已转移群众1.2万人。", "flood"),
        # A rumour refuted and normal operations confirmed: no event.
        ("网传某化工厂爆炸系谣言，该视频为外地旧闻，企业生产秩序正常。", None),
        # Weather that only delays flights or trains is the weather, not a transport accident.
        ("受大雾影响，机场多个航班延误，高速公路部分收费站临时封闭。", "fog"),
        ("Heavy snow stranded thousands of travellers at railway stations as trains were delayed.", "snowstorm"),
        # A background sentence about an earlier event does not decide the class.
        ("A landslide buried a village in Yunnan early Monday. The area was hit by a 2014 earthquake.", "landslide"),
        (
            'The houses were shaking. A landslide hit the village at dawn. "It felt as if there were an earthquake."',
            "landslide",
        ),
        # What people protest about is not the event; ethnic or religious clashes are their own subtype.
        ("Villagers protested outside a chemical plant over pollution, blocking the road.", "mass_incident"),
        ("Clashes between Buddhist and Muslim communities left 20 dead.", "ethnic_religious"),
        # A named cause of another event counts less, whatever its kind.
        ("受禽流感疫情消息影响，多地药店出现抢购板蓝根现象。", "economic_security"),
        # A smell describes many events: it does not make a fire a pollution event (issue 26 took "foul-smelling" out).
        ("A foul-smelling plume of smoke rose from a burning tyre warehouse.", "building_fire"),
        # Dangerous goods leaking gas are a dangerous-goods accident, not a household gas leak.
        ("A tanker truck carrying liquid ammonia overturned on a highway, leaking gas.", "hazardous_chemicals"),
        # A structure named with "collapsed" is a collapse.
        ("A 5-storey hotel collapsed in Quanzhou, trapping 71 people.", "building_collapse"),
        # Tsunami waves named first, from a distant quake.
        ("Tsunami waves reached Hokkaido hours after a distant quake off Kamchatka.", "tsunami"),
    ],
)
def test_classification(text: str, subtype: str | None) -> None:
    assert classify(text).subtype == subtype


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("致1人死亡2人受伤", {"deaths": 1, "injuries": 2}),
        ("死亡2人受伤5人", {"deaths": 2, "injuries": 5}),
        ("一村民在田间劳作时遭雷击，经抢救无效死亡。", {"deaths": 1}),
        ("The blast killed the driver and injured two passengers.", {"deaths": 1, "injuries": 2}),
        ("An elderly couple died of carbon monoxide poisoning.", {"deaths": 2}),
        ("A worker fell 20 metres from scaffolding and was pronounced dead at hospital.", {"deaths": 1}),
        ("遇難人數增加到67人,另有受傷7人。", {"deaths": 67, "injuries": 7}),
        ("直接经济损失149.2亿元", {"economic_loss_cny": 14_920_000_000}),
        ("Hundreds feared dead after a ferry capsized; 103 bodies have been recovered.", {"deaths": 103}),
        (
            "More than 1,200 local people were immediately evacuated.",
            {"evacuated": 1200, "lower_bounds": ["evacuated"]},
        ),
        (
            "15 people found dead in landslide. The official compared it with a magnitude 7.9 temblor that struck in "
            "May 2008, killing nearly 90,000 people.",
            {"deaths": 15},
        ),
    ],
)
def test_facts(text: str, expected: dict[str, Any]) -> None:
    got = facts(text)
    assert {k: got.get(k) for k in expected} == expected
