"""Incident intake and record: create (idempotent), list, get, timeline, transitions, grade overrides, edits."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from command import service as command
from core.geojson import feature
from core.settings import Settings
from core.users import Role
from incidents import service
from incidents.schemas import (
    DuplicateDecisionIn,
    GradeOverrideIn,
    IncidentIn,
    IncidentOut,
    IncidentPatch,
    Level,
    Status,
    TimelineEntryOut,
    TransitionIn,
)
from web.audit import add_target
from web.deps import CurrentUser, InScope, ScopeDep, SessionDep, SettingsDep, VisibleIncident, logged_in_scope, require
from web.listing import (
    BboxQuery,
    FeaturePage,
    FormatParam,
    KeyQuery,
    ListOf,
    PageDep,
    bbox_param,
    if_match_version,
    list_of,
    lon_lat_param,
)

router = APIRouter(prefix="/incidents", tags=["incidents"])

Reporter = Annotated[CurrentUser, Depends(require(Role.duty_officer, Role.commander))]
Commander = Annotated[CurrentUser, Depends(require(Role.commander))]


def _version(body_version: int | None, if_match: str | None) -> int | None:
    return body_version if body_version is not None else if_match_version(if_match)


def _policy(settings: Settings) -> service.DuplicatePolicy:
    return service.DuplicatePolicy(
        radius_m=settings.duplicate_radius_m, window=timedelta(minutes=settings.duplicate_window_minutes)
    )


@router.post("", name="incidents.create", status_code=201, response_model=IncidentOut)
async def create(
    body: IncidentIn,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    user: Reporter,
    scope: ScopeDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> IncidentOut:
    """Log a report. The same ``Idempotency-Key`` with the same body returns the same incident (200). A caller
    scoped to jurisdictions logs only incidents inside them (403 otherwise, and nothing is kept)."""
    incident, created = await command.log_report(
        session, data=body, actor=user.username, idempotency_key=idempotency_key, duplicates=_policy(settings)
    )
    await logged_in_scope(session, scope, incident.id)
    if not created:
        response.status_code = 200
    add_target(request, incident_id=incident.id, replay=not created)
    return incident


@router.get("", name="incidents.list", response_model=ListOf[IncidentOut] | FeaturePage)
async def list_incidents(
    session: SessionDep,
    scope: ScopeDep,
    page: PageDep,
    status: Annotated[list[Status] | None, Query(description="one or more statuses")] = None,
    category: KeyQuery = None,
    subtype: KeyQuery = None,
    grade: Level | None = None,
    bbox: BboxQuery = None,
    fmt: FormatParam = "json",
) -> Any:
    """The incidents the caller may see, newest first, filtered; ``?format=geojson`` for a FeatureCollection."""
    service.check_keys(category=category, subtype=subtype)
    items, total = await service.list_incidents(
        session,
        statuses=[s.value for s in status] if status else None,
        category=category,
        subtype=subtype,
        level=grade,
        bbox=bbox_param(bbox),
        scope=scope,
        limit=page.limit,
        offset=page.offset,
    )
    out = [service.present(i) for i in items]
    if fmt == "geojson":
        features = [_feature(o) for o in out]
        return FeaturePage(type="FeatureCollection", features=features, total=total)
    return list_of(out, total)


def _feature(incident: IncidentOut) -> dict[str, Any]:
    """The incident as a GeoJSON Feature: its location the geometry, the rest its properties."""
    properties = incident.model_dump(mode="json", exclude={"location"})
    return feature(incident.location.model_dump(mode="json"), properties, id=incident.id)


@router.get("/possible-duplicates", name="incidents.possible_duplicates")
async def possible_duplicates(
    session: SessionDep,
    settings: SettingsDep,
    user: Reporter,
    scope: ScopeDep,
    subtype: Annotated[str, Query(min_length=1, max_length=48)],
    near: Annotated[str, Query(max_length=100, description="lon,lat of the report")],
) -> ListOf[IncidentOut]:
    """The open incident a report of ``subtype`` at ``near``, made now, would be flagged a possible duplicate of
    (``COMMANDPOST_DUPLICATE_RADIUS_M`` / ``_WINDOW_MINUTES``): none or one, for the intake form to offer before
    creating anything."""
    service.check_keys(category=None, subtype=subtype)
    at = lon_lat_param(near, field="near")
    assert at is not None
    found = await service.possible_duplicate(
        session, subtype=subtype, lon=at[0], lat=at[1], duplicates=_policy(settings), scope=scope
    )
    return list_of([service.present(found)] if found is not None else [])


@router.get("/{incident_id}", name="incidents.get", response_model=IncidentOut)
async def get(incident: VisibleIncident) -> IncidentOut:
    """The incident with the plans that match it (stored when it or the plan library last changed)."""
    return service.present(incident)


@router.get("/{incident_id}/timeline", name="incidents.timeline")
async def timeline(session: SessionDep, incident: VisibleIncident) -> ListOf[TimelineEntryOut]:
    """Everything that happened to the incident, oldest first."""
    return list_of([TimelineEntryOut.of(e) for e in await service.timeline(session, incident_id=incident.id)])


@router.patch("/{incident_id}", name="incidents.edit", response_model=IncidentOut)
async def edit(
    incident_id: int,
    body: IncidentPatch,
    session: SessionDep,
    user: Reporter,
    in_scope: InScope,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> IncidentOut:
    """Correct the report; new text or facts regrade it. Send the ``version`` you read to refuse stale edits."""
    return await command.edit_incident(
        session,
        incident_id=incident_id,
        patch=body,
        actor=user.username,
        expected_version=_version(body.version, if_match),
    )


@router.post("/{incident_id}/transition", name="incidents.transition", response_model=IncidentOut)
async def transition(
    incident_id: int,
    body: TransitionIn,
    session: SessionDep,
    user: Commander,
    in_scope: InScope,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> IncidentOut:
    """Move the incident along reported → verified → responding → contained → closed (or cancelled)."""
    return await command.transition_incident(
        session,
        incident_id=incident_id,
        to=body.to,
        reason=body.reason,
        actor=user.username,
        expected_version=_version(body.version, if_match),
    )


@router.post("/{incident_id}/grade", name="incidents.override_grade", response_model=IncidentOut)
async def override_grade(
    incident_id: int,
    body: GradeOverrideIn,
    session: SessionDep,
    user: Commander,
    in_scope: InScope,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> IncidentOut:
    """A commander's grade, with the reason; the computed grade stays visible beside it."""
    return await command.override_grade(
        session,
        incident_id=incident_id,
        level=body.level,
        reason=body.reason,
        actor=user.username,
        expected_version=_version(body.version, if_match),
    )


@router.post("/{incident_id}/duplicate", name="incidents.decide_duplicate", response_model=IncidentOut)
async def decide_duplicate(
    incident_id: int,
    body: DuplicateDecisionIn,
    session: SessionDep,
    user: Reporter,
    in_scope: InScope,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> IncidentOut:
    """Confirm a possible duplicate (it is merged into the original and cancelled) or dismiss the flag."""
    return await command.decide_duplicate(
        session,
        incident_id=incident_id,
        action=body.action,
        reason=body.reason,
        actor=user.username,
        expected_version=_version(body.version, if_match),
    )
