"""The incident record's rules: intake (idempotent), duplicates, lifecycle, grade overrides, edits that regrade;
and its timeline, which only this module writes (``record``).

Every change writes, in the caller's transaction, the incident row and a timeline entry, and queues its event
(``incident.created`` / ``incident.updated`` carrying the incident as ``present`` shows it, built when the unit of
work commits); the request's unit of work adds the audit row and writes the events last. The plans that match an
incident are computed by ``plans`` and kept here (``set_plan_matches``); ``command.intake`` runs the two together.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import Point as ShapelyPoint
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import Conflict, Invalid, NotFound
from core.events import Happened, queue_event
from gis import service as gis_service
from incidents import repository as repo
from incidents.intake import classify_report as classify_report  # POST /classify: the pure core, through this door
from incidents.lifecycle import Status, check_response_allowed, check_transition
from incidents.models import Incident
from incidents.schemas import (
    ClassifyResult,
    Facts,
    IncidentIn,
    IncidentOut,
    IncidentPatch,
    IncidentRecord,
    PlanMatchOut,
)
from incidents.scope import EVERY_INCIDENT as EVERY_INCIDENT  # the scope travels through this door
from incidents.scope import NO_INCIDENT as NO_INCIDENT
from incidents.scope import IncidentScope as IncidentScope
from incidents.taxonomy import check_keys as check_keys  # the list's filters: intake checks its own keys
from incidents.tiles import incident_tile as incident_tile  # the map's incidents layer

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
# The plans that apply to an incident, ranked (plans computes them; incidents may not import plans).
Matcher = Callable[[IncidentRecord], Awaitable[Sequence[dict[str, Any]]]]


@dataclass(frozen=True)
class DuplicatePolicy:
    """An open incident of the same subtype this near, this close in time, is flagged as a possible duplicate."""

    radius_m: float = 500.0
    window: timedelta = timedelta(hours=2)


# ---------------------------------------------------------------------------------------------------- reading


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


async def list_incidents(
    session: AsyncSession,
    *,
    statuses: list[str] | None = None,
    category: str | None = None,
    subtype: str | None = None,
    level: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    scope: IncidentScope = EVERY_INCIDENT,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Incident], int]:
    """A page of the incidents in ``scope``, newest first, and how many match in all."""
    stmt = repo.filtered(statuses=statuses, category=category, subtype=subtype, level=level, bbox=bbox, scope=scope)
    return await repo.page(session, stmt, limit=limit, offset=offset), await repo.count(session, stmt)


async def timeline(session: AsyncSession, *, incident_id: int) -> list[Any]:
    """The incident's timeline, oldest first."""
    await get_incident(session, incident_id=incident_id)
    return await repo.timeline(session, incident_id)


# ---------------------------------------------------------------------------------------------------- intake


def request_hash(data: IncidentIn) -> str:
    """A fingerprint of the request body: the same key with another body is a conflict, not a replay."""
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _title_from(description: str) -> str:
    first = re.split(r"(?<=[。！？!?；;])|(?<=\.)\s|\n", description, maxsplit=1)[0].strip()
    return first if len(first) <= 80 else first[:79] + "…"


def _apply_classification(incident: Incident, result: ClassifyResult, *, by_officer: bool) -> None:
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


def _classify(description: str, given: dict[str, Any], *, category: str | None, subtype: str | None) -> ClassifyResult:
    facts = Facts.model_validate(given) if given else None
    return classify_report(description, facts, category=category, subtype=subtype)


def _emit(session: AsyncSession, incident: Incident, *, type: str, actor: str | None, change: str) -> None:
    # Built when the unit of work commits: the event carries the incident as committed (with the plan matches
    # command.intake keeps on it, even after this call), the same object a read returns afterwards.
    queue_event(
        session,
        type=type,
        data=lambda: event_data(incident, change=change),
        incident_id=incident.id,
        actor=actor,
    )


