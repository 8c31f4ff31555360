"""Plans, activations and tasks as the API shows them (plain JSON-ready dicts)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from plans.models import Activation, Plan, PlanNotice, PlanTask, Requirement
from plans.vocabulary import LEVELS, ROLES


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def plan_summary(plan: Plan) -> dict[str, Any]:
    return {
        "id": plan.plan_id,
        "version": plan.version,
        "name": plan.name,
        "name_en": plan.name_en,
        "kind": plan.kind,
        "agency": plan.agency,
        "effective_from": plan.effective_from.isoformat(),
        "current": plan.current,
        "superseded_at": _iso(plan.superseded_at),
        "source": plan.source,
        "loaded_at": _iso(plan.created_at),
        "triggers": plan.document.get("triggers", {}),
        "levels": [level for level in LEVELS if level in plan.document.get("levels", {})],
    }


def plan_out(plan: Plan) -> dict[str, Any]:
    return {**plan_summary(plan), "document": plan.document}


def task_out(task: PlanTask, *, now: datetime | None = None) -> dict[str, Any]:
    """A task; ``overdue`` is true while it is open past its deadline (marked by the sweep or not yet)."""
    open_ = task.status != "done"
    late = task.overdue_at is not None or (now is not None and task.due_at < now)
    zh, en = ROLES.get(task.role, (task.role, task.role))
    return {
        "id": task.id,
        "activation_id": task.activation_id,
        "incident_id": task.incident_id,
        "level": task.level,
        "phase": task.phase,
        "phase_en": task.phase_en,
        "title": task.title,
        "title_en": task.title_en,
        "role": task.role,
        "role_name": zh,
        "role_name_en": en,
        "due_minutes": task.due_minutes,
        "due_at": _iso(task.due_at),
        "status": task.status,
        "assignee": task.assignee,
        "started_at": _iso(task.started_at),
        "done_at": _iso(task.done_at),
        "overdue": open_ and late,
        "overdue_at": _iso(task.overdue_at),
        "version": task.version,
    }


def requirements_out(rows: Sequence[Requirement]) -> list[dict[str, Any]]:
    """One line per resource type: the total asked for, how many are filled, and what each level added."""
    totals: dict[str, dict[str, Any]] = {}
    added: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        line = totals.setdefault(row.resource_type, {"resource_type": row.resource_type, "count": 0, "filled": 0})
        line["count"] += row.count
        line["filled"] += row.filled
        added[row.resource_type][row.level] = added[row.resource_type].get(row.level, 0) + row.count
    return [{**line, "added": added[key]} for key, line in totals.items()]


def notice_out(notice: PlanNotice) -> dict[str, Any]:
    return {
        "id": notice.id,
        "agency": notice.agency,
        "agency_en": notice.agency_en,
        "role": notice.role,
        "channel": notice.channel,
        "level": notice.level,
        "status": notice.status,
    }


def activation_out(
    activation: Activation,
    *,
    tasks: Sequence[PlanTask],
    requirements: Sequence[Requirement],
    notices: Sequence[PlanNotice],
    now: datetime | None = None,
) -> dict[str, Any]:
    return {
        "id": activation.id,
        "incident_id": activation.incident_id,
        "plan_id": activation.plan_id,
        "plan_version": activation.plan_version,
        "level": activation.level,
        "activated_by": activation.activated_by,
        "activated_at": _iso(activation.activated_at),
        "updated_at": _iso(activation.updated_at),
        "history": activation.history,
        "tasks": [task_out(t, now=now) for t in tasks],
        "requirements": requirements_out(requirements),
        "notices": [notice_out(n) for n in notices],
    }
