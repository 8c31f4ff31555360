"""Recommendation: fill each open resource requirement of an incident with the available units that reach it first.

Where the requirements come from, in order: the incident's activated plans (what is still missing after
dispatches), else an ad-hoc ``type``/``count`` asked for, else a preview of the best-matching plan at the level it
would be activated at (so a commander sees who would go before activating). Units are ranked by road travel time
(``gis.service.nearest_by_road``; straight line only as its stated fallback). A unit is left out, and counted toward
the cause of a shortfall, when it is too far (beyond ``recommend_max_eta_minutes``) or when its only position is a
stale fix with no home station to fall back on (DOMAIN.md section 4: stale fixes are not trusted). A unit that
never sent a fix and has no station is taken at its registered position, and its reason says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from geoalchemy2.shape import to_shape
from sqlalchemy.ext.asyncio import AsyncSession

from command.schemas import (
    MAX_AD_HOC_COUNT,
    Cause,
    NeedFilled,
    PlanPreview,
    Recommendations,
    RecommendedUnit,
    Shortfall,
    Source,
)
from core.errors import Invalid
from core.settings import Settings
from gis import service as gis
from gis.schemas import MAX_K, Reach, ReachOut, RoadPolicy
from incidents import service as incident_service
from plans import service as plans


@dataclass
class Need:
    """One resource type the incident needs: how many in all, how many are already there or on the way."""

    resource_type: str
    count: int
    filled: int = 0

    @property
    def missing(self) -> int:
        return max(0, self.count - self.filled)


@dataclass
class Filled:
    """The units recommended for one need, and why the rest could not be filled."""

    need: Need
    units: list[Reach] = field(default_factory=list)
    too_far: int = 0
    stale: int = 0

    @property
    def unmet(self) -> int:
        return max(0, self.need.missing - len(self.units))

    def cause(self) -> Cause | None:
        """Why the need is short: the reason that left out more units, none available when nothing was left out."""
        if self.unmet == 0:
            return None
        if len(self.units) >= MAX_K:
            return "limit"
        if self.too_far == 0 and self.stale == 0:
            return "none_available"
        return "too_far" if self.too_far >= self.stale else "stale_locations"

    def detail(self, max_eta_min: float) -> str:
        found = len(self.units)
        text = f"{found} of {self.need.missing} {self.need.resource_type} found"
        if found >= MAX_K:
            return text + f"; at most {MAX_K} are proposed at once: dispatch these, then ask again"
        if self.too_far:
            text += f"; {self.too_far} more available but over {max_eta_min:g} min away"
        if self.stale:
            text += f"; {self.stale} more available with only a stale location and no home station"
        if not self.too_far and not self.stale:
            text += "; no other available unit of this type"
        return text


async def _needs(
    session: AsyncSession, *, incident: Any, type: str | None, count: int | None
) -> tuple[Source, PlanPreview | None, list[Need]]:
    if type is not None:
        return "ad_hoc", None, [Need(type, count or 1)]
    if count is not None:
        raise Invalid("count needs a type", field="count")
    # A plan may also ask for facilities (shelters, hospitals' beds): they are not dispatched, so not recommended.
    units = await gis.unit_types(session)
    unmet = [r for r in await plans.unmet_requirements(session, incident_id=incident.id) if r.resource_type in units]
    if unmet:
        return "activation", None, [Need(r.resource_type, r.count, r.filled) for r in unmet]
    if await plans.activations_of(session, incident_id=incident.id):
        return "activation", None, []  # every requirement of the active plans is filled
    preview = await plans.preview_requirements(session, incident=incident)
    if preview is None or not preview.resources:
        return "none", None, []
    plan = PlanPreview(plan_id=preview.plan_id, version=preview.version, level=preview.level)
    return "plan_preview", plan, [Need(t, n) for t, n in sorted(preview.resources.items()) if t in units]


async def _fill(
    session: AsyncSession, need: Need, *, lon: float, lat: float, settings: Settings, max_eta_s: float
) -> Filled:
    filled = Filled(need)
    if need.missing == 0:
        return filled
    # Ask for more than needed, so the units left out (too far, stale) can be told apart from none at all.
    found = await gis.nearest_by_road(
        session,
        lon=lon,
        lat=lat,
        type=need.resource_type,
        k=min(MAX_K, need.missing * 2 + 5),
        candidates=min(200, max(20, need.missing * 4)),
        stale_after=timedelta(minutes=settings.unit_fix_stale_minutes),
        policy=RoadPolicy.of(settings),
    )
    for reach in found:
        if reach.position_source == "last_known" and reach.last_fix_at is not None:
            filled.stale += 1
        elif reach.eta_s > max_eta_s:
            filled.too_far += 1
        elif len(filled.units) < need.missing:
            filled.units.append(reach)
    return filled


async def recommend(
    session: AsyncSession,
    *,
    incident_id: int,
    settings: Settings,
    type: str | None = None,
    count: int | None = None,
) -> Recommendations:
    """Per requirement, the units to send ranked by ETA, and every shortfall with its cause."""
    if count is not None and not 1 <= count <= MAX_AD_HOC_COUNT:
        raise Invalid(f"count must be between 1 and {MAX_AD_HOC_COUNT}", field="count")
    incident = await incident_service.get_incident(session, incident_id=incident_id)
    source, plan, needs = await _needs(session, incident=incident, type=type, count=count)
    centre = to_shape(incident.location)
    max_eta_s = settings.recommend_max_eta_minutes * 60
    requirements: list[NeedFilled] = []
    unmet: list[Shortfall] = []
    for need in needs:
        filled = await _fill(session, need, lon=centre.x, lat=centre.y, settings=settings, max_eta_s=max_eta_s)
        cause = filled.cause()
        requirements.append(
            NeedFilled(
                resource_type=need.resource_type,
                count=need.count,
                filled=need.filled,
                missing=need.missing,
                units=[_ranked(reach, rank) for rank, reach in enumerate(filled.units, start=1)],
                unmet=filled.unmet,
                cause=cause,
            )
        )
        if cause is not None:
            detail = filled.detail(settings.recommend_max_eta_minutes)
            unmet.append(Shortfall(resource_type=need.resource_type, missing=filled.unmet, cause=cause, detail=detail))
    items = [unit for requirement in requirements for unit in requirement.units]
    return Recommendations(
        incident_id=incident.id,
        source=source,
        plan=plan,
        requirements=requirements,
        unmet=unmet,
        items=items,
        total=len(items),
    )


def _ranked(reach: Reach, rank: int) -> RecommendedUnit:
    return RecommendedUnit(**dict(ReachOut.of(reach)), rank=rank)
