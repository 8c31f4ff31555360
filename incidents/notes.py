"""The incident's running log of notes (API.md "Places and notes"): each note is a timeline entry (kind ``note``:
who, the server's time, the text and the device's time when it gave one) and an ``incident.note`` event carrying the
incident, as every ``incident.*`` event does, with the note beside it. A note is not an edit of the record: the
incident's version stays, so an officer's edit in progress is not made stale by a crew's note."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.events import queue_event
from incidents.desk_schemas import NoteOut
from incidents.models import TimelineEntry
from incidents.records import event_data, get_incident, record
from incidents.scope import EVERY_INCIDENT, IncidentScope

NOTE_KIND = "note"


def note_of(entry: TimelineEntry) -> NoteOut:
    """A ``note`` timeline entry as the notes endpoint shows it."""
    taken = entry.data.get("taken_at")
    taken_at = datetime.fromisoformat(taken) if taken else None
    return NoteOut(
        id=entry.id,
        incident_id=entry.incident_id,
        text=entry.data.get("text", ""),
        author=entry.actor,
        at=taken_at or entry.at,
        recorded_at=entry.at,
        taken_at=taken_at,
    )


async def add_note(
    session: AsyncSession,
    *,
    incident_id: int,
    text: str,
    actor: str,
    taken_at: datetime | None = None,
    scope: IncidentScope = EVERY_INCIDENT,
) -> NoteOut:
    """Add a note to the incident's log (NotFound for one outside ``scope``: a field unit's crew writes only on the
    incidents it was sent to). Stamped with ``actor`` and the server's time; ``taken_at`` is the device's."""
    incident = await get_incident(session, incident_id=incident_id, scope=scope)
    data: dict[str, Any] = {"text": text}
    if taken_at is not None:
        data["taken_at"] = taken_at.isoformat()
    entry = record(session, incident_id=incident.id, kind=NOTE_KIND, actor=actor, data=data)
    entry.at = utcnow()
    await session.flush()
    note = note_of(entry)
    queue_event(
        session,
        type="incident.note",
        data=lambda: {**event_data(incident, change=NOTE_KIND), "note": note.model_dump(mode="json")},
        incident_id=incident.id,
        actor=actor,
    )
    return note
