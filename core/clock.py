"""One place that tells the time, so tests and jobs agree on what 'now' is (always UTC, always aware); and the time
types every time input goes through.

Time inputs are RFC 3339 with a zone (``2026-05-01T08:30:00+08:00`` or ``...Z``), nothing else: no Unix seconds, no
naive times. Each kind of time has its window, so that a year 1 or year 9999 never reaches the database (PostgreSQL
stores year 1 from asyncpg as ``-infinity``, which reads back naive and breaks every later comparison):

- ``ObservedAt``: when something was seen or reported (an incident's ``reported_at``, a unit's fix ``at``):
  from 2000-01-01 to one day after now (a day of leeway for a device's clock or time zone gone wrong).
- ``ActionAt``: when a person did something the request reports late (a crew's status tap, acknowledgement or note,
  queued on a phone without signal): within the last ``ACTION_WINDOW`` (24 h) and not in the future, give or take
  ``ACTION_SKEW`` (a phone's clock a little ahead).
- ``ScenarioAt``: a moment a dry run imagines (``plans/check`` examples): from 2000-01-01 to 2100-01-01.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_SCENARIO = datetime(2100, 1, 1, tzinfo=UTC)
OBSERVATION_LEEWAY = timedelta(days=1)
ACTION_WINDOW = timedelta(hours=24)
ACTION_SKEW = timedelta(minutes=2)

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})")


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def _rfc3339(value: Any) -> Any:
    if isinstance(value, datetime):
        return value  # from Python code; awareness is checked next
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 time with its zone, e.g. 2026-05-01T08:30:00+08:00")
    return value


def _observed(value: datetime) -> datetime:
    latest = utcnow() + OBSERVATION_LEEWAY
    if not EARLIEST <= value <= latest:
        window = f"{EARLIEST:%Y-%m-%d} and a day from now ({latest:%Y-%m-%dT%H:%MZ})"
        raise ValueError(f"must lie between {window}, got {value.isoformat()}")
    return value


def _action(value: datetime) -> datetime:
    now = utcnow()
    if value > now + ACTION_SKEW:
        raise ValueError(f"must not be in the future (now {now:%Y-%m-%dT%H:%M:%SZ}), got {value.isoformat()}")
    if value < now - ACTION_WINDOW:
        raise ValueError(f"must be within the last 24 hours, got {value.isoformat()}")
    return value


def _scenario(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST_SCENARIO:
        window = f"{EARLIEST:%Y-%m-%d} and {LATEST_SCENARIO:%Y-%m-%d}"
        raise ValueError(f"must lie between {window}, got {value.isoformat()}")
    return value


ObservedAt = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    AfterValidator(_observed),
    Field(description="RFC 3339 with a zone; from 2000-01-01 to a day from now"),
]
ActionAt = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    AfterValidator(_action),
    Field(description="RFC 3339 with a zone: when the device took the action; within the last 24 h, not in the future"),
]
ScenarioAt = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    AfterValidator(_scenario),
    Field(description="RFC 3339 with a zone; from 2000-01-01 to 2100-01-01"),
]
