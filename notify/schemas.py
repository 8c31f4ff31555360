"""notify's shapes, part of its door (with ``notify.service``): what a live client asks to receive."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from core.events import EventEnvelope
from notify.view import inside, position_of


class StreamFilter(Protocol):
    """What the hub asks of a client's filter: whether an event goes into the client's queue. The hub asks in id
    order, once per event."""

    def accepts(self, envelope: EventEnvelope) -> bool: ...


@dataclass(frozen=True)
class EventFilter:
    """What a client wants: all events, or those of one incident, of some type prefixes, inside a bbox."""

    incident_id: int | None = None
    type_prefixes: tuple[str, ...] = ()
    bbox: tuple[float, float, float, float] | None = None

    def accepts(self, envelope: EventEnvelope) -> bool:
        if self.type_prefixes and not envelope.type.startswith(self.type_prefixes):
            return False
        data = envelope.data
        if self.incident_id is not None and _incident_of(envelope) != self.incident_id:
            return False
        # A unit event's place in the bbox is the client's UnitView's to judge (notify/view.py): it may be news
        # that the unit left.
        if self.bbox is not None and not envelope.type.startswith("unit."):
            position = position_of(data)
            if position is not None and not inside(position, self.bbox):
                return False
        return True


def _incident_of(envelope: EventEnvelope) -> object:
    """``incident.*`` events carry the incident itself; others name it in ``incident_id`` when they concern one."""
    if envelope.type.startswith("incident."):
        return envelope.data.get("id")
    return envelope.data.get("incident_id")


@dataclass
class UnitFilter:
    """A field unit's stream: the events scoped to its unit (of ``unit_types``, but ``excluded``), and the events of
    ``incident_types`` scoped to an incident it has joined and to no unit. An event of type ``joins`` scoped to the
    unit joins its incident (a dispatch): asked in id order, it lets through exactly the incident's events that
    follow the dispatch. Until the caller knows the unit's incidents it may let through ``every_incident``'s events
    (a superset, for the hub while the stream starts; the stream's own filter then decides exactly).

    The rule of who sees what is command's (``command.visibility.field_filter`` builds this); notify applies it.
    """

    unit_id: int
    unit_types: tuple[str, ...]
    incident_types: tuple[str, ...]
    joins: str
    excluded: frozenset[str] = frozenset()
    incidents: set[int] = field(default_factory=set)
    every_incident: bool = False

    def accepts(self, envelope: EventEnvelope) -> bool:
        if envelope.unit_id == self.unit_id:
            if envelope.type == self.joins and envelope.incident_id is not None:
                self.incidents.add(envelope.incident_id)
            return envelope.type.startswith(self.unit_types) and envelope.type not in self.excluded
        if envelope.unit_id is not None or envelope.incident_id is None:
            return False  # another unit's, or no incident's: never
        if not envelope.type.startswith(self.incident_types):
            return False
        return self.every_incident or envelope.incident_id in self.incidents
