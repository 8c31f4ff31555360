"""The changes of an incident record after intake: lifecycle moves (and the move to responding that an activation or a
dispatch causes), grade overrides, edits that regrade, duplicate decisions. Each locks the row, changes it, writes a
timeline entry and queues ``incident.updated`` (``incidents.records``); ``incidents.service`` re-exports them.
"""

from __future__ import annotations

from geoalchemy2.shape import from_shape
from shapely.geometry import Point as ShapelyPoint
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import note_change
from core.clock import utcnow
from core.errors import Conflict, Invalid
from incidents import repository as repo
from incidents.caller import set_caller
from incidents.lifecycle import Status, check_response_allowed, check_transition
from incidents.models import Incident
from incidents.records import apply_classification, classify, emit, get_incident, locked, record, touch
from incidents.schemas import IncidentPatch


async def transition(
    session: AsyncSession,
    *,
    incident_id: int,
    to: Status,
    actor: str,
    reason: str | None = None,
    expected_version: int | None = None,
) -> Incident:
    """Move the incident along its lifecycle; an illegal move is a Conflict."""
    incident = await locked(session, incident_id, expected_version)
    current = Status(incident.status)
    check_transition(current, to)
    incident.status = to.value
    if to in (Status.closed, Status.cancelled):
        incident.closed_at = utcnow()
    touch(incident)
    note_change(session, status=[current.value, to.value])
    record(
        session,
        incident_id=incident.id,
        kind="transition",
        actor=actor,
        data={"from": current, "to": to, "reason": reason},
    )
    emit(session, incident, type="incident.updated", actor=actor, change="status")
    return incident


async def lock_for_response(session: AsyncSession, *, incident_id: int) -> Incident:
    """The incident, locked, for a response about to be put in place (a plan's activation): Conflict unless its
    status allows one (reported, verified or responding). ``mark_responding`` then moves it."""
    incident = await get_incident(session, incident_id=incident_id, for_update=True)
    check_response_allowed(Status(incident.status))
    return incident


async def mark_responding(session: AsyncSession, *, incident_id: int, actor: str, cause: str) -> Incident:
    """For plan activation and dispatch: allowed from reported, verified or responding; moves to responding."""
    incident = await locked(session, incident_id, None)
    current = Status(incident.status)
    check_response_allowed(current)
    if current is not Status.responding:
        incident.status = Status.responding.value
        touch(incident)
        record(
            session,
            incident_id=incident.id,
            kind="transition",
            actor=actor,
            data={"from": current, "to": Status.responding, "reason": cause},
        )
        emit(session, incident, type="incident.updated", actor=actor, change="status")
    return incident


async def override_grade(
    session: AsyncSession,
    *,
    incident_id: int,
    level: str,
    reason: str,
    actor: str,
    expected_version: int | None = None,
) -> Incident:
    """A commander's grade, recorded with who and why; the computed grade is kept beside it."""
    incident = await locked(session, incident_id, expected_version)
    previous = incident.level
    incident.override_level = level
    incident.override_reason = reason
    incident.override_by = actor
    incident.override_at = utcnow()
    touch(incident)
    note_change(session, level=[previous, level])
    record(
        session,
        incident_id=incident.id,
        kind="grade_override",
        actor=actor,
        data={"from": previous, "to": level, "computed": incident.grade_level, "reason": reason},
    )
    emit(session, incident, type="incident.updated", actor=actor, change="grade")
    return incident


