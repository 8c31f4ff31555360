"""A client's view of the units inside its bbox: which of them it has been shown, and the message that one left.

A command-room screen that watches a district (``bbox``) gets the unit events of the units inside it; when a unit it
was shown moves out, it gets one ``unit.left_view`` message (with the id of the event that moved the unit, so ids
still increase) and nothing more of that unit until it comes back. A client resuming by id may still show units from
before: the first time such a unit is seen outside, it is told too (telling a client about a unit it never showed
costs one small message; keeping a gone unit on its map would be wrong).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from core.events import EventEnvelope

LEFT_VIEW = "unit.left_view"
Verdict = Literal["send", "left", "drop"]


def position_of(data: dict[str, Any]) -> tuple[float, float] | None:
    """An event's point (its ``location``, a GeoJSON Point), or None."""
    location = data.get("location")
    if isinstance(location, dict) and location.get("type") == "Point":
        coordinates = location.get("coordinates") or []
        if len(coordinates) >= 2:
            return float(coordinates[0]), float(coordinates[1])
    return None


def inside(position: tuple[float, float], bbox: tuple[float, float, float, float]) -> bool:
    lon, lat = position
    return bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]


@dataclass
class UnitView:
    """The units a client has been shown inside ``bbox`` (at most as many ids as there are units)."""

    bbox: tuple[float, float, float, float]
    resumed: bool = False
    shown: set[int] = field(default_factory=set)
    told_gone: set[int] = field(default_factory=set)

    def judge(self, envelope: EventEnvelope) -> Verdict:
        """``send`` a unit event inside the view (or any other event), tell that a shown unit ``left``, or ``drop``
        a unit event outside it."""
        unit_id = envelope.data.get("id")
        position = position_of(envelope.data)
        if not envelope.type.startswith("unit.") or not isinstance(unit_id, int) or position is None:
            return "send"
        if inside(position, self.bbox):
            self.shown.add(unit_id)
            self.told_gone.discard(unit_id)
            return "send"
        if unit_id in self.shown or (self.resumed and unit_id not in self.told_gone):
            self.shown.discard(unit_id)
            self.told_gone.add(unit_id)
            return "left"
        return "drop"


def left_view_text(envelope: EventEnvelope) -> str:
    """The ``unit.left_view`` message for the event that moved a unit out of a view."""
    data = {"id": envelope.data.get("id"), "location": envelope.data.get("location")}
    message = {"id": envelope.id, "type": LEFT_VIEW, "at": envelope.at.isoformat(), "data": data}
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))
