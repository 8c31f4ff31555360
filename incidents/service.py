"""incidents' door: the incident record's rules — intake (idempotent), duplicates, lifecycle, grade overrides, edits
that regrade — and its timeline, which only incidents writes (``record``). The changes after intake live in
``incidents.changes`` and the row-level primitives in ``incidents.records``; both are re-exported here, with the pure
classifier core, the visibility scope and the map layer, so that other packages need no other module.

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
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import Conflict, Invalid, NotFound
from core.events import Event
from gis import service as gis_service
from incidents import repository as repo
from incidents.caller import read_caller as read_caller  # the caller: personal data, read one at a time
from incidents.caller import set_caller
from incidents.caller import sweep_retention as sweep_retention
from incidents.changes import decide_duplicate as decide_duplicate
from incidents.changes import edit as edit
from incidents.changes import lock_for_response as lock_for_response
from incidents.changes import mark_responding as mark_responding
from incidents.changes import override_grade as override_grade
from incidents.changes import transition as transition
from incidents.intake import classify_report as classify_report  # POST /classify: the pure core, through this door
from incidents.lifecycle import Status
from incidents.models import Incident
from incidents.notes import add_note as add_note  # the running log of notes
from incidents.photos import PhotoOut as PhotoOut
from incidents.photos import add_photo as add_photo
from incidents.photos import get_photo as get_photo
from incidents.photos import photos_of_incident as photos_of_incident
from incidents.records import apply_classification, classify, emit
from incidents.records import event_data as event_data
from incidents.records import get_incident as get_incident
from incidents.records import present as present
from incidents.records import record as record
from incidents.schemas import IncidentIn, IncidentRecord, PlanMatchOut
from incidents.scope import EVERY_INCIDENT as EVERY_INCIDENT  # the scope travels through this door
from incidents.scope import NO_INCIDENT as NO_INCIDENT
from incidents.scope import IncidentScope as IncidentScope
from incidents.scope import in_jurisdictions as in_jurisdictions
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


async def possible_duplicate(
    session: AsyncSession,
    *,
    subtype: str,
    lon: float,
    lat: float,
    duplicates: DuplicatePolicy = DuplicatePolicy(),
    scope: IncidentScope = EVERY_INCIDENT,
) -> Incident | None:
    """The open incident a report of ``subtype`` at (lon, lat), made now, would be flagged a possible duplicate of
    (the same rule intake applies), so that the intake form can offer it before anything is created; None when
    it is one ``scope`` hides."""
    found = await repo.find_duplicate(
        session,
        subtype=subtype,
        lon=lon,
        lat=lat,
        reported_at=utcnow(),
        radius_m=duplicates.radius_m,
        window=duplicates.window,
    )
    if found is None:
        return None
    try:
        return await get_incident(session, incident_id=found, scope=scope)
    except NotFound:
        return None


async def ids_in_scope(session: AsyncSession, *, scope: IncidentScope, events_after: int | None = None) -> set[int]:
    """The ids of the incidents in ``scope`` that are open, or (``events_after``) have an event after that id: what
    a live stream of a scoped reader must know at its start to judge the events that name only an incident."""
    recent: ColumnElement[bool] = Incident.status.notin_((Status.closed.value, Status.cancelled.value))
    if events_after is not None:
        recent = recent | Incident.id.in_(
            select(Event.incident_id).where(Event.id > events_after, Event.incident_id.is_not(None))
        )
    return set((await session.scalars(select(Incident.id).where(scope.condition(Incident.id), recent))).all())


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
    result = classify(data.description, given, category=data.category, subtype=data.subtype)
    lon, lat = data.location.lon, data.location.lat
    incident = Incident(
        title=data.title or _title_from(data.description),
        description=data.description,
        location=from_shape(ShapelyPoint(lon, lat), srid=4326),
        source=data.source,
        exercise=data.exercise,
        drill=data.drill.model_dump(mode="json") if data.drill is not None else None,
        address_text=data.address_text,
        callback_requested=data.callback_requested,
        reported_at=data.reported_at or utcnow(),
        given_facts=given,
        status=Status.reported.value,
        created_by=actor,
    )
    apply_classification(incident, result, by_officer=bool(data.category or data.subtype))
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
            exercise=incident.exercise,
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
    if data.caller_name or data.caller_phone:
        changes = {"name": data.caller_name, "phone": data.caller_phone}
        await set_caller(session, incident_id=incident.id, changes=changes, now=utcnow())
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
    emit(session, incident, type="incident.created", actor=actor, change="created")
    return incident, True


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
    emit(session, incident, type="incident.updated", actor=actor, change="plan_matches")


async def open_incidents(session: AsyncSession, *, after_id: int = 0, limit: int = 500) -> list[Incident]:
    """Open incidents (not closed or cancelled) with an id above ``after_id``, by id, locked ``FOR NO KEY UPDATE``
    (for changing what is derived from them; in id order, the order every multi-incident lock follows)."""
    return await repo.open_incidents(session, after_id=after_id, limit=limit)


async def open_counts(
    session: AsyncSession, *, scope: IncidentScope = EVERY_INCIDENT
) -> list[tuple[str | None, str | None, int]]:
    """Open real incidents (not closed or cancelled, not a drill's; in ``scope``) per category and grade in force:
    ``(category, level, count)``."""
    return await repo.open_counts(session, scope=scope)


async def open_exercise_ids(session: AsyncSession, *, scope: IncidentScope = EVERY_INCIDENT) -> list[int]:
    """The open incidents a drill logged (演练; in ``scope``), in id order."""
    return await repo.open_exercise_ids(session, scope=scope)


async def end_exercise(session: AsyncSession, *, incident_id: int, actor: str) -> Incident:
    """Close a drill's incident when the drill is over: cancelled before any response, else contained and closed."""
    reason = "the exercise is over"
    incident = await get_incident(session, incident_id=incident_id, for_update=True)
    if incident.status in (Status.reported.value, Status.verified.value):
        return await transition(session, incident_id=incident_id, to=Status.cancelled, actor=actor, reason=reason)
    if incident.status == Status.responding.value:
        await transition(session, incident_id=incident_id, to=Status.contained, actor=actor, reason=reason)
    return await transition(session, incident_id=incident_id, to=Status.closed, actor=actor, reason=reason)


# ---------------------------------------------------------------------------------------------------- warnings (预警)
# Received as CAP 1.2 (or China's GB/T 35965.1) and kept beside incidents; the rules live in incidents.warnings,
# incidents.warning_feeds and incidents.warning_service.
from incidents import warning_feeds as _feeds  # noqa: E402
from incidents.warning_feeds import FeedPolicy as FeedPolicy  # noqa: E402
from incidents.warning_service import export_incident as export_incident  # noqa: E402
from incidents.warning_service import export_warning as export_warning  # noqa: E402
from incidents.warning_service import get_warning as get_warning  # noqa: E402
from incidents.warning_service import import_cap as import_cap  # noqa: E402
from incidents.warning_service import incident_from_warning as incident_from_warning  # noqa: E402
from incidents.warning_service import link_warning as link_warning  # noqa: E402
from incidents.warning_service import list_warnings as list_warnings  # noqa: E402
from incidents.warning_service import present_warning as present_warning  # noqa: E402
from incidents.warning_service import warning_details as warning_details  # noqa: E402
from incidents.warning_service import warnings_atom as warnings_atom  # noqa: E402
from incidents.warning_service import warnings_over as warnings_over  # noqa: E402
from incidents.warning_tiles import warning_tile as warning_tile  # noqa: E402
from incidents.warnings import end_exercises, sweep_expired  # noqa: E402

end_exercise_warnings = end_exercises
sweep_expired_warnings = sweep_expired
list_cap_feeds = _feeds.list_feeds
subscribe_cap_feed = _feeds.subscribe
sweep_cap_feeds = _feeds.sweep
unsubscribe_cap_feed = _feeds.unsubscribe
sweep_caller_retention = sweep_retention  # the callers of incidents closed longer ago than the retention
