"""What a dispatch tells people outside the command room, through notify's deliveries: the crew's phones (Web
Push, and the members' webhooks and email) at dispatch and at the re-alert; an SMS to the members at half the
acknowledgement deadline unless the crew has answered by then (Web Push does not reach many phones in mainland
China); the commanders on duty at an escalation. command decides who and when; notify delivers. A drill's incident
(``exercise``) sends nothing outside, its crews and commanders following it on their pages, unless the drill asks
for its alerts to go out (``drill.deliveries``, a drill that tests the phones): then every message says it is an
exercise."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2.shape import to_shape
from sqlalchemy.ext.asyncio import AsyncSession

from command.models import Dispatch
from incidents.schemas import IncidentRecord
from notify import service as notify


def _where(incident: IncidentRecord) -> tuple[float, float]:
    point = to_shape(incident.location)
    return round(point.x, 6), round(point.y, 6)


def _stays_inside(incident: IncidentRecord) -> bool:
    """A drill's alerts stay on the pages unless the drill asked for them to go out."""
    return incident.exercise and not (incident.drill or {}).get("deliveries", False)


def _message(kind: str, dispatch: Dispatch, incident: IncidentRecord, *, unit_name: str, lead: str) -> notify.Message:
    lon, lat = _where(incident)
    if incident.exercise:  # nobody who gets it may take a drill for a real emergency
        lead = f"【演练 / EXERCISE】{lead}"
    due = dispatch.ack_due_at.strftime("%H:%M:%S UTC")
    return notify.Message(
        kind=kind,
        subject=f"{lead}: {incident.title}"[:500],
        body=(
            f"{lead} {unit_name} → {incident.title}（{incident.level or '未定级'}）\n"
            f"位置 / at {lon},{lat}\n请于 {due} 前确认 / acknowledge by {due}"
        ),
        data={
            "dispatch_id": dispatch.id,
            "incident_id": incident.id,
            "unit_id": dispatch.unit_id,
            "ack_due_at": dispatch.ack_due_at.isoformat(),
            "location": {"type": "Point", "coordinates": [lon, lat]},
        },
        incident_id=incident.id,
        unit_id=dispatch.unit_id,
        dispatch_id=dispatch.id,
        source=f"dispatch:{dispatch.id}",
    )


async def alert_crew(
    session: AsyncSession, dispatch: Dispatch, incident: IncidentRecord, *, unit_name: str, now: datetime, first: bool
) -> list[str]:
    """Queue the alert to the unit's crew; at the first alert also the SMS fallback at half the deadline. The
    channels it goes by (for the dispatch's record of alerts)."""
    if _stays_inside(incident):  # a drill's dispatch reaches the crew's field page, not a real phone, mail or webhook
        return []
    lead = "出动 / Dispatch" if first else "再次提醒 / Re-alert"
    message = _message("dispatch.alert", dispatch, incident, unit_name=unit_name, lead=lead)
    sms_at = dispatch.created_at + (dispatch.ack_due_at - dispatch.created_at) / 2 if first else None
    made = await notify.alert_unit(session, unit_id=dispatch.unit_id, message=message, now=now, sms_at=sms_at)
    return sorted({d.channel for d in made})


async def stand_down_fallback(session: AsyncSession, dispatch: Dispatch, *, now: datetime) -> None:
    """The crew answered (or the dispatch closed): the SMS not sent yet is not needed."""
    await notify.cancel_fallback(session, dispatch_id=dispatch.id, now=now)


async def alert_commanders(
    session: AsyncSession, dispatch: Dispatch, incident: IncidentRecord, *, unit_name: str, waited_s: int, now: datetime
) -> None:
    """An unanswered dispatch escalated: the commanders on duty are told by every channel they have."""
    if _stays_inside(incident):  # the room sees a drill's escalation; the commanders' phones are not woken for it
        return
    lead = f"升级 / Escalation: {unit_name} 未确认 {waited_s}s"
    message = _message("dispatch.escalated", dispatch, incident, unit_name=unit_name, lead=lead)
    await notify.alert_commanders(session, message=message, now=now)
