"""Putting a plan into effect for an incident: tasks with deadlines, resource requirements and notices, all on the
incident's timeline with an event.

A plan is activated once per incident. Posting it again at a more severe level escalates: only what the higher
level has beyond what was already issued is added (no task, notice or resource is sent twice). Posting it at a
less severe level lowers the recorded level but withdraws nothing: the timeline says so, and each task or
requirement is stood down by a person, explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import Invalid, NotFound
from core.events import Happened, queue_event
from incidents import service as incident_service
from incidents.schemas import IncidentRecord
from notify import service as notify
from plans import repository as repo
from plans.models import Activation, Plan, PlanNotice, PlanTask, Requirement
from plans.present import ActivationOut
from plans.schemas import LevelPackage, PlanDocument
from plans.vocabulary import SEVERITY
from plans.window import DEFAULT_TZ

Outcome = Literal["activated", "escalated", "unchanged", "lowered"]
PLAN_TZ = ZoneInfo(DEFAULT_TZ)


@dataclass
class Added:
    """What one activation step issued."""

    tasks: list[PlanTask] = field(default_factory=list)
    requirements: list[Requirement] = field(default_factory=list)
    notices: list[PlanNotice] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "tasks": [t.title for t in self.tasks],
            "requirements": {r.resource_type: r.count for r in self.requirements},
            "notices": [n.agency or n.role for n in self.notices],
        }


@dataclass
class ActivationResult:
    activation: Activation
    outcome: Outcome
    added: Added
    message: str
    out: ActivationOut


def package_of(plan: Plan, level: str) -> LevelPackage:
    """The level's package of a stored plan version; Invalid when the plan does not define that level."""
    document = PlanDocument.model_validate(plan.document)
    package = document.levels.get(level)
    if package is None:
        raise Invalid(
            f"plan {plan.plan_id!r} version {plan.version} has no level {level} package "
            f"(it activates from {document.triggers.min_level})",
            field="level",
        )
    return package


async def _issue(
    session: AsyncSession, activation: Activation, package: LevelPackage, *, level: str, now: datetime
) -> Added:
    """Create what ``package`` has and the activation does not have yet; deadlines count from ``now``."""
    have_tasks = {t.title for t in await repo.tasks_of_activation(session, activation.id)}
    have_counts: dict[str, int] = {}
    for row in await repo.requirements_of(session, activation.id):
        have_counts[row.resource_type] = have_counts.get(row.resource_type, 0) + row.count
    have_notices = {n.key for n in await repo.notices_of(session, activation.id)}
    ids = {"activation_id": activation.id, "incident_id": activation.incident_id, "level": level}
    added = Added()
    for phase, task in package.tasks():
        if task.task.zh not in have_tasks:
            added.tasks.append(
                PlanTask(
                    **ids,
                    phase=phase.name.zh,
                    phase_en=phase.name.en,
                    title=task.task.zh,
                    title_en=task.task.en,
                    role=task.role,
                    due_minutes=task.due_minutes,
                    due_at=now + timedelta(minutes=task.due_minutes),
                )
            )
    for resource_type, count in package.resources.items():
        missing = count - have_counts.get(resource_type, 0)
        if missing > 0:
            added.requirements.append(Requirement(**ids, resource_type=resource_type, count=missing))
    for notice in package.notify:
        if notice.key not in have_notices:
            added.notices.append(
                PlanNotice(
                    **ids,
                    key=notice.key,
                    agency=notice.agency.zh if notice.agency else None,
                    agency_en=notice.agency.en if notice.agency else None,
                    role=notice.role,
                    channel=notice.channel,
                )
            )
    await repo.add_all(session, [*added.tasks, *added.requirements, *added.notices])
    if added.notices:
        await _deliver(session, activation, added.notices, level=level, now=now)
    return added


