"""The situation picture for the command room's counters: open incidents, units, unmet requirements, overdue tasks."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from command import repository as repo
from command.schemas import IncidentCounts, Situation, UnitCounts
from command.visibility import Caller, dispatch_condition, incident_scope
from core.clock import utcnow
from core.events import queue_event
from gis import service as gis
from incidents import service as incidents
from plans import service as plans


async def situation(session: AsyncSession, *, caller: Caller | None = None) -> Situation:
    """Everything the counters show, in one answer (for ``caller``: the incidents, requirements, tasks and
    escalations of what they may see; units are everyone's). Clients refresh it when ``incident.*``, ``unit.*``,
    ``dispatch.*``, ``plan.*`` or ``task.*`` events arrive."""
    scope = incident_scope(caller) if caller is not None else incidents.EVERY_INCIDENT
    visible = dispatch_condition(caller) if caller is not None else None
    by_category: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    open_total = 0
    for category, level, count in await incidents.open_counts(session, scope=scope):
        by_category[category or "unclassified"][level or "ungraded"] += count
        open_total += count
    by_type: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_status: dict[str, int] = defaultdict(int)
    for unit_type, status, count in await gis.unit_counts(session):
        by_type[unit_type][status] += count
        by_status[status] += count
    return Situation(
        at=utcnow(),
        incidents=IncidentCounts(open=open_total, by_category={k: dict(v) for k, v in by_category.items()}),
        units=UnitCounts(by_status=dict(by_status), by_type={k: dict(v) for k, v in by_type.items()}),
        unmet_requirements=await plans.unmet_requirements(session, scope=scope),
        overdue_tasks=await plans.overdue_task_count(session, scope=scope),
        escalated_dispatches=await repo.escalated_count(session, visible=visible),
        exercises_open=len(await incidents.open_exercise_ids(session, scope=scope)),
    )


class SituationWatch:
    """Publishes ``situation.updated`` (the whole picture in ``data``) when the picture has changed since this
    watch last published it, so the command room's counters move without anyone asking. Run by the scheduler's
    sweep; a process that takes the schedule over publishes once to start from."""

    def __init__(self) -> None:
        self.last_digest: str | None = None

    async def sweep(self, session: AsyncSession) -> int:
        picture = (await situation(session)).model_dump(mode="json")  # the answer to GET /situation, as it is sent
        digest = _digest(picture)
        if digest == self.last_digest:
            return 0
        queue_event(session, type="situation.updated", data=picture)
        self.last_digest = digest
        return 1


def _digest(picture: dict[str, Any]) -> str:
    """What the counters show, without the time it was computed."""
    content = {k: v for k, v in picture.items() if k != "at"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