async def edit(
    session: AsyncSession, *, incident_id: int, patch: IncidentPatch, actor: str, expected_version: int | None
) -> Incident:
    """Change title, description, address, location, facts, classification, the callback flag or the caller (its
    own record; the timeline names the fields changed, never the caller's values). New text or facts regrade the
    incident; facts the officer gave keep winning over those read from the text."""
    incident = await locked(session, incident_id, expected_version)
    changes = patch.model_dump(exclude_unset=True, exclude={"version"}, mode="json")
    if not changes:
        raise Invalid("nothing to change", field="body")
    before = {"level": incident.grade_level, "category": incident.category, "subtype": incident.subtype}
    # For the audit row: the short fields' values too (never the caller's, nor the description's text).
    plain = ("title", "address_text", "callback_requested")
    plain_before = {key: getattr(incident, key) for key in plain}
    if patch.title is not None:
        incident.title = patch.title
    if patch.location is not None:
        incident.location = from_shape(ShapelyPoint(patch.location.lon, patch.location.lat), srid=4326)
    if patch.description is not None:
        incident.description = patch.description
    if "address_text" in changes:
        incident.address_text = patch.address_text
    if patch.callback_requested is not None:
        incident.callback_requested = patch.callback_requested
    caller = {key: changes[f"caller_{key}"] for key in ("name", "phone") if f"caller_{key}" in changes}
    if caller:
        await set_caller(session, incident_id=incident.id, changes=caller, now=utcnow())
    if patch.facts is not None:
        incident.given_facts = {
            **incident.given_facts,
            **patch.facts.model_dump(exclude_none=True, exclude_defaults=True),
        }
    reclassify = patch.category is not None or patch.subtype is not None
    by_officer = reclassify or incident.classified_by == "officer"
    category = patch.category if reclassify else (incident.category if by_officer else None)
    subtype = patch.subtype if reclassify else (incident.subtype if by_officer else None)
    result = classify(incident.description, incident.given_facts, category=category, subtype=subtype)
    apply_classification(incident, result, by_officer=by_officer)
    touch(incident)
    after = {"level": incident.grade_level, "category": incident.category, "subtype": incident.subtype}
    note_change(session, **{key: [before[key], after[key]] for key in before})
    note_change(session, **{key: [plain_before[key], getattr(incident, key)] for key in plain})
    kind = "facts_corrected" if set(changes) == {"facts"} else "edited"
    record(
        session,
        incident_id=incident.id,
        kind=kind,
        actor=actor,
        data={"changed": sorted(changes), "before": before, "after": after},
    )
    emit(session, incident, type="incident.updated", actor=actor, change=kind)
    return incident


async def decide_duplicate(
    session: AsyncSession,
    *,
    incident_id: int,
    action: str,
    actor: str,
    reason: str | None = None,
    expected_version: int | None = None,
) -> Incident:
    """Confirm (merge into the original, recorded on both timelines) or dismiss a possible duplicate."""
    if action == "confirm":
        # Two incident rows: lock them in ascending id order, as every unit of work that locks several does
        # (plans.service.rematch_open), or two of them could each hold the row the other waits for.
        peek = await get_incident(session, incident_id=incident_id)
        if peek.possible_duplicate_of is not None and peek.possible_duplicate_of < incident_id:
            await repo.get(session, peek.possible_duplicate_of, for_update=True)
    incident = await locked(session, incident_id, expected_version)
    original_id = incident.possible_duplicate_of
    if original_id is None or incident.duplicate_status != "suspected":
        raise Conflict(f"incident {incident_id} is not flagged as a possible duplicate")
    if action == "dismiss":
        incident.duplicate_status = "dismissed"
        incident.possible_duplicate_of = None
        touch(incident)
        note_change(session, duplicate_status=["suspected", "dismissed"], possible_duplicate_of=[original_id, None])
        record(
            session,
            incident_id=incident.id,
            kind="duplicate_dismissed",
            actor=actor,
            data={"was_possible_duplicate_of": original_id, "reason": reason},
        )
        emit(session, incident, type="incident.updated", actor=actor, change="duplicate_dismissed")
        return incident
    original = await locked(session, original_id, None)
    check_transition(Status(incident.status), Status.cancelled)
    previous = incident.status
    incident.duplicate_status = "confirmed"
    incident.merged_into = original.id
    incident.status = Status.cancelled.value
    incident.closed_at = utcnow()
    touch(incident)
    touch(original)
    note_change(
        session,
        duplicate_status=["suspected", "confirmed"],
        merged_into=[None, original.id],
        status=[previous, "cancelled"],
    )
    record(
        session,
        incident_id=incident.id,
        kind="merged_into",
        actor=actor,
        data={"into": original.id, "reason": reason},
    )
    record(
        session,
        incident_id=original.id,
        kind="merged_from",
        actor=actor,
        data={"from": incident.id, "description": incident.description[:500], "reason": reason},
    )
    emit(session, incident, type="incident.updated", actor=actor, change="merged_into")
    emit(session, original, type="incident.updated", actor=actor, change="merged_from")
    return incident
