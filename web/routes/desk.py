"""What the dispatch desk records beside the incident (API.md "Places and notes"): the running log of notes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from core.users import Role
from incidents import service
from incidents.schemas import NoteIn, NoteOut
from web.audit import add_target
from web.deps import CurrentUser, SessionDep, VisibleIncident, require
from web.door import BodyKind, body_limit

router = APIRouter(prefix="/incidents", tags=["incidents"])

# A crew writes notes too (what it finds on arrival), on the incidents its unit was sent to (the scope); observers
# read only.
NoteWriter = Annotated[CurrentUser, Depends(require(Role.duty_officer, Role.commander, Role.field_unit))]


@router.post(
    "/{incident_id}/notes",
    name="incidents.add_note",
    status_code=201,
    response_model=NoteOut,
    openapi_extra=body_limit(BodyKind.note),
)
async def add_note(
    user: NoteWriter,
    incident: VisibleIncident,
    body: NoteIn,
    request: Request,
    session: SessionDep,
) -> NoteOut:
    """Add a note to the incident's log (a role refused is 403; an incident the caller may not see, 404): stamped
    with its author and the server's time (and ``at``, the device's time, when given: within the last 24 hours); on
    the timeline and the live stream (``incident.note``)."""
    note = await service.add_note(
        session, incident_id=incident.id, text=body.text, actor=user.username, taken_at=body.at
    )
    add_target(request, note_id=note.id)
    return note
