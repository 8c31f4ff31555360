"""Who may see which incidents and dispatches: the one rule, applied by every read of them.

API.md: something a role may not see at all (another unit's dispatch or incident, for a field unit) is 404, not
403, so a reader outside the rule cannot tell a hidden record from one that does not exist. The rule is handed
down as SQL (``incidents.service.IncidentScope``, a condition on dispatches) so that lists, single reads, map tiles
and the plans' dry run filter in the database, each in the statement it already runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from command.models import Dispatch
from core.events import Event
from core.users import Role
from gis import service as gis_service
from incidents import service as incident_service
from incidents.service import EVERY_INCIDENT, NO_INCIDENT, IncidentScope, in_jurisdictions
from notify.schemas import EventFilter, JurisdictionFilter, UnitFilter


@dataclass(frozen=True)
class Caller:
    """Who is acting, as the command rules need to know it."""

    username: str
    role: Role
    unit_id: int | None = None
    # The jurisdictions the caller is scoped to (a district's duty officer); None: unscoped.
    jurisdiction_ids: tuple[int, ...] | None = None

    def may_act_for_unit(self, unit_id: int) -> bool:
        return self.role in (Role.admin, Role.commander) or (self.role is Role.field_unit and self.unit_id == unit_id)


# Roles that see the whole picture. Any other role (and any role added later) sees only what a rule below grants.
SEE_EVERYTHING = frozenset({Role.admin, Role.duty_officer, Role.commander, Role.observer})


def incident_scope(caller: Caller) -> IncidentScope:
    """The incidents ``caller`` may see: all of them for the command room's roles, or for one scoped to
    jurisdictions those stored with one of them (or one inside them); for a field unit, those its unit has ever been
    dispatched to (the dispatch may be closed: the crew keeps its own history); otherwise none."""
    if caller.role in SEE_EVERYTHING:
        if caller.jurisdiction_ids is not None:
            return in_jurisdictions(gis_service.jurisdictions_within(caller.jurisdiction_ids))
        return EVERY_INCIDENT
    if caller.role is Role.field_unit and caller.unit_id is not None:
        return IncidentScope(visible_ids=select(Dispatch.incident_id).where(Dispatch.unit_id == caller.unit_id))
    return NO_INCIDENT


def dispatch_condition(caller: Caller) -> ColumnElement[bool]:
    """A WHERE clause on ``dispatch``: the dispatches ``caller`` may see (a field unit: its own unit's only; one
    scoped to jurisdictions: those of the incidents there)."""
    if caller.role in SEE_EVERYTHING:
        if caller.jurisdiction_ids is not None:
            return incident_scope(caller).condition(Dispatch.incident_id)
        return true()
    if caller.role is Role.field_unit and caller.unit_id is not None:
        return Dispatch.unit_id == caller.unit_id
    return false()


def may_see_units(caller: Caller) -> bool:
    """Whether ``caller`` may learn where every unit is (a place search that finds units by name): the command
    room's roles; a field unit knows its own position and sees no one else's."""
    return caller.role in SEE_EVERYTHING


def may_see_unit(caller: Caller, unit_id: int) -> bool:
    """Whether ``caller`` may read a unit's own records (its track of location fixes)."""
    return caller.role in SEE_EVERYTHING or (caller.role is Role.field_unit and caller.unit_id == unit_id)


# The field stream (WS /ws/field): what a crew's phone gets. Its own unit's events (dispatches and their changes,
# re-alerts, escalations, its status and timers, messages addressed to it), but not the echo of its own positions;
# and the incident events of the incidents it was dispatched to, from its dispatch on. Nothing scoped to another
# unit, nothing else (plans, resources, the situation) at all.
FIELD_UNIT_TYPES = ("dispatch.", "unit.", "message.")
FIELD_UNIT_EXCLUDED = frozenset({"unit.location", "unit.left_view"})
FIELD_INCIDENT_TYPES = ("incident.",)
FIELD_JOINS = "dispatch.created"


def field_filter(unit_id: int, *, incidents: Iterable[int] = (), every_incident: bool = False) -> UnitFilter:
    """The field stream's rule for ``unit_id``'s crew, already joined to ``incidents`` (see notify's UnitFilter)."""
    return UnitFilter(
        unit_id=unit_id,
        unit_types=FIELD_UNIT_TYPES,
        incident_types=FIELD_INCIDENT_TYPES,
        joins=FIELD_JOINS,
        excluded=FIELD_UNIT_EXCLUDED,
        incidents=set(incidents),
        every_incident=every_incident,
    )


def field_event_condition(unit_id: int) -> ColumnElement[bool]:
    """A WHERE clause on ``event`` that holds every event the field stream of ``unit_id`` may send (a superset: the
    unit's events, and incident events of the incidents it has a dispatch to); the replay reads only these and
    ``field_filter`` decides each in id order."""
    incident_events = or_(*(Event.type.startswith(prefix) for prefix in FIELD_INCIDENT_TYPES))
    dispatched_to = select(Dispatch.incident_id).where(Dispatch.unit_id == unit_id)
    return or_(
        Event.unit_id == unit_id,
        and_(Event.unit_id.is_(None), incident_events, Event.incident_id.in_(dispatched_to)),
    )


# A command-room stream of a caller scoped to jurisdictions: the events of the incidents there (and of none); never
# the counters over every incident.
WHOLE_PICTURE = frozenset({"situation.updated"})


def jurisdiction_filter(
    inner: EventFilter, *, jurisdictions: frozenset[int], incidents: Iterable[int] = ()
) -> JurisdictionFilter:
    """The command stream's rule for a scoped caller, over the client's own ``inner`` filter (see notify's
    JurisdictionFilter): ``jurisdictions`` the expanded ids (``gis_service.expand_jurisdiction_scope``),
    ``incidents`` those inside when the stream starts (``incidents.service.ids_in_scope``)."""
    return JurisdictionFilter(
        inner=inner, jurisdictions=jurisdictions, incidents=set(incidents), excluded=WHOLE_PICTURE
    )


async def command_stream_filter(
    session: AsyncSession, *, caller: Caller, inner: EventFilter, events_after: int | None
) -> JurisdictionFilter | None:
    """For a caller scoped to jurisdictions, the command stream's filter over ``inner``, its state read now (the
    stream subscribes first, then calls this: an incident made meanwhile is read here or arrives as an event);
    None for everyone else (``inner`` alone). ``events_after``: where a replay starts."""
    if caller.jurisdiction_ids is None or caller.role not in SEE_EVERYTHING:
        return None
    jurisdictions = await gis_service.expand_jurisdiction_scope(session, caller.jurisdiction_ids)
    inside = await incident_service.ids_in_scope(session, scope=incident_scope(caller), events_after=events_after)
    return jurisdiction_filter(inner, jurisdictions=jurisdictions, incidents=inside)


async def jurisdictions_of(session: AsyncSession, caller: Caller) -> frozenset[int] | None:
    """The jurisdiction ids a scoped caller sees (theirs and those inside), for reads that match the ids carried
    in events (a report over a period); None for an unscoped caller."""
    if caller.jurisdiction_ids is None or caller.role not in SEE_EVERYTHING:
        return None
    return await gis_service.expand_jurisdiction_scope(session, caller.jurisdiction_ids)
