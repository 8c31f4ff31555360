"""Jurisdictions as a scope of people: which areas a user's jurisdictions cover, and naming them.

A user scoped to a city sees the districts inside it too: the scope is the jurisdictions named and every one that
lies within one of them (its point on surface inside, and smaller: boundaries clipped a little differently still
nest). Answered as SQL, so each read of incidents applies it in its own statement; a layer imported later is
covered without touching the user.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.errors import Invalid
from gis.models import Jurisdiction
from gis.schemas import Place

_PLACE = (Jurisdiction.id, Jurisdiction.name, Jurisdiction.name_en, Jurisdiction.admin_level, Jurisdiction.code)


def jurisdictions_within(ids: Sequence[int]) -> Select[int]:
    """The ids of the jurisdictions ``ids`` and of those lying inside one of them."""
    outer = aliased(Jurisdiction)
    inner = aliased(Jurisdiction)
    nested = (inner.area_m2 < outer.area_m2) & func.ST_Contains(outer.geom, func.ST_PointOnSurface(inner.geom))
    return select(inner.id).join(outer, outer.id.in_(list(ids))).where(or_(inner.id == outer.id, nested))


async def expand_scope(session: AsyncSession, ids: Sequence[int]) -> frozenset[int]:
    """``jurisdictions_within`` as a set, for a filter that cannot ask the database per event (a live stream)."""
    return frozenset((await session.scalars(jurisdictions_within(ids))).all())


async def places_of(session: AsyncSession, ids: Sequence[int]) -> dict[int, Place]:
    """The jurisdictions of these ids that still exist, without their boundaries."""
    if not ids:
        return {}
    rows = await session.execute(select(*_PLACE).where(Jurisdiction.id.in_(list(ids))))
    return {row[0]: Place(*row) for row in rows.all()}


async def resolve(session: AsyncSession, refs: Sequence[int | str]) -> list[int]:
    """The ids of the jurisdictions ``refs`` name: an id, or a name, English name or code (exact, case ignored for
    names). Unknown or ambiguous (two areas share the name: give the id) is Invalid, field ``jurisdictions``."""
    ids = {r for r in refs if isinstance(r, int)}
    names = {r.strip() for r in refs if isinstance(r, str)}
    if any(not n for n in names):
        raise Invalid("a jurisdiction name may not be blank", field="jurisdictions")
    found = await places_of(session, sorted(ids))
    missing = sorted(ids - found.keys())
    if missing:
        raise Invalid(f"no jurisdiction with id {missing[0]}", field="jurisdictions")
    result = set(ids)
    if names:
        lowered = [n.lower() for n in names]
        rows = await session.execute(
            select(Jurisdiction.id, Jurisdiction.name, Jurisdiction.name_en, Jurisdiction.code).where(
                func.lower(Jurisdiction.name).in_(lowered)
                | func.lower(Jurisdiction.name_en).in_(lowered)
                | Jurisdiction.code.in_(list(names))
            )
        )
        matches: dict[str, set[int]] = {n: set() for n in names}
        for jid, name, name_en, code in rows.all():
            for n in names:
                if n.lower() in (name.lower(), (name_en or "").lower()) or n == code:
                    matches[n].add(jid)
        for n in sorted(names):
            if not matches[n]:
                raise Invalid(f"no jurisdiction is named {n[:80]!r}", field="jurisdictions")
            if len(matches[n]) > 1:
                raise Invalid(
                    f"{len(matches[n])} jurisdictions are named {n[:80]!r}: give the id instead", field="jurisdictions"
                )
            result |= matches[n]
    return sorted(result)
