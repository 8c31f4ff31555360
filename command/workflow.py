"""The unit status workflow of DOMAIN.md section 4, as a pure function of (current, target).

available → dispatched → en_route → on_scene → transporting → at_hospital → available, and out_of_service.
A unit becomes `dispatched` only through a dispatch (which also creates the assignment), never by a status report.
"""

from __future__ import annotations

from core.errors import Conflict
from gis.schemas import UnitStatus

S = UnitStatus
# Going back to `available` from any assignment state ends the unit's dispatch (cleared, recalled or cancelled).
TRANSITIONS: dict[UnitStatus, frozenset[UnitStatus]] = {
    S.available: frozenset({S.out_of_service}),
    S.dispatched: frozenset({S.en_route, S.on_scene, S.available, S.out_of_service}),
    S.en_route: frozenset({S.on_scene, S.available, S.out_of_service}),
    S.on_scene: frozenset({S.transporting, S.available, S.out_of_service}),
    S.transporting: frozenset({S.at_hospital, S.available, S.out_of_service}),
    S.at_hospital: frozenset({S.available, S.out_of_service}),
    S.out_of_service: frozenset({S.available}),
}
ASSIGNED = frozenset({S.dispatched, S.en_route, S.on_scene, S.transporting, S.at_hospital})
# "Departed" stops the acknowledgement timer as surely as an ack does.
DEPARTED = frozenset({S.en_route, S.on_scene, S.transporting, S.at_hospital})


def check_status_change(current: UnitStatus, target: UnitStatus) -> None:
    """Raise Conflict unless a unit may report ``target`` while it is ``current``."""
    if target is S.dispatched:
        raise Conflict("a unit is dispatched by POST /api/v1/incidents/{id}/dispatches, not by a status report")
    if target not in TRANSITIONS[current]:
        allowed = sorted(TRANSITIONS[current])
        listed = ", ".join(allowed) or "none"
        raise Conflict(f"a unit that is {current} cannot become {target} (allowed: {listed})", allowed=allowed)


def ends_assignment(current: UnitStatus, target: UnitStatus) -> bool:
    """Whether this change closes the unit's active dispatch."""
    return current in ASSIGNED and target in {S.available, S.out_of_service}