async def _deliver(
    session: AsyncSession, activation: Activation, notices: list[PlanNotice], *, level: str, now: datetime
) -> None:
    """Plans decide who is told; notify delivers: each notice is resolved to contacts (by agency, either name, and
    role) and queued in this unit of work. Its status says what became of it: ``delivering`` (handed to notify:
    GET /deliveries?incident= shows each try), or ``undeliverable`` (nobody found: recorded and shown, not dropped)."""
    incident = await incident_service.get_incident(session, incident_id=activation.incident_id)
    for notice in notices:
        message = notify.Message(
            kind="plan.notice",
            subject=f"[{level}级响应] {activation.plan_id}: {incident.title}"[:500],
            body=(
                f"预案 {activation.plan_id} 已启动{level}级响应。事件：{incident.title}\n"
                f"Plan {activation.plan_id} activated at level {level} for incident #{incident.id}: {incident.title}"
            ),
            data={
                "incident_id": incident.id,
                "plan_id": activation.plan_id,
                "activation_id": activation.id,
                "level": level,
                "notice_id": notice.id,
                "agency": notice.agency,
                "role": notice.role,
                "channel": notice.channel,
            },
            incident_id=incident.id,
            source=f"plan_notice:{notice.id}",
        )
        made = await notify.deliver_notice(
            session,
            agencies=[a for a in (notice.agency, notice.agency_en) if a],
            role=notice.role,
            channel=notice.channel,
            message=message,
            now=now,
        )
        notice.status = "undeliverable" if all(d.channel == "none" for d in made) else "delivering"
    await session.flush()


async def _out(session: AsyncSession, activation: Activation, now: datetime) -> ActivationOut:
    return ActivationOut.of(
        activation,
        tasks=await repo.tasks_of_activation(session, activation.id),
        requirements=await repo.requirements_of(session, activation.id),
        notices=await repo.notices_of(session, activation.id),
        now=now,
    )


async def _plan_for_new_activation(session: AsyncSession, *, plan_id: str, at: datetime) -> Plan:
    on = at.astimezone(PLAN_TZ).date()
    plan = await repo.in_effect(session, plan_id=plan_id, on=on) or await repo.current(session, plan_id=plan_id)
    if plan is None:
        raise NotFound(f"plan {plan_id!r} does not exist")
    return plan


async def activate(
    session: AsyncSession,
    *,
    incident_id: int,
    plan_id: str,
    level: str | None,
    actor: str,
    reasons: list[str] | None = None,
) -> ActivationResult:
    """Activate ``plan_id`` for the incident at ``level`` (default: the incident's grade in force, IV without one).

    Allowed while the incident is reported, verified or responding; it moves to responding. Activating a plan the
    incident already has escalates (more severe), changes nothing (same) or lowers the level without withdrawing
    anything (less severe)."""
    incident = await incident_service.lock_for_response(session, incident_id=incident_id)
    level = level or incident.level or "IV"
    now = utcnow()
    existing = await repo.get_activation(session, incident_id=incident_id, plan_id=plan_id, for_update=True)
    if existing is None:
        return await _first(session, incident, plan_id=plan_id, level=level, actor=actor, now=now, reasons=reasons)
    if SEVERITY[level] > SEVERITY[existing.level]:
        return await _escalate(session, existing, level=level, actor=actor, now=now)
    if level == existing.level:
        message = f"plan {plan_id!r} is already active at level {level}; nothing was added or sent again"
        return ActivationResult(existing, "unchanged", Added(), message, await _out(session, existing, now))
    return await _lower(session, existing, level=level, actor=actor, now=now)


