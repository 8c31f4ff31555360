"""The incident lifecycle as a pure state machine (API.md): who may move an incident where."""

from __future__ import annotations

from enum import StrEnum

from core.errors import Conflict


class Status(StrEnum):
    reported = "reported"
    verified = "verified"
    responding = "responding"
    contained = "contained"
    closed = "closed"
    cancelled = "cancelled"


# A contained incident can flare up again; closed and cancelled are final (a new report opens a new incident).
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.reported: frozenset({Status.verified, Status.responding, Status.cancelled}),
    Status.verified: frozenset({Status.responding, Status.contained, Status.closed, Status.cancelled}),
    Status.responding: frozenset({Status.contained}),
    Status.contained: frozenset({Status.responding, Status.closed}),
    Status.closed: frozenset(),
    Status.cancelled: frozenset(),
}

# Activating a plan or dispatching a unit is allowed from these, and moves the incident to `responding`.
RESPONSE_ALLOWED_FROM = frozenset({Status.reported, Status.verified, Status.responding})
OPEN = frozenset({Status.reported, Status.verified, Status.responding, Status.contained})


def check_transition(current: Status, target: Status) -> None:
    """Raise Conflict unless ``current → target`` is a legal move."""
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (final)"
        raise Conflict(f"cannot move an incident from {current} to {target}; allowed from {current}: {allowed}")


def check_response_allowed(current: Status) -> None:
    """Raise Conflict unless a plan may be activated or a unit dispatched for an incident in ``current``."""
    if current not in RESPONSE_ALLOWED_FROM:
        raise Conflict(
            f"an incident that is {current} cannot be responded to (allowed: reported, verified, responding)"
        )
