"""Grade an event I–IV from its facts by the rule set that governs its subtype (pure; tables in ``incidents.rules``).

Criteria within a rule set are OR-ed and the highest level any of them reaches wins. The result names the rule set
and version and, for each fact used, the level it reached and the criterion it met. With no usable fact the level is
``None`` (not a guess) while ``rule_id`` still says which rule set would apply; a stated zero ("no casualties") is a
fact and grades IV.
"""

from __future__ import annotations

from incidents.rules import LEVELS, RULE_SETS, Criterion, RuleSet
from incidents.schemas import Facts, Grade, GradeBasis, Level
from incidents.taxonomy import rule_set_for

_RANK: dict[Level, int] = {level: len(LEVELS) - i for i, level in enumerate(LEVELS)}
_WORDS = {
    "deaths": "deaths",
    "missing": "missing",
    "injuries": "injured",
    "serious_injuries": "seriously injured",
    "poisoned": "poisoned",
    "affected": "affected",
    "evacuated": "evacuated or relocated",
    "economic_loss_cny": "CNY direct economic loss",
    "magnitude": "magnitude",
    "deaths_and_missing": "dead or missing",
    "serious_or_poisoned": "seriously injured or poisoned",
    "cases": "cases",
}


def derived_facts(facts: Facts) -> tuple[dict[str, float], set[str]]:
    """The facts a rule set may test, with the derived sums, and the names that are only floors ("at least")."""
    values: dict[str, float] = dict(facts.known())
    lower = set(facts.lower_bounds)
    for name, parts, combine in (
        ("deaths_and_missing", ("deaths", "missing"), sum),
        ("serious_or_poisoned", ("serious_injuries", "poisoned"), sum),
        ("cases", ("affected", "poisoned"), max),
    ):
        present = [values[p] for p in parts if p in values]
        if present:
            values[name] = combine(present)
            if lower.intersection(parts):
                lower.add(name)
    return values, lower


def _applies(criterion: Criterion, values: dict[str, float]) -> bool:
    if criterion.fact not in values or any(name in values for name in criterion.unless_known):
        return False
    if values[criterion.fact] < criterion.min:
        return False
    return all(values.get(name, -1) >= low for name, low in criterion.also)


def _criterion_text(criterion: Criterion) -> str:
    parts = [f"{criterion.fact} >= {criterion.min:,.10g}"]
    parts += [f"{name} >= {low:,.10g}" for name, low in criterion.also]
    return " and ".join(parts)


def _sentence(fact: str, value: float, level: Level, criterion: str, lower: bool, rules: RuleSet) -> str:
    amount = f"{'at least ' if lower else ''}{value:,.10g}"
    return f"{amount} {_WORDS.get(fact, fact)}: level {level} ({criterion}) under {rules.rule_id}."


def evaluate(rules: RuleSet, facts: Facts) -> Grade:
    """Apply one rule set to the facts (the caller chose the rule set)."""
    values, lower = derived_facts(facts)
    best: dict[str, tuple[Criterion, str]] = {}
    for criterion in rules.criteria:
        if not _applies(criterion, values):
            continue
        key = criterion.fact
        if key not in best or _RANK[criterion.level] > _RANK[best[key][0].level]:
            best[key] = (criterion, _criterion_text(criterion))
    basis = [
        GradeBasis(
            fact=fact,
            value=values[fact],
            level=criterion.level,
            criterion=text,
            text=_sentence(fact, values[fact], criterion.level, text, fact in lower, rules),
        )
        for fact, (criterion, text) in best.items()
    ]
    for fact in rules.floor_facts:
        if fact in values and fact not in best:
            text = f"{fact} stated"
            basis.append(
                GradeBasis(
                    fact=fact,
                    value=values[fact],
                    level="IV",
                    criterion=text,
                    text=f"{values[fact]:,.10g} {_WORDS[fact]} stated; no threshold of "
                    f"{rules.rule_id} reached: level IV.",
                )
            )
    basis.sort(key=lambda b: -_RANK[b.level])
    level = basis[0].level if basis else None
    return Grade(level=level, rule_id=rules.rule_id, rule_version=rules.version, basis=basis)


def grade(category: str | None, subtype: str | None, facts: Facts) -> Grade:
    """Grade an event of this category/subtype. Without a known category there is no rule set: an empty grade."""
    rule_id = rule_set_for(category, subtype)
    if rule_id is None:
        return Grade()
    return evaluate(RULE_SETS[rule_id], facts)