async def create_incident(
    session: AsyncSession,
    *,
    data: IncidentIn,
    actor: str,
    idempotency_key: str | None = None,
    duplicates: DuplicatePolicy = DuplicatePolicy(),
    matcher: Matcher | None = None,
) -> tuple[Incident, bool]:
    """Log a report: classify, extract, grade, place it in its jurisdiction, flag a likely duplicate.

    With an ``idempotency_key``, a retry of the same body returns the incident the first call made (the bool is
    False); the same key with a different body is a Conflict. Two racing requests with one key make one incident.
    ``matcher`` ranks the plans that apply to the new incident before it is stored (``command.intake`` hands in
    plans' matching), so the row is inserted with its matches rather than written twice.
    """
    if idempotency_key is not None:
        if not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
            raise Invalid("Idempotency-Key must be 1-200 printable ASCII characters", field="Idempotency-Key")
        fingerprint = request_hash(data)
        if not await repo.claim_idempotency_key(session, actor=actor, key=idempotency_key, request_hash=fingerprint):
            earlier = await repo.get_idempotency_key(session, actor=actor, key=idempotency_key)
            if earlier is None or earlier.request_hash != fingerprint or earlier.incident_id is None:
                raise Conflict("this Idempotency-Key was already used with a different request body")
            return await get_incident(session, incident_id=earlier.incident_id), False

    given = data.facts.model_dump(exclude_none=True, exclude_defaults=True) if data.facts else {}
    result = _classify(data.description, given, category=data.category, subtype=data.subtype)
    lon, lat = data.location.lon, data.location.lat
    incident = Incident(
        title=data.title or _title_from(data.description),
        description=data.description,
        location=from_shape(ShapelyPoint(lon, lat), srid=4326),
        source=data.source,
        reported_at=data.reported_at or utcnow(),
        given_facts=given,
        status=Status.reported.value,
        created_by=actor,
    )
    _apply_classification(incident, result, by_officer=bool(data.category or data.subtype))
    jurisdiction = await gis_service.jurisdiction_containing(session, lon=lon, lat=lat)
    if jurisdiction is not None:
        incident.jurisdiction_id = jurisdiction.id
        incident.jurisdiction_name = jurisdiction.name
        incident.jurisdiction_name_en = jurisdiction.name_en
    if incident.subtype:
        original = await repo.find_duplicate(
            session,
            subtype=incident.subtype,
            lon=lon,
            lat=lat,
            reported_at=incident.reported_at,
            radius_m=duplicates.radius_m,
            window=duplicates.window,
        )
        if original is not None:
            incident.possible_duplicate_of = original
            incident.duplicate_status = "suspected"
    if matcher is not None:
        set_plan_matches(incident, await matcher(incident))
    session.add(incident)
    await session.flush()
    if idempotency_key is not None:
        earlier = await repo.get_idempotency_key(session, actor=actor, key=idempotency_key)
        assert earlier is not None
        earlier.incident_id = incident.id
    record(
        session,
        incident_id=incident.id,
        kind="created",
        actor=actor,
        data={"category": incident.category, "subtype": incident.subtype, "level": incident.grade_level},
    )
    if incident.possible_duplicate_of is not None:
        record(
            session,
            incident_id=incident.id,
            kind="duplicate_flagged",
            actor=None,
            data={"possible_duplicate_of": incident.possible_duplicate_of},
        )
    _emit(session, incident, type="incident.created", actor=actor, change="created")
    return incident, True


# ---------------------------------------------------------------------------------------------------- changes


async def _locked(session: AsyncSession, incident_id: int, expected_version: int | None) -> Incident:
    incident = await get_incident(session, incident_id=incident_id, for_update=True)
    if expected_version is not None and expected_version != incident.version:
        raise Conflict(
            f"incident {incident_id} has changed since you read it (your version {expected_version}, "
            f"now {incident.version}); reload and try again",
            current_version=incident.version,
        )
    return incident


def _touch(incident: Incident) -> None:
    incident.version += 1
    incident.updated_at = utcnow()


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
    incident = await _locked(session, incident_id, expected_version)
    current = Status(incident.status)
    check_transition(current, to)
    incident.status = to.value
    _touch(incident)
    record(
        session,
        incident_id=incident.id,
        kind="transition",
        actor=actor,
        data={"from": current, "to": to, "reason": reason},
    )
    _emit(session, incident, type="incident.updated", actor=actor, change="status")
    return incident


async def lock_for_response(session: AsyncSession, *, incident_id: int) -> Incident:
    """The incident, locked, for a response about to be put in place (a plan's activation): Conflict unless its
    status allows one (reported, verified or responding). ``mark_responding`` then moves it."""
    incident = await get_incident(session, incident_id=incident_id, for_update=True)
    check_response_allowed(Status(incident.status))
    return incident


async def mark_responding(session: AsyncSession, *, incident_id: int, actor: str, cause: str) -> Incident:
    """For plan activation and dispatch: allowed from reported, verified or responding; moves to responding."""
    incident = await _locked(session, incident_id, None)
    current = Status(incident.status)
    check_response_allowed(current)
    if current is not Status.responding:
        incident.status = Status.responding.value
        _touch(incident)
        record(
            session,
            incident_id=incident.id,
            kind="transition",
            actor=actor,
            data={"from": current, "to": Status.responding, "reason": cause},
        )
        _emit(session, incident, type="incident.updated", actor=actor, change="status")
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
    incident = await _locked(session, incident_id, expected_version)
    previous = incident.level
    incident.override_level = level
    incident.override_reason = reason
    incident.override_by = actor
    incident.override_at = utcnow()
    _touch(incident)
    record(
        session,
        incident_id=incident.id,
        kind="grade_override",
        actor=actor,
        data={"from": previous, "to": level, "computed": incident.grade_level, "reason": reason},
    )
    _emit(session, incident, type="incident.updated", actor=actor, change="grade")
    return incident


