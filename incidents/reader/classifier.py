"""Classify a report into category and subtype: weighted lexicon evidence, then the trap rules of DOMAIN.md section 1.

Deterministic, offline and explainable: every point of a score comes from a matched term, and every transfer of
score between subtypes from a named rule below. The lexicons are compiled once, at import; the reader's door
(``incidents.reader``) imports this module on first use.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from incidents.reader import lexicon, lexicon_social
from incidents.reader.cues import CAUSE, CUE_TERMS, MEETING, OCCURRED, background_spans
from incidents.reader.termindex import TermIndex, normalize
from incidents.schemas import Classification
from incidents.taxonomy import NATURAL, SUBTYPES

_INDEX = TermIndex((lexicon.SUBTYPE_TERMS, lexicon_social.SUBTYPE_TERMS, CUE_TERMS))

MIN_SCORE = 3.0  # below this no event is recognised: one supporting word ("smoke", "police") is not a report
NEGATED = -0.5  # "未发生火灾", "no fire": the term counts against its subtype
REPEAT = (1.0, 0.35, 0.2)  # the same term again adds less: news repeats its key word
WEAK = 3.0  # terms below this weight only support: their sum per subtype is capped...
WEAK_CAP = 4.0  # ...so that a pile of nouns (bus, driver, road) cannot outvote one decisive term
DRILL = 0.15  # a drill or simulation is not an event
DEBUNKED = 0.5  # "系谣言", "false alarm": a lone mention no longer counts as an event
REFUTED = 4.0  # debunking cues this strong ("系谣言" and "秩序正常") say there is no event: damped like a drill
CAUSED_BY = 0.6  # a hazard or an event named as the cause of the event reported ("受台风影响", "因燃气泄漏引发")
PAST = 0.3  # a term in a background sentence about another, earlier event (never the lead sentence)
HEDGE = 0.6  # rumour, unconfirmed, debunked: keep the class, lower the confidence
MAX_MATCHED = 12
WEATHER = ("fog", "rainstorm", "snowstorm", "cold_wave", "gale", "hail", "sandstorm", "lightning", "heat_wave")
TRANSPORT = ("rail", "aviation", "waterway")
_WEATHER_VICTIMS = (
    "building_collapse",
    "forest_fire",
    "building_fire",
    "construction",
    "public_facility",
    "utility_outage",
)


@dataclass
class Evidence:
    """Scores per subtype, the terms behind them, the strongest single term per subtype and the cue weights."""

    scores: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    terms: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    top: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    cues: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    cue_terms: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    weak: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    discounted: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    first: dict[str, int] = field(default_factory=dict)  # where each subtype's first strong term starts

    def move(self, to: str, frm: tuple[str, ...], share: float = 1.0, keep: float = 0.3) -> None:
        """Transfer ``share`` of the score of ``frm`` subtypes to ``to``; each donor keeps ``keep`` of its score."""
        for name in frm:
            if name != to and self.scores.get(name, 0.0) > 0:
                self.scores[to] += share * self.scores[name]
                self.scores[name] *= keep
                self.terms[to].extend(self.terms[name])

    def cite(self, to: str, *cues: str) -> None:
        """Name the cue terms that steered a rule among the matched terms of ``to``."""
        for cue in cues:
            self.terms[to].extend(self.cue_terms[cue])


_FAR = 1 << 30  # position of a subtype never named
_NATURAL = frozenset(key for key, sub in SUBTYPES.items() if sub.category == NATURAL)


def _collect(folded: str) -> Evidence:
    ev = Evidence()
    causes = [m.span() for m in CAUSE.finditer(folded)]
    past = background_spans(folded)
    seen: defaultdict[str, int] = defaultdict(int)
    weak = ev.weak
    for hit in _INDEX.find(folded):
        count = seen[hit.term]
        seen[hit.term] += 1
        if count >= len(REPEAT):
            continue
        for key, weight in hit.entries:
            if key.startswith("@"):
                if not hit.negated:
                    ev.cues[key] += weight * REPEAT[count]
                    ev.cue_terms[key].append(hit.term)
            elif hit.negated:
                ev.scores[key] += NEGATED * weight
            elif any(a <= hit.start < b for a, b in past):
                ev.scores[key] += PAST * weight * REPEAT[count]
            elif weight < WEAK:
                weak[key] += weight * REPEAT[count]
                ev.terms[key].append(hit.term)
            else:
                cause = any(a <= hit.start < b for a, b in causes)
                ev.scores[key] += weight * REPEAT[count] * (CAUSED_BY if cause else 1.0)
                if cause:
                    ev.discounted[key] += weight * REPEAT[count] * (1.0 - CAUSED_BY)
                ev.top[key] = max(ev.top[key], weight)
                ev.terms[key].append(hit.term)
                ev.first.setdefault(key, hit.start)
    for key, total in weak.items():
        ev.scores[key] += min(total, WEAK_CAP)
    # "受大雾影响，航班延误": a hazard named as a cause, with no other event reported, is itself the event.
    if ev.discounted and not any(s >= MIN_SCORE for k, s in ev.scores.items() if k not in ev.discounted):
        for key, amount in ev.discounted.items():
            ev.scores[key] += amount
    return ev


def _animal_or_human(ev: Evidence) -> None:
    # Bird flu in poultry is an animal epidemic; a person infected is an infectious-disease case.
    human = ev.cues["@human_case"] >= 3
    if ev.cues["@avian"] and human:
        ev.move("infectious_disease", ("animal_epidemic",), keep=0.2)
        ev.scores["infectious_disease"] += 3
        ev.cite("infectious_disease", "@avian", "@human_case")
    elif (ev.top["animal_epidemic"] >= 4 or (ev.cues["@avian"] and ev.cues["@poultry"])) and not human:
        ev.move("animal_epidemic", ("infectious_disease",), keep=0.2)
        ev.cite("animal_epidemic", "@poultry")


def _poison_target(ev: Evidence) -> str:
    dg = ev.top["hazardous_chemicals"] >= 4
    release = ev.cues["@leak"] > 0 or ev.top["explosion"] >= 4
    work = ev.cues["@work"] > 0
    food = ev.top["food_poisoning"] >= 4 or ev.cues["@drink"] > 0
    if ev.top["major_crime"] >= 6 and {"投毒", "poisoning case"} & set(ev.terms["major_crime"]):
        return "major_crime"
    if not food and ev.top["unexplained_illness"] >= 6:
        return "unexplained_illness"
    if not food and ev.top["infectious_disease"] >= 6:
        return "infectious_disease"
    if ev.top["gas_leak"] >= 6 and not dg:
        return "gas_leak"
    if food:
        return "food_poisoning"
    if ev.top["gas_leak"] >= 4 and not dg:
        return "gas_leak"
    if release and dg and not ev.cues["@chronic"]:
        return "hazardous_chemicals"
    if ev.cues["@residents"] and not work and ev.top["occupational_poisoning"] >= 4:
        # Blood lead in villagers' children near a smelter is pollution, not an occupational disease.
        return "environmental_pollution"
    if ev.top["occupational_poisoning"] >= 4 or work:
        ev.move("occupational_poisoning", ("hazardous_chemicals",), share=0.5, keep=0.3)
        return "occupational_poisoning"
    return "hazardous_chemicals" if release else "food_poisoning"


def _poisoning_route(ev: Evidence) -> None:
    # How the poison reached people decides the subtype: eaten or drunk, a sudden release, or work over time.
    poison = ev.cues["@poison"]
    if not poison and ev.top["occupational_poisoning"] < 4:
        return
    target = _poison_target(ev)
    ev.scores[target] += 2 + poison
    ev.cite(target, "@poison")
    rivals = ("food_poisoning", "occupational_poisoning", "unexplained_illness", "infectious_disease")
    ev.move(target, rivals, share=0.3, keep=0.3)


def _bomb(ev: Evidence) -> None:
    # A bomb or a claimed attack is social security, although it explodes and may start a fire.
    if ev.top["terrorist_attack"] >= 6:
        ev.move("terrorist_attack", ("explosion", "building_fire", "major_crime"), share=0.5, keep=0.2)


def _mine(ev: Evidence) -> None:
    # A gas explosion, flooding, collapse or fire underground is a mine accident (瓦斯爆炸, 透水, 冒顶).
    if ev.top["mine"] >= 6:
        donors = ("explosion", "gas_leak", "building_collapse", "flood", "building_fire", "hazardous_chemicals")
        ev.move("mine", donors, share=0.5, keep=0.2)


def _dangerous_goods(ev: Evidence) -> None:
    # Dangerous goods involved: the response is organised around them, over fire, explosion or the crash.
    top = ev.top["hazardous_chemicals"]
    if top >= 4:
        donors = ("building_fire", "explosion", "road_traffic", "rail", "waterway", "gas_leak")
        ev.move("hazardous_chemicals", donors, share=0.6 if top >= 6 else 0.4, keep=0.3 if top >= 6 else 0.6)


def _transport_mode(ev: Evidence) -> None:
    # "Two trains collided head-on": crash words belong to the mode named (train, plane, ship), not to the road.
    for mode in TRANSPORT:
        named = ev.top[mode] >= 6 or (ev.top[mode] >= 4 and not ev.weak["road_traffic"])
        if named and ev.scores[mode] >= ev.top["road_traffic"]:
            ev.move(mode, ("road_traffic",), share=0.7, keep=0.3)


def _fuel_gas(ev: Evidence) -> None:
    # A gas explosion in a building is an explosion (DOMAIN allows explosion or gas_leak); without one, a leak.
    if ev.top["gas_leak"] < 4:
        return
    if ev.top["explosion"] >= 4:
        ev.move("explosion", ("gas_leak", "building_collapse", "building_fire"), share=0.5, keep=0.3)
        ev.scores["explosion"] += 2
    elif ev.top["hazardous_chemicals"] >= 6:
        # A tanker or a chemical plant leaking gas is a dangerous-goods accident.
        ev.move("hazardous_chemicals", ("gas_leak",), share=0.6, keep=0.4)
    else:
        ev.move("gas_leak", ("building_fire", "hazardous_chemicals"), share=0.6, keep=0.4)


def _earthquake(ev: Evidence) -> None:
    # A collapse, landslide or tsunami caused by an earthquake is the earthquake; tsunami waves reported first, with
    # the quake as their far-away source ("waves reached Hokkaido hours after a quake off Kamchatka"), are the tsunami.
    if ev.top["earthquake"] >= 6:
        donors: tuple[str, ...] = ("building_collapse", "landslide", "debris_flow", "land_subsidence", "utility_outage")
        if ev.first.get("tsunami", _FAR) > ev.first.get("earthquake", _FAR):
            donors += ("tsunami",)
        ev.move("earthquake", donors, share=0.8, keep=0.3)
        ev.move("earthquake", ("building_fire", "construction"), share=0.3, keep=0.5)


def _geohazard(ev: Evidence) -> None:
    # Houses buried by a landslide or a debris flow: the slope, not the building, organises the response.
    for hazard in ("landslide", "debris_flow", "land_subsidence", "typhoon", "tornado", "flood"):
        if ev.top[hazard] >= 6:
            ev.move(hazard, ("building_collapse", "utility_outage"), share=0.5, keep=0.4)
        if ev.top[hazard] >= 5 and hazard in ("landslide", "debris_flow"):
            ev.move(hazard, ("construction", "road_traffic", "mine"), share=0.5, keep=0.4)
        if ev.top[hazard] >= 5 and hazard in ("landslide", "debris_flow", "land_subsidence"):
            for name in ("rainstorm", *WEATHER):
                ev.scores[name] *= 0.5


def _fire_where(ev: Evidence) -> None:
    # A fire in a forest or on grassland is a natural disaster even when a person lit it; elsewhere it is a fire.
    if ev.scores["building_fire"] <= 0:
        return
    forest, building = ev.cues["@forest_ctx"], ev.cues["@building_ctx"]
    direct = ev.top["forest_fire"] >= 4
    if (direct and building <= forest + 2) or (not direct and forest > building):
        ev.move("forest_fire", ("building_fire",), keep=0.3)
        ev.cite("forest_fire", "@forest_ctx")


def _transport_fire(ev: Evidence) -> None:
    # A fire caused by a crash (no dangerous goods) is the crash; a fire aboard a plane, train or ship is that mode.
    if ev.scores["building_fire"] <= 0:
        return
    if ev.cues["@crash"] and ev.top["road_traffic"] >= 4:
        ev.move("road_traffic", ("building_fire",), keep=0.3)
    for mode in TRANSPORT:
        if ev.top[mode] >= 4 and ev.scores[mode] >= 5:
            ev.move(mode, ("building_fire",), share=0.7, keep=0.3)


def _disruption(ev: Evidence) -> None:
    # "Dense fog grounded flights", "heavy snow stranded travellers at railway stations": delays and closures are what
    # the weather did, not a transport accident (no crash, derailment or capsizing named).
    if not ev.cues["@disruption"] or ev.cues["@crash"]:
        return
    if any(ev.top[m] >= 6 for m in TRANSPORT) or not any(ev.scores[n] >= MIN_SCORE for n in _NATURAL):
        return
    for name in (*TRANSPORT, "road_traffic"):
        ev.scores[name] *= 0.3


def _identity_conflict(ev: Evidence) -> None:
    # Clashes or a crowd over an ethnic or religious matter are an ethnic or religious incident, not a plain protest.
    if ev.top["ethnic_religious"] >= 4 and ev.scores["ethnic_religious"] >= 4:
        ev.move("ethnic_religious", ("mass_incident",), share=0.6, keep=0.4)


def _grievance(ev: Evidence) -> None:
    # "Villagers protested outside a chemical plant over pollution": what people protest about is not the event,
    # unless something happened there (a leak, a crash, a blast or a fire).
    happened = ev.cues["@leak"] or ev.cues["@crash"] or ev.top["explosion"] >= 4 or ev.top["building_fire"] >= 4
    if ev.top["mass_incident"] >= 6 and not happened:
        donors = ("hazardous_chemicals", "environmental_pollution", "construction", "mine")
        ev.move("mass_incident", donors, share=0.5, keep=0.3)


def _weather_in_passing(ev: Evidence) -> None:
    # "Pile-up in dense fog": weather named as a condition of an accident does not make it a natural disaster.
    crash = ev.cues["@crash"] > 0 and ev.top["road_traffic"] >= 4
    accident = crash or any(ev.top[m] >= 6 for m in TRANSPORT)
    if accident or (ev.cues["@weather_cond"] and any(ev.scores[m] >= 4 for m in (*TRANSPORT, "road_traffic"))):
        for name in WEATHER:
            ev.scores[name] *= 0.25
    elif not ev.cues["@disaster"] and any(ev.top[s] >= 4 for s in _WEATHER_VICTIMS):
        # A collapse or a fire "after days of downpours" or "whipped by gale-force winds" is that event.
        for name in WEATHER:
            ev.scores[name] *= 0.5


def _collapse_of_what(ev: Evidence) -> None:
    # "He collapsed in the garden" is a person, not a structure: a bare "collapsed" needs a building or a bridge, and
    # with one ("a 5-storey hotel collapsed") it names the event.
    if ev.top["building_collapse"] < 6 and not ev.cues["@building_ctx"] and not ev.weak["building_collapse"]:
        ev.scores["building_collapse"] *= 0.3
    elif ev.top["building_collapse"] >= 4 and ev.cues["@building_ctx"] >= 2:
        ev.scores["building_collapse"] += 2


def _construction(ev: Evidence) -> None:
    # A collapse or a fall on a construction site is a construction accident.
    if ev.top["construction"] >= 6:
        ev.move("construction", ("building_collapse", "public_facility"), share=0.7, keep=0.3)


def _outage_cause(ev: Evidence) -> None:
    # A blackout from a typhoon or a snowstorm is that disaster; from a hack it is a cyber attack.
    causes = ("typhoon", "snowstorm", "rainstorm", "flood", "gale", "heat_wave", "cyber_attack", "cold_wave")
    if ev.scores["utility_outage"] > 0 and any(ev.top[c] >= 6 for c in causes):
        ev.scores["utility_outage"] *= 0.3


RULES = (
    _animal_or_human,
    _poisoning_route,
    _bomb,
    _mine,
    _dangerous_goods,
    _transport_mode,
    _fuel_gas,
    _earthquake,
    _geohazard,
    _fire_where,
    _transport_fire,
    _disruption,
    _weather_in_passing,
    _collapse_of_what,
    _construction,
    _outage_cause,
    _grievance,
    _identity_conflict,
)


def _confidence(top: float, second: float, damp: float) -> float:
    # Saturating in the evidence, scaled by the margin over the runner-up: one strong word ≈ 0.6, several ≈ 0.9.
    strength = 1.0 - math.exp(-top / 4.5)
    share = top / (top + second) if top + second else 0.0
    return round(max(0.05, min(0.99, strength * share * damp)), 3)


def classify(text: str) -> Classification:
    """Category, subtype, confidence and the deciding terms of a report in Chinese, English or both.

    A text with no recognisable event gives category and subtype ``None``, confidence 0 and no matched terms.
    """
    folded = normalize(text)
    ev = _collect(folded)
    damp = DEBUNKED if ev.cues["@debunked"] else 1.0
    if ev.cues["@drill"] or ev.cues["@debunked"] >= REFUTED or (MEETING.search(folded) and not OCCURRED.search(folded)):
        damp = DRILL
    for name in ev.scores:
        ev.scores[name] *= damp
    for rule in RULES:
        rule(ev)
    # Ties go to the subtype with the strongest single term: a named event beats a pile of nouns.
    ranked = sorted(((score, ev.top[name], name) for name, score in ev.scores.items() if score > 0), reverse=True)
    if not ranked or ranked[0][0] < MIN_SCORE:
        return Classification()
    top, _, subtype = ranked[0]
    second = max(ranked[1][0] if len(ranked) > 1 else 0.0, 0.0)
    hedge = HEDGE if ev.cues["@hedge"] or ev.cues["@debunked"] else 1.0
    return Classification(
        category=SUBTYPES[subtype].category,
        subtype=subtype,
        confidence=_confidence(top, second, hedge),
        matched=list(dict.fromkeys(ev.terms[subtype]))[:MAX_MATCHED],
    )
