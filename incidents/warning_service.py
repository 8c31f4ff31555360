"""The warnings' half of incidents' door (re-exported by ``incidents.service``): import a CAP message, read warnings,
export CAP and Atom, open an incident from a warning, and the warnings over an incident."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from geoalchemy2.shape import to_shape
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import Invalid
from core.geojson import Point
from gis import service as gis_service
from incidents import warning_queries as queries
from incidents.models import Incident
from incidents.records import record
from incidents.schemas import IncidentIn
from incidents.warning_export import incident_cap, warning_cap
from incidents.warning_models import Warning
from incidents.warning_present import detail, summary
from incidents.warning_schemas import OpenIncidentIn, WarningDetail, WarningOut
from incidents.warnings import Imported, import_alert
from notify.service import AtomEntry, atom_feed, parse_cap

THREAD_ABOVE_BYTES = 64 * 1024


async def import_cap(
    session: AsyncSession,
    *,
    document: bytes,
    actor: str | None,
    max_bytes: int,
    trusted_certs: Sequence[str] = (),
    source: str = "api",
) -> Imported:
    """Read, check and store one CAP 1.2 (or GB/T 35965.1) message; the same message again changes nothing.
    Refusals are ``Invalid`` (422) or ``TooLarge`` (413), before anything is written."""
    if len(document) > THREAD_ABOVE_BYTES:  # a national-scale message parses for a while: not on the event loop
        alert = await asyncio.to_thread(parse_cap, document, max_bytes=max_bytes, trusted_certs=trusted_certs)
    else:
        alert = parse_cap(document, max_bytes=max_bytes, trusted_certs=trusted_certs)
    return await import_alert(session, alert=alert, source=source, actor=actor)


async def get_warning(session: AsyncSession, *, warning_id: int) -> Warning:
    return await queries.get(session, warning_id)


def present_warning(warning: Warning) -> WarningOut:
    return summary(warning)


async def warning_details(session: AsyncSession, warnings: Sequence[Warning]) -> list[WarningDetail]:
    """The full records, their areas as GeoJSON read in one query."""
    areas = await queries.areas_geojson(session, [w.id for w in warnings])
    return [detail(w, area_geojson=areas.get(w.id)) for w in warnings]


async def list_warnings(
    session: AsyncSession,
    *,
    active: bool | None = None,
    colour: str | None = None,
    subtype: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Warning], int]:
    """A page of warnings, newest first; ``active=True``: those in force now (not superseded, cancelled or expired)."""
    stmt = queries.filtered(now=utcnow(), active=active, colour=colour, subtype=subtype, bbox=bbox)
    return await queries.page(session, stmt, limit=limit, offset=offset)


def export_warning(warning: Warning) -> bytes:
    """The warning's CAP 1.2 document."""
    return warning_cap(warning)


def export_incident(incident: Incident, *, sender: str, radii: dict[str, tuple[float, float, float, float]]) -> bytes:
    """The incident as a CAP 1.2 message (``incidents.warning_export``)."""
    point = to_shape(incident.location)
    impact = gis_service.impact_area(
        subtype=incident.subtype, level=incident.level, lon=point.x, lat=point.y, radii=radii
    )
    return incident_cap(incident, sender=sender, lon=point.x, lat=point.y, radius_m=impact.radius_m)


async def warnings_atom(session: AsyncSession, *, self_url: str, cap_url: str) -> bytes:
    """The warnings in force as an Atom feed; ``cap_url`` has a ``{id}`` for each warning's CAP document."""
    items, _ = await list_warnings(session, active=True, limit=1000)
    entries = [
        AtomEntry(
            id=f"urn:commandpost:warning:{w.id}",
            title=w.headline or w.event or w.identifier,
            updated=w.updated_at,
            summary=(w.infos[0].get("description") if w.infos else None),
            cap_url=cap_url.format(id=w.id),
        )
        for w in items
    ]
    updated = max((w.updated_at for w in items), default=utcnow())
    return atom_feed(
        feed_id="urn:commandpost:warnings", title="Commandpost: warnings in force", self_url=self_url,
        updated=updated, entries=entries,
    )  # fmt: skip


async def warnings_over(session: AsyncSession, *, incident: Incident) -> list[Warning]:
    """The warnings in force whose area covers the incident, and those it was opened from."""
    point = to_shape(incident.location)
    covering = await queries.covering(session, lon=point.x, lat=point.y, now=utcnow())
    linked, _ = await queries.page(
        session, queries.filtered(now=utcnow(), incident_id=incident.id), limit=100, offset=0
    )
    return list({w.id: w for w in [*linked, *covering]}.values())


async def incident_from_warning(session: AsyncSession, *, warning: Warning, body: OpenIncidentIn) -> IncidentIn:
    """The report an incident opened from the warning starts as (its place: given, or a point inside the area)."""
    if body.location is not None:
        location = Point.model_validate(body.location)
    else:
        inside = await queries.point_inside(session, warning.id)
        if inside is None:
            raise Invalid("the warning has no area on the map: give the incident's location", field="location")
        location = Point(type="Point", coordinates=inside)
    first: dict[str, Any] = warning.infos[0] if warning.infos else {}
    text = body.description or "\n".join(
        t for t in (warning.headline, first.get("description"), first.get("instruction")) if t
    )
    return IncidentIn(
        description=(text or warning.event or warning.identifier)[:20_000],
        location=location,
        title=(warning.headline or warning.event or None) and (warning.headline or warning.event)[:200],
        source="cap",
        category=warning.category if warning.subtype else None,
        subtype=warning.subtype,
    )


async def link_warning(session: AsyncSession, *, warning: Warning, incident_id: int, actor: str) -> None:
    """Link the incident opened from the warning both ways: the warning names it, its timeline names the warning."""
    from incidents.warnings import link_incident

    await link_incident(session, warning=warning, incident_id=incident_id)
    record(
        session,
        incident_id=incident_id,
        kind="warning_linked",
        actor=actor,
        data={"warning_id": warning.id, "identifier": warning.identifier, "sender": warning.sender},
    )
