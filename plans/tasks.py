"""Tracking an activation's tasks: start, complete, reassign; and the sweep that marks overdue ones.

Every change writes a timeline entry and queues its event (the unit of work writes it last). The sweep locks its
work with ``FOR UPDATE SKIP LOCKED`` and marks each task once (``overdue_at``), so two sweeps running at the same time,
or one run again after a crash, never mark or announce a task twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import note_change
from core.clock import utcnow
from core.errors import Conflict, Invalid, NotFound
from core.events import Happened
from incidents import service as incident_service
from plans import repository as repo
from plans.models import PlanTask
from plans.present import TaskOut
from plans.vocabulary import ROLES, TaskAction, TaskStatus

SWEEP_BATCH = 500


async def _locked(session: AsyncSession, task_id: int) -> PlanTask:
    task = await repo.get_task(session, task_id, for_update=True)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    return task


def _apply(
    task: PlanTask, action: TaskAction, *, actor: str, assignee: str | None, role: str | None, now: datetime
) -> str:
    """Change the task in memory; Conflict for a move its status does not allow. Returns the timeline kind."""
    status = TaskStatus(task.status)
    if status is TaskStatus.done:
        raise Conflict(f"task {task.id} is already done (at {task.done_at:%Y-%m-%d %H:%M} UTC)")
    if action == "start":
        if status is TaskStatus.started:
            raise Conflict(f"task {task.id} was already started by {task.assignee or 'someone'}")
        task.status = TaskStatus.started.value
        task.started_at = now
        task.assignee = assignee or task.assignee or actor
        return "task_started"
    if action == "complete":
        task.status = TaskStatus.done.value
        task.done_at = now
        task.started_at = task.started_at or now
        task.assignee = task.assignee or actor
        return "task_done"
    if assignee is None:
        raise Invalid("reassigning needs an assignee", field="assignee")
    if role is not None and role not in ROLES:
        raise Invalid(f"unknown role {role!r}; known: {', '.join(ROLES)}", field="role")
    task.assignee = assignee
    task.role = role or task.role
    return "task_reassigned"


async def update_task(
    session: AsyncSession,
    *,
    task_id: int,
    action: TaskAction,
    actor: str,
    assignee: str | None = None,
    role: str | None = None,
    note: str | None = None,
    expected_version: int | None = None,
    scope: incident_service.IncidentScope = incident_service.EVERY_INCIDENT,
) -> PlanTask:
    """Start, complete or reassign a task (the task row is locked; a stale ``expected_version`` is a Conflict). A
    task of an incident outside ``scope`` is NotFound, as if it did not exist."""
    task = await _locked(session, task_id)
    if not scope.everything:
        try:
            await incident_service.get_incident(session, incident_id=task.incident_id, scope=scope)
        except NotFound:
            raise NotFound(f"task {task_id} does not exist") from None
    if expected_version is not None and expected_version != task.version:
        raise Conflict(
            f"task {task_id} has changed since you read it (your version {expected_version}, now {task.version})"
        )
    before = {"status": task.status, "assignee": task.assignee, "role": task.role}
    now = utcnow()
    kind = _apply(task, action, actor=actor, assignee=assignee, role=role, now=now)
    task.version += 1
    task.updated_at = now
    await session.flush()
    note_change(session, **{key: [was, getattr(task, key)] for key, was in before.items()})
    incident_service.record(
        session,
        incident_id=task.incident_id,
        kind=kind,
        actor=actor,
        data={
            "task_id": task.id,
            "title": task.title,
            "before": before,
            "status": task.status,
            "assignee": task.assignee,
            "role": task.role,
            "note": note,
        },
        events=[
            Happened(
                "task.updated",
                {
                    "incident_id": task.incident_id,
                    "action": action,
                    "task": TaskOut.of(task, now=now).model_dump(mode="json"),
                },
            )
        ],
    )
    return task


async def tasks_of_incident(session: AsyncSession, *, incident_id: int, status: str | None = None) -> list[PlanTask]:
    await incident_service.get_incident(session, incident_id=incident_id)
    return await repo.tasks_of_incident(session, incident_id=incident_id, status=status)


async def overdue_tasks(session: AsyncSession, *, limit: int, offset: int = 0) -> tuple[list[PlanTask], int]:
    """Open tasks marked overdue (``task.overdue``) of open incidents: the command room's escalations of tasks."""
    return await repo.overdue_open(session, limit=limit, offset=offset)


async def sweep_overdue(session: AsyncSession, *, now: datetime | None = None, limit: int = SWEEP_BATCH) -> int:
    """Mark open tasks past their deadline as overdue, once each, with a timeline entry and a ``task.overdue``
    event; returns how many were marked. Run it in a transaction of its own."""
    now = now or utcnow()
    tasks = await repo.lock_overdue(session, now=now, limit=limit)
    for task in tasks:
        task.overdue_at = now
        task.updated_at = now
        task.version += 1
    await session.flush()
    for task in tasks:
        late = int((now - task.due_at).total_seconds() // 60)
        incident_service.record(
            session,
            incident_id=task.incident_id,
            kind="task_overdue",
            actor=None,
            data={
                "task_id": task.id,
                "title": task.title,
                "role": task.role,
                "due_at": task.due_at.isoformat(),
                "minutes_late": late,
            },
            events=[
                Happened(
                    "task.overdue",
                    {"incident_id": task.incident_id, "task": TaskOut.of(task, now=now).model_dump(mode="json")},
                )
            ],
        )
    return len(tasks)
