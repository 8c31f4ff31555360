"""Who called an incident in: personal data, kept in ``incident_caller`` beside the incident and never in its shape,
events, exports or CAP (API.md "Places and notes"). Read by the command room's roles one incident at a time (the
web door audits each read), and erased ``retention`` after the incident closed (``sweep_retention``, a scheduler
sweep), leaving a timeline entry that says so and nothing of what was erased."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from incidents.desk_schemas import CallerOut
from incidents.lifecycle import Status
from incidents.models import Incident, IncidentCaller
from incidents.phones import display_phone
from incidents.records import get_incident, record

_FINAL = (Status.closed.value, Status.cancelled.value)


async def set_caller(session: AsyncSession, *, incident_id: int, changes: dict[str, str | None], now: datetime) -> None:
    """Write the caller's ``name`` and/or ``phone`` (as typed; its display form is derived) for the incident;
    a None clears one. Nothing is written for a new caller with nothing to say."""
    caller = await session.get(IncidentCaller, incident_id, with_for_update=True)
    if caller is None:
        if not any(changes.values()):
            return
        caller = IncidentCaller(incident_id=incident_id)
        session.add(caller)
    if "name" in changes:
        caller.name = changes["name"]
    if "phone" in changes:
        caller.phone = changes["phone"]
        caller.phone_display = display_phone(caller.phone)
    caller.erased_at = None
    caller.updated_at = now


async def read_caller(session: AsyncSession, *, incident_id: int) -> CallerOut:
    """The caller of the incident (NotFound for an incident that does not exist); empty when none was recorded."""
    incident = await get_incident(session, incident_id=incident_id)
    caller = await session.get(IncidentCaller, incident_id)
    out = CallerOut.model_validate(caller) if caller is not None else CallerOut(incident_id=incident_id)
    return out.model_copy(update={"callback_requested": incident.callback_requested})


async def sweep_retention(session: AsyncSession, *, now: datetime, keep: timedelta, batch: int = 500) -> int:
    """Erase the caller's name and number of incidents closed (or cancelled) more than ``keep`` before ``now``, at
    most ``batch`` of them, each once (``erased_at``); rows another sweep holds are skipped. How many were erased."""
    due = (
        select(IncidentCaller)
        .join(Incident, Incident.id == IncidentCaller.incident_id)
        .where(
            IncidentCaller.erased_at.is_(None),
            Incident.status.in_(_FINAL),
            Incident.closed_at < now - keep,
        )
        .order_by(IncidentCaller.incident_id)
        .limit(batch)
        .with_for_update(of=IncidentCaller, skip_locked=True)
    )
    callers = list(await session.scalars(due))
    for caller in callers:
        caller.name = caller.phone = caller.phone_display = None
        caller.erased_at = now
        record(
            session,
            incident_id=caller.incident_id,
            kind="caller_erased",
            actor=None,
            data={"retention_days": round(keep / timedelta(days=1), 3)},
        )
    await session.flush()
    return len(callers)
