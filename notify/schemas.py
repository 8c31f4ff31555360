"""notify's shapes, part of its door (with ``notify.service``): what a live client asks to receive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.events import EventEnvelope


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
        if self.bbox is not None:
            position = _position(data)
            if position is not None and not _inside(position, self.bbox):
                return False
        return True


def _incident_of(envelope: EventEnvelope) -> object:
    """``incident.*`` events carry the incident itself; others name it in ``incident_id`` when they concern one."""
    if envelope.type.startswith("incident."):
        return envelope.data.get("id")
    return envelope.data.get("incident_id")


def _position(data: dict[str, Any]) -> tuple[float, float] | None:
    location = data.get("location")
    if isinstance(location, dict) and location.get("type") == "Point":
        coordinates = location.get("coordinates") or []
        if len(coordinates) >= 2:
            return float(coordinates[0]), float(coordinates[1])
    return None


def _inside(position: tuple[float, float], bbox: tuple[float, float, float, float]) -> bool:
    lon, lat = position
    return bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]
