"""Intake and the changes of an incident record, orchestrated: the record (``incidents``: classify, extract, grade,
jurisdiction, duplicates, timeline) and the plans that match it (``plans``) change in one unit of work, and the
incident's event carries both, as every read shows them afterwards (``incidents.service.present``).

Matches are stored when what they depend on changes: on intake, on an edit (text, facts, place, classification)
and on a grade override here; when the plan library changes, ``plans.service.load_plan`` matches the open incidents
again. A status change, a duplicate decision, a dispatch or an activation leaves them as they are (matching looks
at neither). Matching holds the plan library shared (``plans.service.hold_library``), taken before the incident's
row, so that an incident changed while a plan loads is matched against the library as it commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from incidents import service as incidents
from incidents.schemas import IncidentIn, IncidentOut, IncidentPatch, IncidentRecord, Status
from incidents.service import DuplicatePolicy
from plans import service as plans

_DEFAULT_DUPLICATES = DuplicatePolicy()


async def log_report(
    session: AsyncSession,
    *,
    data: IncidentIn,
    actor: str,
    idempotency_key: str | None = None,
    duplicates: DuplicatePolicy = _DEFAULT_DUPLICATES,
) -> tuple[IncidentOut, bool]:
    """Log a report (``incidents.service.create_incident``) with the plans that match it; ``incident.created``
    carries them. A retry with the same ``Idempotency-Key`` returns the first incident as stored (the bool is
    False)."""
    await plans.hold_library(session)

    async def matcher(incident: IncidentRecord) -> list[dict[str, Any]]:
        return await plans.matches_of(session, incident=incident)

    incident, created = await incidents.create_incident(
        session, data=data, actor=actor, idempotency_key=idempotency_key, duplicates=duplicates, matcher=matcher
    )
    return incidents.present(incident), created


async def edit_incident(
    session: AsyncSession, *, incident_id: int, patch: IncidentPatch, actor: str, expected_version: int | None
) -> IncidentOut:
    """Correct the report (it is regraded) and match it again."""
    await plans.hold_library(session)
    incident = await incidents.edit(
        session, incident_id=incident_id, patch=patch, actor=actor, expected_version=expected_version
    )
    incidents.set_plan_matches(incident, await plans.matches_of(session, incident=incident))
    return incidents.present(incident)


async def override_grade(
    session: AsyncSession,
    *,
    incident_id: int,
    level: str,
    reason: str,
    actor: str,
    expected_version: int | None = None,
) -> IncidentOut:
    """A commander's grade; the plans that apply depend on the grade in force, so they are matched again."""
    await plans.hold_library(session)
    incident = await incidents.override_grade(
        session, incident_id=incident_id, level=level, reason=reason, actor=actor, expected_version=expected_version
    )
    incidents.set_plan_matches(incident, await plans.matches_of(session, incident=incident))
    return incidents.present(incident)


async def transition_incident(
    session: AsyncSession,
    *,
    incident_id: int,
    to: Status,
    actor: str,
    reason: str | None = None,
    expected_version: int | None = None,
) -> IncidentOut:
    """Move the incident along its lifecycle (matching does not look at the status)."""
    incident = await incidents.transition(
        session, incident_id=incident_id, to=to, actor=actor, reason=reason, expected_version=expected_version
    )
    return incidents.present(incident)


async def decide_duplicate(
    session: AsyncSession,
    *,
    incident_id: int,
    action: str,
    actor: str,
    reason: str | None = None,
    expected_version: int | None = None,
) -> IncidentOut:
    """Confirm (merge and cancel) or dismiss a possible duplicate."""
    incident = await incidents.decide_duplicate(
        session,
        incident_id=incident_id,
        action=action,
        actor=actor,
        reason=reason,
        expected_version=expected_version,
    )
    return incidents.present(incident)
