"""What a dispatch desk records beside the incident itself (API.md "Places and notes"): the running log of notes and
the caller. The caller's shapes live here and never in ``IncidentOut``, so the incident's shape, its events, its
exports and its CAP cannot carry the caller's name or number by accident."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from core.clock import ObservedAt, utcnow

MAX_NOTE = 4_000
# A device's clock may run a little ahead of ours; a note "taken" further in the future is refused, and so is one
# older than a day (a phone that queued it that long ago should say what it is in a new note, not backdate it).
NOTE_CLOCK_SKEW = timedelta(minutes=5)
NOTE_MAX_AGE = timedelta(hours=24)


def _taken_recently(value: datetime) -> datetime:
    now = utcnow()
    if value > now + NOTE_CLOCK_SKEW:
        raise ValueError(f"lies in the future ({value.isoformat()}; now {now.isoformat(timespec='seconds')})")
    if value < now - NOTE_MAX_AGE:
        raise ValueError(f"is more than 24 hours old ({value.isoformat()})")
    return value


NoteTakenAt = Annotated[
    ObservedAt,
    AfterValidator(_taken_recently),
    Field(description="RFC 3339 with a zone: when the device took the note; within the last 24 hours"),
]


class NoteIn(BaseModel):
    """Body of ``POST /api/v1/incidents/{id}/notes``: a line of the running log, and when the device took it."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_NOTE)
    at: NoteTakenAt | None = None

    @field_validator("text")
    @classmethod
    def _has_words(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("the note is empty")
        return value


class NoteOut(BaseModel):
    """A note as stored: its text, who wrote it, when the server recorded it (``recorded_at``) and when it was
    taken (``at``: the device's time when it gave one, else the server's)."""

    id: int
    incident_id: int
    text: str
    author: str | None
    at: datetime
    recorded_at: datetime
    taken_at: datetime | None = None


class CallerOut(BaseModel):
    """``GET /api/v1/incidents/{id}/caller``: who called it in (personal data: every read is audited). ``phone`` is as
    typed, ``phone_display`` normalised for dialling; all empty, with ``erased_at``, once the retention after closing
    has passed."""

    model_config = ConfigDict(from_attributes=True)

    incident_id: int
    name: str | None = None
    phone: str | None = None
    phone_display: str | None = None
    callback_requested: bool = False
    erased_at: datetime | None = None
