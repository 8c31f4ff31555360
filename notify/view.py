"""A client's view of the units inside its bbox: which it has been told are gone, and the message that one left.

A command-room screen that watches a district (``bbox``) gets the unit events of the units inside it; when a unit it
was shown moves out, it gets one ``unit.left_view`` message (with the id of the event that moved the unit, so ids
still increase) and nothing more of that unit until it comes back. A client may show units this stream never told
it about (a screen loads the units of its area with ``GET /resources?bbox=`` and then listens; a client resumes by
id): the first time such a unit is seen outside, the client is told too. Telling a client about a unit it never
showed costs one small message, once per unit; leaving a gone unit on its map would be wrong.
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
    """The units a client has been told are outside ``bbox`` (at most as many ids as there are units)."""

    bbox: tuple[float, float, float, float]
    told_gone: set[int] = field(default_factory=set)

    def judge(self, envelope: EventEnvelope) -> Verdict:
        """``send`` a unit event inside the view (or any other event), tell that a shown unit ``left``, or ``drop``
        a unit event outside it."""
        unit_id = envelope.data.get("id")
        position = position_of(envelope.data)
        if not envelope.type.startswith("unit.") or not isinstance(unit_id, int) or position is None:
            return "send"
        if inside(position, self.bbox):
            self.told_gone.discard(unit_id)
            return "send"
        if unit_id not in self.told_gone:  # shown by this stream, or perhaps by the client's own load
            self.told_gone.add(unit_id)
            return "left"
        return "drop"


def left_view_text(envelope: EventEnvelope) -> str:
    """The ``unit.left_view`` message for the event that moved a unit out of a view."""
    data = {"id": envelope.data.get("id"), "location": envelope.data.get("location")}
    message = {"id": envelope.id, "type": LEFT_VIEW, "at": envelope.at.isoformat(), "data": data}
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))
