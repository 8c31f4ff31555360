"""Plans over HTTP: the library (list, get, load as JSON or YAML), matches of an incident, activations, tasks and
the dry run."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from command import service as command
from core.clock import utcnow
from core.errors import TooLarge
from core.settings import Settings
from core.users import Role
from incidents import service as incident_service
from incidents.schemas import PlanMatchOut
from plans import service
from plans.schemas import (
    ActivationIn,
    ActivationOut,
    ActivationResultOut,
    AddedOut,
    CheckIn,
    CheckReportOut,
    PlanDocument,
    PlanLoaded,
    PlanOut,
    PlanSummaryOut,
    ReassignIn,
    TaskAction,
    TaskActionIn,
    TaskOut,
)
from web.audit import READ_ONLY, add_target
from web.deps import (
    AnyUser,
    CurrentUser,
    InScope,
    ScopeDep,
    SessionDep,
    SettingsDep,
    VisibleIncident,
    caller_of,
    require,
)
from web.door import BodyKind, body_limit
from web.listing import ListOf, PageDep, if_match_version, list_of
from web.openapi import document_body

router = APIRouter(tags=["plans"])

Planner = Annotated[CurrentUser, Depends(require(Role.commander))]
Commander = Annotated[CurrentUser, Depends(require(Role.commander))]
TaskKeeper = Annotated[CurrentUser, Depends(require(Role.commander, Role.duty_officer))]
TaskWatcher = Annotated[CurrentUser, Depends(require(Role.commander, Role.duty_officer, Role.observer))]

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


async def read_body(request: Request, settings: Settings) -> tuple[bytes, Literal["json", "yaml"]]:
    """The raw body and its format; 413 past ``plan_max_kb`` (before reading when Content-Length says so)."""
    limit = settings.plan_max_kb * 1024
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in JSON_TYPES:
        kind: Literal["json", "yaml"] = "json"
    elif media in YAML_TYPES:
        kind = "yaml"
    else:
        raise HTTPException(415, f"send the plan as application/json or application/yaml (got {media or 'nothing'})")
    declared = request.headers.get("content-length", "")
    too_large = TooLarge(
        f"the body is larger than the {settings.plan_max_kb} KB a plan may have (COMMANDPOST_PLAN_MAX_KB)"
    )
    if declared.isascii() and declared.isdigit() and int(declared) > limit:  # '²'.isdigit() is True
        raise too_large
    chunks, seen = [], 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks), kind


# ------------------------------------------------------------------------------------------------ library


@router.get("/plans", name="plans.list")
async def list_plans(
    session: SessionDep,
    user: AnyUser,
    page: PageDep,
    all_versions: bool = False,
    id: Annotated[str | None, Query(max_length=64, description="only this plan id")] = None,
) -> ListOf[PlanSummaryOut]:
    """The library: the current version of every plan, or every version with ``?all_versions=true``."""
    items, total = await service.list_plans(
        session, all_versions=all_versions, plan_id=id, limit=page.limit, offset=page.offset
    )
    return list_of([PlanSummaryOut.of(p) for p in items], total)


@router.get("/plans/{plan_id}", name="plans.get")
async def get_plan(
    plan_id: str, session: SessionDep, user: AnyUser, version: Annotated[str | None, Query(max_length=32)] = None
) -> PlanOut:
    """A plan's current version (or ``?version=``), with its whole document."""
    return PlanOut.of(await service.get_plan(session, plan_id=plan_id, version=version))


@router.post(
    "/plans",
    name="plans.load",
    status_code=201,
    openapi_extra={**body_limit(BodyKind.plan), **document_body(PlanDocument)},
)
async def load_plan(
    request: Request, response: Response, session: SessionDep, settings: SettingsDep, user: Planner
) -> PlanLoaded:
    """Load a plan version (JSON or YAML body). 201 when stored; 200 when the same id, version and content are
    already there; 409 for the same id and version with other content; 422 naming each bad field (and line)."""
    raw, kind = await read_body(request, settings)
    document = service.parse_plan(raw, media=kind, max_bytes=settings.plan_max_kb * 1024)
    result = await service.load_plan(session, document=document, source=f"api:{user.username}", actor=user.username)
    if result.outcome == "unchanged":
        response.status_code = 200
    add_target(request, plan_id=document.id, version=document.version, outcome=result.outcome)
    loaded = PlanOut.of(result.plan)
    return PlanLoaded(**dict(loaded), outcome=result.outcome, superseded=result.superseded)


def _check_cap(settings: Settings, user: CurrentUser) -> tuple[int, str]:
    if user.is_admin:
        return settings.plans_check_max_examples_admin, "COMMANDPOST_PLANS_CHECK_MAX_EXAMPLES_ADMIN"
    return settings.plans_check_max_examples, "COMMANDPOST_PLANS_CHECK_MAX_EXAMPLES"


@router.post(
    "/plans/check",
    name="plans.check",
    openapi_extra={**READ_ONLY, **body_limit(BodyKind.plan), **document_body(CheckIn, required=False)},
)
async def check(
    request: Request, session: SessionDep, settings: SettingsDep, user: AnyUser, scope: ScopeDep
) -> CheckReportOut:
    """Dry run: which plans would fire for the posted example incidents (JSON or YAML ``{"incidents": [...]}``),
    or, with an empty body, for the newest stored incidents the caller may see; and which incidents no plan covers.
    At most ``PLANS_CHECK_MAX_EXAMPLES`` examples (admins: ``..._ADMIN``): more is a 422, a larger ``limit`` of
    stored incidents is clamped. Writes nothing."""
    raw, kind = await read_body(request, settings) if request.headers.get("content-type") else (b"", "json")
    cap, setting = _check_cap(settings, user)
    body = service.parse_check(raw, media=kind, max_examples=cap, cap_source=f" for role {user.role.value} ({setting})")
    report = await service.check(session, examples=body.incidents, limit=min(body.limit, cap), scope=scope)
    return report.out()


