"""A field unit's filter (command.visibility.field_filter: notify's UnitFilter with command's rule): its unit's
events, its incidents' events from its dispatch on, nothing of another unit; pure, judged in id order."""

from __future__ import annotations

from datetime import UTC, datetime

from command.visibility import field_filter
from core.events import EventEnvelope

AT = datetime(2026, 12, 18, tzinfo=UTC)


def _event(n: int, type: str, *, incident: int | None = None, unit: int | None = None) -> EventEnvelope:
    return EventEnvelope(id=n, type=type, at=AT, data={"id": n}, incident_id=incident, unit_id=unit)


def test_a_crew_joins_an_incident_with_its_dispatch_and_sees_nothing_of_others() -> None:
    crew = field_filter(7)
    stream = [
        _event(1, "incident.updated", incident=100),  # before its dispatch: not yet its incident
        _event(2, "unit.status", unit=7),
        _event(3, "dispatch.created", incident=100, unit=7),
        _event(4, "incident.updated", incident=100),
        _event(5, "dispatch.created", incident=100, unit=8),  # another crew on the same incident
        _event(6, "unit.status", unit=8),
        _event(7, "incident.updated", incident=200),  # another incident
        _event(8, "unit.location", unit=7),  # the echo of its own position
        _event(9, "plan.activated", incident=100),  # the plan is the command room's
        _event(10, "situation.updated"),
        _event(11, "dispatch.warning", incident=100, unit=7),
        _event(12, "unit.overdue", incident=100, unit=7),
        _event(13, "incident.note", incident=100, unit=8),  # scoped to another unit: never, even on its incident
    ]
    assert [e.id for e in stream if crew.accepts(e)] == [2, 3, 4, 11, 12]
    assert crew.incidents == {100}


def test_a_loose_filter_lets_every_incident_through_until_told_otherwise() -> None:
    loose = field_filter(7, every_incident=True)
    assert loose.accepts(_event(1, "incident.updated", incident=300))
    assert not loose.accepts(_event(2, "dispatch.created", incident=300, unit=8))  # never another unit's
    loose.every_incident = False
    assert not loose.accepts(_event(3, "incident.updated", incident=300))
    assert field_filter(7, incidents=[300]).accepts(_event(4, "incident.updated", incident=300))
