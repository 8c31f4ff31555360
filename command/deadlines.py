"""The acknowledgement deadlines of DOMAIN.md section 4, as pure functions of the grade and the clock.

A crew has a deadline to acknowledge (or set off), by the incident's grade (``COMMANDPOST_ACK_DEADLINES``; an
ungraded incident gets IV's: the least urgent is the safe guess only because the commander grades it the moment
facts come in, and an override re-reads nothing already sent). Missed, the unit is alerted again at once; if
``escalate_after`` later it still has not answered, the commander is told (``dispatch.escalated``). A sweep that runs
late (the scheduler was down) does both steps at once, re-alert first: the commander must not learn late.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from core.settings import DEFAULT_ACK_DEADLINES, Settings

Step = Literal["realert", "escalate"]
# Without a grade, the deadline of the lowest one.
UNGRADED = "IV"


@dataclass(frozen=True)
class AckRules:
    """Seconds to acknowledge by grade, and how long after the re-alert an unanswered dispatch is escalated."""

    deadlines: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_ACK_DEADLINES))
    escalate_after: timedelta = timedelta(seconds=30)

    @classmethod
    def of(cls, settings: Settings) -> AckRules:
        """The rules the operator configured (the settings refuse a table without every grade)."""
        return cls(dict(settings.ack_deadlines), timedelta(seconds=settings.ack_escalate_after_seconds))

    def deadline(self, grade: str | None) -> timedelta:
        """The time a crew has to answer a dispatch to an incident of ``grade``."""
        seconds = self.deadlines.get(grade or UNGRADED)
        return timedelta(seconds=seconds if seconds is not None else self.deadlines[UNGRADED])

    def due_at(self, grade: str | None, dispatched_at: datetime) -> datetime:
        return dispatched_at + self.deadline(grade)


def steps_due(
    *, now: datetime, ack_due_at: datetime, warned_at: datetime | None, escalated_at: datetime | None, rules: AckRules
) -> list[Step]:
    """What an unanswered dispatch needs now, in order: the re-alert once its deadline has passed, the escalation
    once ``escalate_after`` more has passed; each once (the dispatch's own columns say what was done)."""
    if now < ack_due_at:
        return []
    steps: list[Step] = []
    if warned_at is None:
        steps.append("realert")
    if escalated_at is None and now >= ack_due_at + rules.escalate_after:
        steps.append("escalate")
    return steps


def overdue_after(*, eta_s: float | None, factor: float, margin: timedelta) -> timedelta:
    """How long a unit may be en route before it is overdue: its route's ETA (stored at dispatch; none: 0) times
    ``factor``, plus ``margin``."""
    return timedelta(seconds=(eta_s or 0.0) * factor) + margin


def stale_since(*, last_fix_at: datetime | None, dispatched_at: datetime) -> datetime:
    """Since when a dispatched unit's position is known: its last fix, or (it never sent one) the dispatch."""
    return last_fix_at if last_fix_at is not None else dispatched_at


def stale_due(
    *,
    now: datetime,
    last_fix_at: datetime | None,
    dispatched_at: datetime,
    raised_at: datetime | None,
    raised_for: datetime | None,
    stale_after: timedelta,
) -> bool:
    """Whether ``unit.stale`` is due: the unit's position is older than ``stale_after`` and this episode (this last
    fix, ``raised_for``, or none) was not already raised (``raised_at``). A newer fix starts a new episode."""
    if stale_since(last_fix_at=last_fix_at, dispatched_at=dispatched_at) > now - stale_after:
        return False
    return raised_at is None or raised_for != last_fix_at