# ------------------------------------------------------------------------------------------------ incidents


@router.get("/incidents/{incident_id}/plan-matches", name="plans.matches")
async def plan_matches(incident: VisibleIncident) -> ListOf[PlanMatchOut]:
    """Every plan that applies to the incident, most specific first, with the reasons it matched (the incident's
    ``plan_matches``, stored when it or the plan library last changed)."""
    return list_of(incident_service.present(incident).plan_matches)


@router.post("/incidents/{incident_id}/activations", name="plans.activate", status_code=201)
async def activate(
    incident_id: int,
    body: ActivationIn,
    request: Request,
    response: Response,
    session: SessionDep,
    user: Commander,
    in_scope: InScope,
) -> ActivationResultOut:
    """Activate a plan: tasks, requirements and notices of the level (default: the incident's grade, IV without
    one); the incident moves to responding. Again at a higher level: only the difference is added (200)."""
    incident = await incident_service.get_incident(session, incident_id=incident_id)
    matches = incident_service.present(incident).plan_matches
    reasons = next((m.reasons for m in matches if m.plan_id == body.plan_id), [])
    result = await service.activate(
        session, incident_id=incident_id, plan_id=body.plan_id, level=body.level, actor=user.username, reasons=reasons
    )
    if result.outcome != "activated":
        response.status_code = 200
    add_target(
        request,
        activation_id=result.activation.id,
        plan_id=body.plan_id,
        level=result.activation.level,
        outcome=result.outcome,
    )
    return ActivationResultOut(
        **dict(result.out),
        outcome=result.outcome,
        message=result.message,
        matched=bool(reasons),
        added=AddedOut.model_validate(result.added.summary()),
    )


@router.get("/incidents/{incident_id}/activations", name="plans.activations")
async def activations(session: SessionDep, incident: VisibleIncident) -> ListOf[ActivationOut]:
    """The plans activated for the incident, with their tasks and requirements."""
    return list_of(await service.activations_of(session, incident_id=incident.id))


@router.get("/incidents/{incident_id}/tasks", name="plans.incident_tasks")
async def incident_tasks(
    session: SessionDep,
    incident: VisibleIncident,
    status: Literal["pending", "started", "done"] | None = None,
) -> ListOf[TaskOut]:
    """The incident's plan tasks by deadline; ``overdue`` marks open ones past it."""
    now = utcnow()
    tasks = await service.tasks_of_incident(session, incident_id=incident.id, status=status)
    return list_of([TaskOut.of(t, now=now) for t in tasks])


@router.get("/tasks/overdue", name="plans.tasks_overdue")
async def overdue_tasks(session: SessionDep, user: TaskWatcher, page: PageDep) -> ListOf[TaskOut]:
    """Plan tasks past their deadline (marked by the sweep, ``task.overdue``) and not done, of incidents still open,
    by deadline: the command room's escalations of tasks, read again after a reload. Not for field units."""
    now = utcnow()
    tasks, total = await service.overdue_tasks(session, limit=page.limit, offset=page.offset)
    return list_of([TaskOut.of(t, now=now) for t in tasks], total)


async def _task_action(
    request: Request,
    session: AsyncSession,
    user: CurrentUser,
    task_id: int,
    action: TaskAction,
    *,
    note: str | None,
    if_match: str | None,
    assignee: str | None = None,
    role: str | None = None,
) -> TaskOut:
    task = await service.update_task(
        session,
        scope=command.incident_scope(caller_of(user)),
        task_id=task_id,
        action=action,
        actor=user.username,
        assignee=assignee,
        role=role,
        note=note,
        expected_version=if_match_version(if_match),
    )
    add_target(request, incident_id=task.incident_id, status=task.status)
    return TaskOut.of(task)


IfMatch = Annotated[str | None, Header(alias="If-Match")]


@router.post("/tasks/{task_id}/start", name="plans.task_start")
async def start_task(
    task_id: int,
    request: Request,
    session: SessionDep,
    user: TaskKeeper,
    if_match: IfMatch = None,
    body: TaskActionIn | None = None,
) -> TaskOut:
    return await _task_action(
        request, session, user, task_id, "start", note=body.note if body else None, if_match=if_match
    )


@router.post("/tasks/{task_id}/complete", name="plans.task_complete")
async def complete_task(
    task_id: int,
    request: Request,
    session: SessionDep,
    user: TaskKeeper,
    if_match: IfMatch = None,
    body: TaskActionIn | None = None,
) -> TaskOut:
    return await _task_action(
        request, session, user, task_id, "complete", note=body.note if body else None, if_match=if_match
    )


@router.post("/tasks/{task_id}/reassign", name="plans.task_reassign")
async def reassign_task(
    task_id: int, body: ReassignIn, request: Request, session: SessionDep, user: TaskKeeper, if_match: IfMatch = None
) -> TaskOut:
    return await _task_action(
        request,
        session,
        user,
        task_id,
        "reassign",
        note=body.note,
        if_match=if_match,
        assignee=body.assignee,
        role=body.role,
    )
