"""Dispatch and the unit workflow: send units, acknowledge alerts, report status and position; the situation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from command import service
from command.schemas import (
    MAX_AD_HOC_COUNT,
    AckIn,
    DispatchIn,
    DispatchOut,
    ExercisesCleared,
    Recommendations,
    Situation,
    StatusIn,
)
from core.users import Role
from gis.schemas import ResourceOut, RoadPolicy
from web.audit import add_target
from web.deps import AnyUser, CurrentUser, InScope, SessionDep, SettingsDep, VisibleIncident, caller_of, require
from web.listing import ListOf, PageDep, list_of
from web.replays import KeyHeader, once

router = APIRouter(tags=["dispatch"])

Commander = Annotated[CurrentUser, Depends(require(Role.commander))]
Crew = Annotated[CurrentUser, Depends(require(Role.commander, Role.field_unit))]
Watcher = Annotated[CurrentUser, Depends(require(Role.commander, Role.duty_officer, Role.observer))]


@router.get("/incidents/{incident_id}/recommendations", name="dispatch.recommendations")
async def recommendations(
    incident_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: Watcher,
    in_scope: InScope,
    type: Annotated[str | None, Query(min_length=1, max_length=32, description="an ad-hoc unit type key")] = None,
    count: Annotated[int | None, Query(ge=1, le=MAX_AD_HOC_COUNT, description="how many of the ad-hoc type")] = None,
) -> Recommendations:
    """Per open requirement (of the active plans; else the ad-hoc ``type``/``count``; else a preview of the best
    matching plan), the available units ranked by road travel time, each with its reason; every shortfall with
    its cause (``none_available``, ``too_far``, ``stale_locations``)."""
    return await service.recommend(session, incident_id=incident_id, settings=settings, type=type, count=count)


@router.post("/incidents/{incident_id}/dispatches", name="dispatch.create", status_code=201)
async def dispatch(
    incident_id: int,
    body: DispatchIn,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: Commander,
    in_scope: InScope,
) -> ListOf[DispatchOut]:
    """Send units, all or none: 409 naming the first unit that is not available. Each dispatch's ``ack_due_at``
    follows the incident's grade (``COMMANDPOST_ACK_DEADLINES``); each crew is alerted on its field stream."""
    dispatches = await service.dispatch_units(
        session,
        incident_id=incident_id,
        unit_ids=body.unit_ids,
        actor=user.username,
        rules=service.AckRules.of(settings),
        policy=RoadPolicy.of(settings),
    )
    add_target(request, dispatch_ids=[d.id for d in dispatches], unit_ids=sorted(set(body.unit_ids)))
    return list_of([DispatchOut.of(d) for d in dispatches])


@router.get("/incidents/{incident_id}/dispatches", name="dispatch.of_incident")
async def dispatches_of_incident(session: SessionDep, user: AnyUser, incident: VisibleIncident) -> ListOf[DispatchOut]:
    """The incident's dispatches the caller may see (a field unit: its own unit's)."""
    found = await service.dispatches_of_incident(session, incident_id=incident.id, caller=caller_of(user))
    return list_of([DispatchOut.of(d) for d in found])


@router.get("/dispatches/{dispatch_id}", name="dispatch.get", response_model=DispatchOut)
async def get_dispatch(dispatch_id: int, session: SessionDep, user: AnyUser) -> DispatchOut:
    """A dispatch; another unit's is 404 to a field unit."""
    return DispatchOut.of(await service.get_dispatch(session, dispatch_id=dispatch_id, caller=caller_of(user)))


@router.post("/dispatches/{dispatch_id}/ack", name="dispatch.acknowledge", response_model=DispatchOut)
async def acknowledge(
    dispatch_id: int,
    request: Request,
    session: SessionDep,
    user: Crew,
    key: KeyHeader = None,
    body: AckIn | None = None,
) -> Any:
    """The unit's crew (or a commander) acknowledges the alert; escalation stops. Optional body ``{"at"}``: when
    the crew tapped it (within the last 24 h, not ahead: else 422). ``Idempotency-Key``: a replay acts once."""
    at = body.at if body is not None else None

    async def run() -> DispatchOut:
        dispatch = await service.acknowledge(session, dispatch_id=dispatch_id, caller=caller_of(user), at=at)
        return DispatchOut.of(dispatch)

    return await once(session, request, user, key, body.model_dump() if body else None, run)


@router.post("/dispatches/{dispatch_id}/escalation/ack", name="dispatch.escalation_ack", response_model=DispatchOut)
async def acknowledge_escalation(
    dispatch_id: int, request: Request, session: SessionDep, user: Commander
) -> DispatchOut:
    """A commander takes an escalated dispatch in hand: the escalation closes (who, when, ``acknowledged``).
    409 if the dispatch was never escalated; a second acknowledgement changes nothing and answers the same."""
    dispatch = await service.acknowledge_escalation(session, dispatch_id=dispatch_id, caller=caller_of(user))
    add_target(request, dispatch_id=dispatch.id, unit_id=dispatch.unit_id, handled_by=dispatch.escalation_handled_by)
    return DispatchOut.of(dispatch)


@router.get("/escalations", name="dispatch.escalations")
async def escalations(session: SessionDep, user: Watcher, page: PageDep) -> ListOf[DispatchOut]:
    """Dispatches escalated to the command room that no one has handled yet, oldest first (the command room's
    persistent list; ``dispatch.escalated`` events add to it, ``dispatch.escalation_handled`` takes away)."""
    found = await service.open_escalations(session, limit=page.limit, caller=caller_of(user))
    return list_of([DispatchOut.of(d) for d in found])


@router.post("/units/{unit_id}/status", name="units.status", response_model=ResourceOut)
async def unit_status(
    unit_id: int, body: StatusIn, request: Request, session: SessionDep, user: Crew, key: KeyHeader = None
) -> Any:
    """A status report: en_route, on_scene, transporting, at_hospital, available, out_of_service. A status not
    allowed from the unit's current one is 409 naming the ``allowed`` ones; ``at`` (when the crew tapped it) must lie
    within the last 24 h and not ahead (422). ``Idempotency-Key``: a replay acts once and answers the same."""

    async def run() -> ResourceOut:
        unit = await service.change_unit_status(
            session, unit_id=unit_id, status=body.status, caller=caller_of(user), reason=body.reason, at=body.at
        )
        return ResourceOut.of(unit)

    return await once(session, request, user, key, body.model_dump(), run)


@router.get("/situation", name="situation.get")
async def situation(session: SessionDep, user: Watcher) -> Situation:
    """Open incidents by category and grade, units by status and type, unmet requirements, overdue tasks."""
    return await service.situation(session, caller=caller_of(user))


@router.post("/exercises/clear", name="exercises.clear", response_model=ExercisesCleared)
async def clear_exercises(request: Request, session: SessionDep, user: Commander) -> ExercisesCleared:
    """The drill is over: its open incidents closed, its units released, its exercise warnings ended (audited: what
    it closed and released is the audit row's target)."""
    cleared = await service.clear_exercises(session, caller=caller_of(user))
    add_target(request, **cleared.model_dump())
    return cleared
