"""Warnings (预警) received: a checked CAP message (``notify.service.parse_cap``) stored as a warning, and what it does
to the warnings before it.

- Idempotent on sender + identifier + sent: the same message again changes nothing (``created`` False).
- An Update supersedes the messages it references; a Cancel cancels them and whatever superseded them since.
- A reference to a message we never received is kept and flags the warning ``references_unknown`` (we often join
  a conversation in the middle); should that message arrive later, it arrives already superseded or cancelled.
- Every change queues its event (``warning.issued`` / ``warning.updated`` / ``warning.cancelled``) for the unit of
  work to write last.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from geoalchemy2.shape import from_shape
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.events import queue_event
from incidents.warning_area import area_of
from incidents.warning_events import classify_event, primary
from incidents.warning_models import Warning
from incidents.warning_present import summary
from notify.service import CapAlert, CapReference, cap_colour

EVENT_OF = {"Alert": "warning.issued", "Update": "warning.updated", "Cancel": "warning.cancelled"}


@dataclass(frozen=True)
class Imported:
    """The warning stored for a message, the earlier ones it changed, and whether anything was written."""

    warning: Warning
    changed: list[Warning]
    created: bool


def _parse_sent(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _expires(alert: CapAlert) -> datetime | None:
    # In force until its last info block expires; an info without expiry keeps the whole message open.
    times = [info.expires for info in alert.infos]
    if not times or any(t is None for t in times):
        return None
    return max(t for t in times if t is not None)


def _colour(alert: CapAlert, severity: str) -> str | None:
    for info in alert.infos:
        if info.colour:
            return info.colour
    return cap_colour(severity)


def build(alert: CapAlert, *, source: str, actor: str | None, feed_id: int | None) -> Warning:
    """The warning row of a message (not yet added to the session)."""
    main = primary(alert)
    category, subtype = classify_event(alert)
    severity = main.severity if main else "Unknown"
    geometry = area_of(area for info in alert.infos for area in info.areas)
    onsets = [t for info in alert.infos for t in (info.onset or info.effective,) if t is not None]
    effectives = [info.effective for info in alert.infos if info.effective is not None]
    return Warning(
        source=source,
        profile=alert.profile.value,
        feed_id=feed_id,
        identifier=alert.identifier,
        sender=alert.sender,
        sent=alert.sent,
        status=alert.status,
        msg_type=alert.msg_type,
        scope=alert.scope,
        event=(main.event if main else "")[:500],
        event_codes=[{"name": n, "value": v} for info in alert.infos[:1] for n, v in info.event_codes],
        category=category,
        subtype=subtype,
        colour=_colour(alert, severity),
        severity=severity,
        urgency=main.urgency if main else "Unknown",
        certainty=main.certainty if main else "Unknown",
        headline=main.headline if main else None,
        languages=list(dict.fromkeys(info.language for info in alert.infos)),
        effective=min(effectives) if effectives else alert.sent,
        onset=min(onsets) if onsets else None,
        expires=_expires(alert),
        header={
            "source": alert.source,
            "restriction": alert.restriction,
            "addresses": alert.addresses,
            "codes": list(alert.codes),
            "note": alert.note,
            "incidents": alert.incidents,
        },
        infos=[info.as_json() for info in alert.infos],
        references=[{"sender": r.sender, "identifier": r.identifier, "sent": r.sent} for r in alert.references],
        references_unknown=False,
        signature=alert.signature.value,
        signer=alert.signer,
        area=from_shape(geometry, srid=4326) if geometry is not None else None,
        original=alert.original,
        created_by=actor,
        ended_at=None if alert.msg_type in ("Alert", "Update") else alert.sent,
    )


async def find_message(session: AsyncSession, *, sender: str, identifier: str, sent: datetime) -> Warning | None:
    return (
        await session.scalars(
            select(Warning).where(Warning.sender == sender, Warning.identifier == identifier, Warning.sent == sent)
        )
    ).first()


async def _referenced(session: AsyncSession, refs: tuple[CapReference, ...]) -> dict[int, list[Warning]]:
    """For each reference (by position), the warnings it names, locked for the change."""
    if not refs:
        return {}
    conditions = []
    for ref in refs:
        sent = _parse_sent(ref.sent)
        match = and_(Warning.sender == ref.sender, Warning.identifier == ref.identifier)
        conditions.append(and_(match, Warning.sent == sent) if sent is not None else match)
    rows = list(
        (await session.scalars(select(Warning).where(or_(*conditions)).order_by(Warning.id).with_for_update())).all()
    )
    found: dict[int, list[Warning]] = {}
    for index, ref in enumerate(refs):
        sent = _parse_sent(ref.sent)
        found[index] = [
            w
            for w in rows
            if w.sender == ref.sender and w.identifier == ref.identifier and (sent is None or w.sent == sent)
        ]
    return found


async def _successors(session: AsyncSession, start: list[Warning]) -> list[Warning]:
    """The warnings that superseded these, and theirs, and so on (a Cancel ends the whole thread)."""
    out: list[Warning] = []
    frontier = [w.superseded_by for w in start if w.superseded_by is not None]
    seen = {w.id for w in start}
    while frontier:
        rows = (await session.scalars(select(Warning).where(Warning.id.in_(frontier)).with_for_update())).all()
        frontier = []
        for row in rows:
            if row.id not in seen:
                seen.add(row.id)
                out.append(row)
                if row.superseded_by is not None:
                    frontier.append(row.superseded_by)
    return out


def _end(target: Warning, by: Warning, *, now: datetime) -> bool:
    """Supersede or cancel ``target`` by the message ``by``; False when it was already ended that way."""
    if target.id == by.id:
        return False
    if by.msg_type == "Cancel":
        if target.cancelled_by is not None:
            return False
        target.cancelled_by = by.id
    else:
        if target.superseded_by is not None or target.cancelled_by is not None:
            return False
        target.superseded_by = by.id
    target.ended_at = target.ended_at or now
    target.updated_at = now
    return True


async def _apply_references(
    session: AsyncSession, warning: Warning, alert: CapAlert, *, now: datetime
) -> list[Warning]:
    found = await _referenced(session, alert.references)
    warning.references = [
        {**entry, "warning_ids": [w.id for w in found.get(i, [])]} for i, entry in enumerate(warning.references)
    ]
    warning.references_unknown = any(not found.get(i) for i in range(len(alert.references)))
    if alert.msg_type not in ("Update", "Cancel"):
        return []
    targets = [w for rows in found.values() for w in rows]
    if alert.msg_type == "Cancel":
        targets += await _successors(session, targets)
    return [t for t in dict.fromkeys(targets) if _end(t, warning, now=now)]


async def _late_arrival(session: AsyncSession, warning: Warning, *, now: datetime) -> None:
    """A message that later ones already reference arrives superseded or cancelled, and they learn of it."""
    probe = [{"sender": warning.sender, "identifier": warning.identifier}]
    later = (
        await session.scalars(
            select(Warning).where(Warning.references.contains(probe), Warning.id != warning.id).order_by(Warning.id)
        )
    ).all()
    for other in later:
        entries = []
        for entry in other.references:
            sent = _parse_sent(entry.get("sent"))
            if (
                entry["sender"] == warning.sender
                and entry["identifier"] == warning.identifier
                and (sent is None or sent == warning.sent)
            ):
                entry = {**entry, "warning_ids": sorted({*entry.get("warning_ids", []), warning.id})}
            entries.append(entry)
        other.references = entries
        other.references_unknown = any(not e.get("warning_ids") for e in entries)
        if other.msg_type in ("Update", "Cancel"):
            _end(warning, other, now=now)


async def import_alert(
    session: AsyncSession, *, alert: CapAlert, source: str, actor: str | None, feed_id: int | None = None
) -> Imported:
    """Store a checked message as a warning and apply it to those it references (see the module docstring)."""
    existing = await find_message(session, sender=alert.sender, identifier=alert.identifier, sent=alert.sent)
    if existing is not None:
        return Imported(existing, [], created=False)
    warning = build(alert, source=source, actor=actor, feed_id=feed_id)
    try:
        async with session.begin_nested():
            session.add(warning)
            await session.flush()
    except IntegrityError:  # the same message, imported at this moment by another request or feed
        again = await find_message(session, sender=alert.sender, identifier=alert.identifier, sent=alert.sent)
        if again is None:
            raise
        return Imported(again, [], created=False)
    now = utcnow()
    changed = await _apply_references(session, warning, alert, now=now)
    await _late_arrival(session, warning, now=now)
    await session.flush()
    _announce(session, warning, changed, actor=actor)
    return Imported(warning, changed, created=True)


def _announce(session: AsyncSession, warning: Warning, changed: list[Warning], *, actor: str | None) -> None:
    kind = EVENT_OF.get(warning.msg_type)
    if kind is None:
        return

    def data() -> dict[str, Any]:
        return {
            **summary(warning).model_dump(mode="json"),
            "superseded": [w.id for w in changed if w.superseded_by == warning.id],
            "cancelled": [w.id for w in changed if w.cancelled_by == warning.id],
        }

    queue_event(session, type=kind, data=data, actor=actor)


async def link_incident(session: AsyncSession, *, warning: Warning, incident_id: int) -> None:
    """Record that the incident was opened from the warning (the incident's timeline says so too)."""
    await session.execute(
        update(Warning).where(Warning.id == warning.id).values(incident_id=incident_id, updated_at=utcnow())
    )
    warning.incident_id = incident_id