async def edit(
    session: AsyncSession, *, incident_id: int, patch: IncidentPatch, actor: str, expected_version: int | None
) -> Incident:
    """Change title, description, location, facts or classification. New text or facts regrade the incident;
    facts the officer gave keep winning over those read from the text."""
    incident = await _locked(session, incident_id, expected_version)
    changes = patch.model_dump(exclude_unset=True, exclude={"version"}, mode="json")
    if not changes:
        raise Invalid("nothing to change", field="body")
    before = {"level": incident.grade_level, "category": incident.category, "subtype": incident.subtype}
    if patch.title is not None:
        incident.title = patch.title
    if patch.location is not None:
        incident.location = from_shape(ShapelyPoint(patch.location.lon, patch.location.lat), srid=4326)
    if patch.description is not None:
        incident.description = patch.description
    if patch.facts is not None:
        incident.given_facts = {
            **incident.given_facts,
            **patch.facts.model_dump(exclude_none=True, exclude_defaults=True),
        }
    reclassify = patch.category is not None or patch.subtype is not None
    by_officer = reclassify or incident.classified_by == "officer"
    category = patch.category if reclassify else (incident.category if by_officer else None)
    subtype = patch.subtype if reclassify else (incident.subtype if by_officer else None)
    result = _classify(incident.description, incident.given_facts, category=category, subtype=subtype)
    _apply_classification(incident, result, by_officer=by_officer)
    _touch(incident)
    after = {"level": incident.grade_level, "category": incident.category, "subtype": incident.subtype}
    kind = "facts_corrected" if set(changes) == {"facts"} else "edited"
    record(
        session,
        incident_id=incident.id,
        kind=kind,
        actor=actor,
        data={"changed": sorted(changes), "before": before, "after": after},
    )
    _emit(session, incident, type="incident.updated", actor=actor, change=kind)
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
    incident = await _locked(session, incident_id, expected_version)
    original_id = incident.possible_duplicate_of
    if original_id is None or incident.duplicate_status != "suspected":
        raise Conflict(f"incident {incident_id} is not flagged as a possible duplicate")
    if action == "dismiss":
        incident.duplicate_status = "dismissed"
        incident.possible_duplicate_of = None
        _touch(incident)
        record(
            session,
            incident_id=incident.id,
            kind="duplicate_dismissed",
            actor=actor,
            data={"was_possible_duplicate_of": original_id, "reason": reason},
        )
        _emit(session, incident, type="incident.updated", actor=actor, change="duplicate_dismissed")
        return incident
    original = await _locked(session, original_id, None)
    check_transition(Status(incident.status), Status.cancelled)
    incident.duplicate_status = "confirmed"
    incident.merged_into = original.id
    incident.status = Status.cancelled.value
    _touch(incident)
    _touch(original)
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
    _emit(session, incident, type="incident.updated", actor=actor, change="merged_into")
    _emit(session, original, type="incident.updated", actor=actor, change="merged_from")
    return incident


# ---------------------------------------------------------------------------------------------------- timeline


def record(
    session: AsyncSession,
    *,
    incident_id: int,
    kind: str,
    actor: str | None,
    data: dict[str, Any] | None = None,
    events: Sequence[Happened] = (),
) -> None:
    """Put an entry on the incident's timeline and queue the events that go with it (scoped to the incident, by the
    same actor). The one way anything writes on a timeline; both are written by the unit of work, the events last."""
    repo.add_timeline(session, incident_id=incident_id, kind=kind, actor=actor, data=data)
    for event in events:
        queue_event(
            session, type=event.type, data=event.data, incident_id=incident_id, unit_id=event.unit_id, actor=actor
        )


# ---------------------------------------------------------------------------------------------------- plan matches


def set_plan_matches(incident: Incident, matches: Sequence[dict[str, Any]]) -> bool:
    """Keep the plans that match the incident (``plans`` ranks them); True when they differ from those kept."""
    kept = [PlanMatchOut.model_validate(m).model_dump(mode="json") for m in matches]
    if kept == incident.plan_matches:
        return False
    incident.plan_matches = kept
    return True


def announce_plan_matches(session: AsyncSession, *, incident: Incident, actor: str | None) -> None:
    """``incident.updated`` (change ``plan_matches``) for an incident whose matches changed with the plan library.
    Not an edit of the record: its version stays, so an officer's edit in progress is not made stale by it."""
    _emit(session, incident, type="incident.updated", actor=actor, change="plan_matches")


async def open_incidents(session: AsyncSession, *, after_id: int = 0, limit: int = 500) -> list[Incident]:
    """Open incidents (not closed or cancelled) with an id above ``after_id``, by id, locked ``FOR NO KEY UPDATE``
    (for changing what is derived from them; in id order, the order every multi-incident lock follows)."""
    return await repo.open_incidents(session, after_id=after_id, limit=limit)


async def open_counts(session: AsyncSession) -> list[tuple[str | None, str | None, int]]:
    """Open incidents (not closed or cancelled) per category and grade in force: ``(category, level, count)``."""
    return await repo.open_counts(session)
