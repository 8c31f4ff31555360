"""The incident's rows in a unit of work, below every rule: reading one (locked or not), showing it, classifying it
in memory, writing its timeline (``record``: the only writer of timeline rows) and queueing its events.
``incidents.service`` (the door) re-exports what other packages call; ``incidents.changes`` and intake build on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import Conflict, NotFound
from core.events import Happened, queue_event
from incidents import repository as repo
from incidents.intake import classify_report
from incidents.models import Incident, TimelineEntry
from incidents.schemas import ClassifyResult, Facts, IncidentOut, IncidentRecord
from incidents.scope import EVERY_INCIDENT, IncidentScope


def present(incident: IncidentRecord) -> IncidentOut:
    """The incident as API.md shows it: the one shape of the 201 body, a read, a list item and an event's data."""
    return IncidentOut.model_validate(incident)


def event_data(incident: Incident, *, change: str) -> dict[str, Any]:
    """The ``data`` of an ``incident.*`` event: the incident as ``present`` shows it, and what changed."""
    return {**present(incident).model_dump(mode="json"), "change": change}


async def get_incident(
    session: AsyncSession, *, incident_id: int, for_update: bool = False, scope: IncidentScope = EVERY_INCIDENT
) -> Incident:
    """The incident, or NotFound: one outside the reader's ``scope`` is answered as one that does not exist."""
    incident = await repo.get(session, incident_id, for_update=for_update, scope=scope)
    if incident is None:
        raise NotFound(f"incident {incident_id} does not exist")
    return incident


async def locked(session: AsyncSession, incident_id: int, expected_version: int | None) -> Incident:
    """The incident locked for a change; Conflict when the caller read an older ``expected_version`` (a stale edit)."""
    incident = await get_incident(session, incident_id=incident_id, for_update=True)
    if expected_version is not None and expected_version != incident.version:
        raise Conflict(
            f"incident {incident_id} has changed since you read it (your version {expected_version}, "
            f"now {incident.version}); reload and try again",
            current_version=incident.version,
        )
    return incident


def touch(incident: Incident) -> None:
    """Mark an edit of the record: a new version (what ``If-Match`` compares) and the time of it."""
    incident.version += 1
    incident.updated_at = utcnow()


def apply_classification(incident: Incident, result: ClassifyResult, *, by_officer: bool) -> None:
    """Copy a classification, its facts and its grade onto the record (``by_officer``: the keys were the officer's,
    so later edits keep them)."""
    incident.category = result.category
    incident.subtype = result.subtype
    incident.classified_by = "officer" if by_officer else "auto"
    incident.confidence = result.confidence
    incident.matched = list(result.matched)
    incident.facts = result.facts.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    incident.fact_sources = dict(result.fact_sources)
    incident.grade_level = result.grade.level
    incident.grade_rule_id = result.grade.rule_id
    incident.grade_rule_version = result.grade.rule_version
    incident.grade_basis = [b.model_dump(mode="json") for b in result.grade.basis]


def classify(description: str, given: dict[str, Any], *, category: str | None, subtype: str | None) -> ClassifyResult:
    """Read a description with the facts an officer gave (they win) and the keys an officer chose, if any."""
    facts = Facts.model_validate(given) if given else None
    return classify_report(description, facts, category=category, subtype=subtype)


def emit(session: AsyncSession, incident: Incident, *, type: str, actor: str | None, change: str) -> None:
    """Queue an ``incident.*`` event carrying the incident and what ``change`` it was."""
    # Built when the unit of work commits: the event carries the incident as committed (with the plan matches
    # command.intake keeps on it, even after this call), the same object a read returns afterwards.
    queue_event(
        session,
        type=type,
        data=lambda: event_data(incident, change=change),
        incident_id=incident.id,
        actor=actor,
    )


def record(
    session: AsyncSession,
    *,
    incident_id: int,
    kind: str,
    actor: str | None,
    data: dict[str, Any] | None = None,
    events: Sequence[Happened] = (),
) -> TimelineEntry:
    """Put an entry on the incident's timeline and queue the events that go with it (scoped to the incident, by the
    same actor). The one way anything writes on a timeline; both are written by the unit of work, the events last.
    The entry is returned unflushed (its id comes with the next flush)."""
    entry = repo.add_timeline(session, incident_id=incident_id, kind=kind, actor=actor, data=data)
    for event in events:
        queue_event(
            session, type=event.type, data=event.data, incident_id=incident_id, unit_id=event.unit_id, actor=actor
        )
    return entry
