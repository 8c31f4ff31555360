"""Warnings (预警) and CAP: import (``POST /cap``), the warnings and their map layer, CAP 1.2 exports of warnings and
incidents, our Atom feed, opening an incident from a warning, and the CAP feeds we subscribe to."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request, Response

from command import service as command
from core.errors import Invalid
from core.geojson import feature
from core.settings import Settings
from core.users import Role
from incidents import service
from incidents.schemas import CapFeedIn, CapFeedOut, IncidentOut, OpenIncidentIn, WarningDetail, WarningOut
from web.audit import add_target
from web.deps import AnyUser, CurrentUser, ScopeDep, SessionDep, SettingsDep, VisibleIncident, logged_in_scope, require
from web.door import BodyKind, body_limit
from web.listing import BboxQuery, FeaturePage, FormatParam, KeyQuery, ListOf, PageDep, bbox_param, list_of

router = APIRouter(tags=["warnings"])

# The public-warning desk: duty officers, commanders (and admins) import and subscribe; every person reads.
WarningDesk = Annotated[CurrentUser, Depends(require(Role.duty_officer, Role.commander))]
WarningId = Annotated[int, Path(le=2**63 - 1)]
XML_TYPES = ("application/cap+xml", "application/xml", "text/xml", "application/common-alerting-protocol+xml")
CAP_MEDIA = "application/cap+xml"
_CAP_BODY = {
    "requestBody": {
        "required": True,
        "content": {media: {"schema": {"type": "string"}} for media in XML_TYPES[:3]},
    }
}


def _policy(settings: Settings) -> service.FeedPolicy:
    return service.FeedPolicy(
        interval_s=settings.cap_feed_interval_s,
        timeout_s=settings.cap_feed_timeout_s,
        max_backoff_s=settings.cap_feed_max_backoff_s,
        max_bytes=settings.cap_max_kb * 1024,
        trusted_certs=tuple(settings.cap_trusted_certs),
    )


class CapXML(Response):
    """A CAP 1.2 document."""

    media_type = CAP_MEDIA


class AtomXML(Response):
    """An Atom feed."""

    media_type = "application/atom+xml"


def _cap(document: bytes) -> Response:
    return CapXML(content=document)


@router.post(
    "/cap",
    name="warnings.import_cap",
    status_code=201,
    openapi_extra={**body_limit(BodyKind.cap), **_CAP_BODY},
)
async def import_cap(
    request: Request, response: Response, session: SessionDep, settings: SettingsDep, user: WarningDesk
) -> ListOf[WarningDetail]:
    """Import one CAP 1.2 message (or a GB/T 35965.1 one, through its adapter): 201 with the warning created and
    those it superseded or cancelled; 200 when the same message (sender, identifier, sent) was imported before.
    Refused with 422 and a ``reason`` (schema, rule, unsupported_version, namespace, wrapper, dtd, signature, ...),
    413 when larger than ``COMMANDPOST_CAP_MAX_KB``."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media and media not in XML_TYPES:
        raise Invalid(f"send the message as {CAP_MEDIA} or application/xml, not {media[:80]}", field="content-type")
    body = await request.body()
    result = await service.import_cap(
        session,
        document=body,
        actor=user.username,
        max_bytes=settings.cap_max_kb * 1024,
        trusted_certs=settings.cap_trusted_certs,
    )
    if not result.created:
        response.status_code = 200
    add_target(request, warning_id=result.warning.id, replay=not result.created)
    items = await service.warning_details(session, [result.warning, *result.changed])
    return list_of(items)


@router.get("/warnings", name="warnings.list", response_model=ListOf[WarningOut] | FeaturePage)
async def list_warnings(
    session: SessionDep,
    user: AnyUser,
    page: PageDep,
    active: bool | None = None,
    colour: Literal["red", "orange", "yellow", "blue"] | None = None,
    subtype: KeyQuery = None,
    bbox: BboxQuery = None,
    fmt: FormatParam = "json",
) -> Any:
    """Warnings, newest first; ``active=true``: those in force now (a map layer with ``format=geojson``)."""
    items, total = await service.list_warnings(
        session, active=active, colour=colour, subtype=subtype, bbox=bbox_param(bbox), limit=page.limit,
        offset=page.offset,
    )  # fmt: skip
    if fmt == "geojson":
        details = await service.warning_details(session, items)
        features = [
            {
                **feature({}, d.model_dump(mode="json", exclude={"area", "infos", "references", "header"}), id=d.id),
                "geometry": d.area,
            }  # null for a warning whose area is only named (RFC 7946 allows it)
            for d in details
        ]
        return FeaturePage(type="FeatureCollection", features=features, total=total)
    return list_of([service.present_warning(w) for w in items], total)