async def _first(
    session: AsyncSession,
    incident: IncidentRecord,
    *,
    plan_id: str,
    level: str,
    actor: str,
    now: datetime,
    reasons: list[str] | None,
) -> ActivationResult:
    incident_id = incident.id
    plan = await _plan_for_new_activation(session, plan_id=plan_id, at=now)
    package = package_of(plan, level)
    activation = Activation(
        incident_id=incident_id,
        plan_pk=plan.id,
        plan_id=plan.plan_id,
        plan_version=plan.version,
        level=level,
        activated_by=actor,
        history=[{"at": now.isoformat(), "by": actor, "from": None, "to": level, "change": "activated"}],
    )
    await repo.add_all(session, [activation])
    added = await _issue(session, activation, package, level=level, now=now)
    incident_service.record(
        session,
        incident_id=incident.id,
        kind="plan_activated",
        actor=actor,
        data={
            "activation_id": activation.id,
            "plan_id": plan.plan_id,
            "plan_version": plan.version,
            "plan_name": plan.name,
            "level": level,
            "reasons": reasons or [],
            **added.summary(),
        },
    )
    await incident_service.mark_responding(
        session, incident_id=incident_id, actor=actor, cause=f"plan {plan.plan_id} activated at level {level}"
    )
    out = await _out(session, activation, now)
    queue_event(  # after the move to responding it caused, as on the timeline
        session,
        type="plan.activated",
        data={"incident_id": incident_id, "activation": out.model_dump(mode="json")},
        incident_id=incident_id,
        actor=actor,
    )
    message = f"plan {plan.plan_id!r} version {plan.version} activated at level {level}"
    return ActivationResult(activation, "activated", added, message, out)


async def _escalate(
    session: AsyncSession, activation: Activation, *, level: str, actor: str, now: datetime
) -> ActivationResult:
    plan = await repo.get_by_pk(session, activation.plan_pk)
    assert plan is not None  # the foreign key keeps it
    package = package_of(plan, level)  # the version this activation started with, even if superseded since
    previous = activation.level
    added = await _issue(session, activation, package, level=level, now=now)
    activation.level = level
    activation.updated_at = now
    activation.history = [
        *activation.history,
        {"at": now.isoformat(), "by": actor, "from": previous, "to": level, "change": "escalated"},
    ]
    await session.flush()
    incident_service.record(
        session,
        incident_id=activation.incident_id,
        kind="plan_escalated",
        actor=actor,
        data={
            "activation_id": activation.id,
            "plan_id": activation.plan_id,
            "from": previous,
            "to": level,
            **added.summary(),
        },
    )
    await incident_service.mark_responding(
        session,
        incident_id=activation.incident_id,
        actor=actor,
        cause=f"plan {activation.plan_id} escalated to level {level}",
    )
    out = await _out(session, activation, now)
    queue_event(
        session,
        type="plan.escalated",
        data={
            "incident_id": activation.incident_id,
            "from": previous,
            "added": added.summary(),
            "activation": out.model_dump(mode="json"),
        },
        incident_id=activation.incident_id,
        actor=actor,
    )
    message = f"plan {activation.plan_id!r} escalated from level {previous} to {level}; only the difference was added"
    return ActivationResult(activation, "escalated", added, message, out)


async def _lower(
    session: AsyncSession, activation: Activation, *, level: str, actor: str, now: datetime
) -> ActivationResult:
    previous = activation.level
    activation.level = level
    activation.updated_at = now
    activation.history = [
        *activation.history,
        {"at": now.isoformat(), "by": actor, "from": previous, "to": level, "change": "lowered"},
    ]
    await session.flush()
    open_tasks = [t.id for t in await repo.tasks_of_activation(session, activation.id) if t.status != "done"]
    message = (
        f"plan {activation.plan_id!r} lowered from level {previous} to {level}; nothing was withdrawn: "
        f"{len(open_tasks)} open task(s) and every resource requirement stay until stood down one by one"
    )
    out = await _out(session, activation, now)
    incident_service.record(
        session,
        incident_id=activation.incident_id,
        kind="plan_level_lowered",
        actor=actor,
        data={
            "activation_id": activation.id,
            "plan_id": activation.plan_id,
            "from": previous,
            "to": level,
            "open_tasks": open_tasks,
            "note": message,
        },
        events=[
            Happened(
                "plan.lowered",
                {"incident_id": activation.incident_id, "from": previous, "activation": out.model_dump(mode="json")},
            )
        ],
    )
    return ActivationResult(activation, "lowered", Added(), message, out)


async def activations_of(
    session: AsyncSession, *, incident_id: int, now: datetime | None = None
) -> list[ActivationOut]:
    """Every activation of the incident, with its tasks, requirements and notices."""
    await incident_service.get_incident(session, incident_id=incident_id)
    return [
        await _out(session, a, now or utcnow()) for a in await repo.activations_of(session, incident_id=incident_id)
    ]
