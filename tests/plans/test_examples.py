"""The dry run over the shipped example incidents: one per subtype of DOMAIN.md; every subtype is either covered by a
shipped plan or on the list of those left uncovered on purpose."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from incidents.schemas import SUBTYPES
from plans import service
from plans.loading import LIBRARY
from plans.schemas import CheckIn
from plans.yamlio import parse_yaml, validate

EXAMPLES = Path(LIBRARY).parent / "examples" / "incidents.yaml"

# No shipped plan is organised around these yet (natural disasters all fall under the category-wide relief plan).
UNCOVERED_ON_PURPOSE = {
    "rail",
    "aviation",
    "waterway",
    "construction",
    "building_collapse",
    "public_facility",
    "nuclear_radiation",
    "occupational_poisoning",
    "animal_epidemic",
    "major_crime",
    "economic_security",
    "foreign_related",
    "cyber_attack",
    "ethnic_religious",
}


async def test_every_subtype_has_an_example_and_the_check_reports_coverage(
    session: AsyncSession, loaded: object
) -> None:
    examples = validate(CheckIn, parse_yaml(EXAMPLES.read_bytes())).incidents
    assert examples is not None
    assert {e.subtype for e in examples} == set(SUBTYPES)
    report = (await service.check(session, examples=examples)).as_dict()
    assert report["incidents"] == len(examples)
    covered, uncovered = set(report["subtypes"]["covered"]), set(report["subtypes"]["uncovered"])
    assert uncovered == UNCOVERED_ON_PURPOSE
    assert covered | uncovered == set(SUBTYPES) and not covered & uncovered
    assert report["covered"] + len(report["uncovered"]) == report["incidents"]
    # The subtype plans fire first where they exist; the local plans fire in their place and season.
    first = {r["incident"]["name"]: r["matches"][0]["plan_id"] for r in report["results"] if r["matches"]}
    assert first["地震 / earthquake"] == "cn-earthquake"
    assert first["燃气泄漏 / gas leak"] == "cn-hazardous-chemicals"
    assert first["干旱 / drought"] == "cn-natural-disaster-relief"
    assert (
        first["春节期间锦江区商场火灾 / mall fire in Jinjiang at Spring Festival"] == "cd-jinjiang-spring-festival-fire"
    )
    assert first["七月暴雨中心城区内涝 / July rainstorm floods central Chengdu"] == "cd-urban-waterlogging"
    assert report["plans_fired"]["cn-natural-disaster-relief"] >= 5
