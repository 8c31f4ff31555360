"""What the dispatch desk records beside the incident (API.md "Places and notes"): the running log of notes, and
the caller (personal data: read one incident at a time, by the command room's roles, each read audited)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from core.users import Role
from incidents import service
from incidents.schemas import CallerOut, NoteIn, NoteOut
from web.audit import add_target, audit_read
from web.deps import CurrentUser, SessionDep, VisibleIncident, require
from web.door import BodyKind, body_limit
from web.replays import KeyHeader, once
from web.state import state_of

router = APIRouter(prefix="/incidents", tags=["incidents"])

# A crew writes notes too (what it finds on arrival), on the incidents its unit was sent to (the scope); observers
# read only.
CallerReader = Annotated[CurrentUser, Depends(require(Role.duty_officer, Role.commander))]
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
    key: KeyHeader = None,
) -> Any:
    """Add a note to the incident's log (a role refused is 403; an incident the caller may not see, 404): stamped
    with its author and the server's time (and ``at``, the device's time, when given: within the last 24 hours); on
    the timeline and the live stream (``incident.note``). ``Idempotency-Key``: a replay (a phone sending its queue
    again) adds no second note and answers the first one's 201."""

    async def run() -> NoteOut:
        note = await service.add_note(
            session, incident_id=incident.id, text=body.text, actor=user.username, taken_at=body.at
        )
        add_target(request, note_id=note.id)
        return note

    return await once(session, request, user, key, body.model_dump(), run, status=201)


@router.get("/{incident_id}/caller", name="incidents.read_caller", response_model=CallerOut)
async def read_caller(
    user: CallerReader, incident: VisibleIncident, request: Request, session: SessionDep
) -> CallerOut:
    """Who called it in: name, the number as typed and normalised for display, the callback flag. Duty officers,
    commanders and admins only (others 403); every read leaves an audit row. Empty once the retention after closing
    (``COMMANDPOST_CALLER_RETENTION_DAYS``) has passed."""
    caller = await service.read_caller(session, incident_id=incident.id)
    await audit_read(request, state_of(request).sessionmaker, erased=caller.erased_at is not None)
    return caller