@router.get("/warnings.atom", name="warnings.atom", response_class=AtomXML)
async def atom(request: Request, session: SessionDep, user: AnyUser) -> Response:
    """The warnings in force as an Atom feed, each entry linking its CAP 1.2 document."""
    base = str(request.base_url).rstrip("/")
    document = await service.warnings_atom(
        session, self_url=f"{base}/api/v1/warnings.atom", cap_url=base + "/api/v1/warnings/{id}/cap"
    )
    return AtomXML(content=document)


@router.get("/warnings/{warning_id}", name="warnings.get")
async def get_warning(warning_id: WarningId, session: SessionDep, user: AnyUser) -> WarningDetail:
    """One warning in full: its info blocks by language, its area (GeoJSON), its references."""
    warning = await service.get_warning(session, warning_id=warning_id)
    return (await service.warning_details(session, [warning]))[0]


@router.get("/warnings/{warning_id}/cap", name="warnings.cap", response_class=CapXML)
async def warning_cap(warning_id: WarningId, session: SessionDep, user: AnyUser) -> Response:
    """The warning as CAP 1.2 (the message as received, or rebuilt from China's format)."""
    return _cap(service.export_warning(await service.get_warning(session, warning_id=warning_id)))


@router.post("/warnings/{warning_id}/incident", name="warnings.open_incident", status_code=201)
async def open_incident(
    warning_id: WarningId,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    user: WarningDesk,
    scope: ScopeDep,
    body: OpenIncidentIn | None = None,
) -> IncidentOut:
    """Open an incident from the warning (linked both ways); the warning's incident again if it has one (200). A
    caller scoped to jurisdictions: 404 for a linked incident outside them, 403 for a new one."""
    warning = await service.get_warning(session, warning_id=warning_id)
    if warning.incident_id is not None:
        response.status_code = 200
        return service.present(await service.get_incident(session, incident_id=warning.incident_id, scope=scope))
    data = await service.incident_from_warning(session, warning=warning, body=body or OpenIncidentIn())
    incident, _ = await command.log_report(
        session,
        data=data,
        actor=user.username,
        idempotency_key=f"warning-{warning.id}",
        duplicates=service.DuplicatePolicy(
            radius_m=settings.duplicate_radius_m, window=timedelta(minutes=settings.duplicate_window_minutes)
        ),
    )
    await logged_in_scope(session, scope, incident.id)
    await service.link_warning(session, warning=warning, incident_id=incident.id, actor=user.username)
    add_target(request, incident_id=incident.id)
    return incident


@router.get("/incidents/{incident_id}/cap", name="incidents.cap", response_class=CapXML)
async def incident_cap(incident: VisibleIncident, session: SessionDep, settings: SettingsDep) -> Response:
    """The incident as a CAP 1.2 message: Alert, Update after a change, Cancel once closed; Exercise for a drill."""
    record = await service.get_incident(session, incident_id=incident.id)
    return _cap(service.export_incident(record, sender=settings.cap_sender, radii=settings.impact_radii_m))


@router.get("/incidents/{incident_id}/warnings", name="incidents.warnings")
async def incident_warnings(incident: VisibleIncident, session: SessionDep) -> ListOf[WarningOut]:
    """The warnings in force over the incident's location, and any it was opened from."""
    record = await service.get_incident(session, incident_id=incident.id)
    return list_of([service.present_warning(w) for w in await service.warnings_over(session, incident=record)])


@router.get("/cap-feeds", name="cap_feeds.list")
async def list_feeds(session: SessionDep, user: AnyUser) -> ListOf[CapFeedOut]:
    """The CAP feeds we subscribe to, with when each was polled and its last error."""
    return list_of([CapFeedOut.model_validate(f) for f in await service.list_cap_feeds(session)])


@router.post("/cap-feeds", name="cap_feeds.subscribe", status_code=201)
async def subscribe(
    body: CapFeedIn, request: Request, session: SessionDep, settings: SettingsDep, user: WarningDesk
) -> CapFeedOut:
    """Subscribe to an Atom/RSS feed of CAP messages or a URL of one (http(s) only; never link-local or metadata
    addresses); polled from the next sweep on."""
    feed = await service.subscribe_cap_feed(session, data=body, actor=user.username, policy=_policy(settings))
    add_target(request, feed_id=feed.id)
    return CapFeedOut.model_validate(feed)


@router.delete("/cap-feeds/{feed_id}", name="cap_feeds.unsubscribe", status_code=204, response_class=Response)
async def unsubscribe(feed_id: Annotated[int, Path(le=2**63 - 1)], session: SessionDep, user: WarningDesk) -> Response:
    """End a subscription (the warnings it brought stay)."""
    await service.unsubscribe_cap_feed(session, feed_id=feed_id)
    return Response(status_code=204)
