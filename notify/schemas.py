"""notify's shapes, part of its door (with ``notify.service``): what a live client asks to receive."""

from __future__ import annotations

from dataclasses import dataclass

from core.events import EventEnvelope
from notify.view import inside, position_of


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
