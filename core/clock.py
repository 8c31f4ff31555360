"""One place that tells the time, so tests and jobs agree on what 'now' is (always UTC, always aware)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)
