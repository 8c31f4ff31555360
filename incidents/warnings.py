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
from typing import Any, cast

from geoalchemy2.shape import from_shape
from sqlalchemy import Table, and_, bindparam, literal, or_, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from core.clock import utcnow
from core.events import queue_event
from incidents.warning_area import area_of
from incidents.warning_events import classify_event, primary
from incidents.warning_models import Warning
from incidents.warning_present import summary
from notify.service import CapAlert, CapReference, cap_colour

# One statement, compiled once: the values travel as parameters (an ORM insert with .values() per message spent
# longer building its statement than the database spent running it).
_TABLE = cast(Table, Warning.__table__)
_EARLIER = _TABLE.alias("later")
_INSERT = (
    pg_insert(_TABLE)
    .on_conflict_do_nothing(constraint="uq_warning_message")
    .returning(
        _TABLE.c.id,
        _TABLE.c.created_at,
        _TABLE.c.updated_at,
        # Whether a message we have references this one (the new row is not visible to its own statement).
        select(literal(1))
        .where(_EARLIER.c.references.contains(bindparam("probe", type_=JSONB)))
        .exists()
        .label("late"),
    )
)
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


def build(alert: CapAlert, *, source: str, actor: str | None, feed_id: int | None) -> dict[str, Any]:
    """The column values of the warning row of a message."""
    main = primary(alert)
    category, subtype = classify_event(alert)
    severity = main.severity if main else "Unknown"
    geometry = area_of(area for info in alert.infos for area in info.areas)
    onsets = [t for info in alert.infos for t in (info.onset or info.effective,) if t is not None]
    effectives = [info.effective for info in alert.infos if info.effective is not None]
    return {
        "source": source,
        "profile": alert.profile.value,
        "feed_id": feed_id,
        "identifier": alert.identifier,
        "sender": alert.sender,
        "sent": alert.sent,
        "status": alert.status,
        "msg_type": alert.msg_type,
        "scope": alert.scope,
        "event": (main.event if main else "")[:500],
        "event_codes": [{"name": n, "value": v} for info in alert.infos[:1] for n, v in info.event_codes],
        "category": category,
        "subtype": subtype,
        "colour": _colour(alert, severity),
        "severity": severity,
        "urgency": main.urgency if main else "Unknown",
        "certainty": main.certainty if main else "Unknown",
        "headline": main.headline if main else None,
        "languages": list(dict.fromkeys(info.language for info in alert.infos)),
        "effective": min(effectives) if effectives else alert.sent,
        "onset": min(onsets) if onsets else None,
        "expires": _expires(alert),
        "header": {
            "source": alert.source,
            "restriction": alert.restriction,
            "addresses": alert.addresses,
            "codes": list(alert.codes),
            "note": alert.note,
            "incidents": alert.incidents,
        },
        "infos": [info.as_json() for info in alert.infos],
        "references": [{"sender": r.sender, "identifier": r.identifier, "sent": r.sent} for r in alert.references],
        "references_unknown": False,
        "signature": alert.signature.value,
        "signer": alert.signer,
        "area": from_shape(geometry, srid=4326) if geometry is not None else None,
        "original": alert.original,
        "created_by": actor,
        "ended_at": None if alert.msg_type in ("Alert", "Update") else alert.sent,
    }


async def find_message(session: AsyncSession, *, sender: str, identifier: str, sent: datetime) -> Warning | None:
    return (
        await session.scalars(
            select(Warning).where(Warning.sender == sender, Warning.identifier == identifier, Warning.sent == sent)
        )
    ).first()


def _names(ref: dict[str, Any] | CapReference, warning: Warning) -> bool:
    """Whether a reference (as CAP wrote it) names the warning."""
    sender, identifier, sent = (
        (ref["sender"], ref["identifier"], ref.get("sent"))
        if isinstance(ref, dict)
        else (ref.sender, ref.identifier, ref.sent)
    )
    when = _parse_sent(sent)
    return warning.sender == sender and warning.identifier == identifier and (when is None or when == warning.sent)


async def _related(session: AsyncSession, alert: CapAlert) -> list[Warning]:
    """In one query, locked: the message itself if we have it, and the messages it references."""
    conditions = [and_(Warning.sender == alert.sender, Warning.identifier == alert.identifier)]
    for ref in alert.references:
        conditions.append(and_(Warning.sender == ref.sender, Warning.identifier == ref.identifier))
    stmt = select(Warning).where(or_(*conditions)).order_by(Warning.id).with_for_update()
    return list((await session.scalars(stmt)).all())


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


def _end(target: Warning, *, by_id: int, by_type: str, now: datetime) -> bool:
    """Supersede or cancel ``target`` by the message ``by_id``; False when it was already ended that way."""
    if target.id == by_id:
        return False
    if by_type == "Cancel":
        if target.cancelled_by is not None:
            return False
        target.cancelled_by = by_id
    else:
        if target.superseded_by is not None or target.cancelled_by is not None:
            return False
        target.superseded_by = by_id
    target.ended_at = target.ended_at or now
    target.updated_at = now
    return True


async def import_alert(
    session: AsyncSession, *, alert: CapAlert, source: str, actor: str | None, feed_id: int | None = None
) -> Imported:
    """Store a checked message as a warning and apply it to those it references (see the module docstring).

    Round trips, for speed (bench/cap_import.py): a message with references first reads, in one SELECT, what it
    references (and itself, if we have it); then one INSERT … ON CONFLICT DO NOTHING stores it complete, its
    RETURNING saying whether a message we already have references it (it arrived late), which is rare and only
    then read; UPDATEs only for the warnings it ends."""
    values = build(alert, source=source, actor=actor, feed_id=feed_id)
    referenced: list[list[Warning]] = []
    if alert.references:
        related = await _related(session, alert)
        for found in related:
            if found.sender == alert.sender and found.identifier == alert.identifier and found.sent == alert.sent:
                return Imported(found, [], created=False)
        referenced = [[w for w in related if _names(ref, w)] for ref in alert.references]
        values["references"] = [
            {**entry, "warning_ids": [w.id for w in found]}
            for entry, found in zip(values["references"], referenced, strict=True)
        ]
        values["references_unknown"] = any(not found for found in referenced)
    probe = [{"sender": alert.sender, "identifier": alert.identifier}]
    made = (await session.execute(_INSERT, {**values, "probe": probe})).first()
    if made is None:  # the same message again (or imported at this moment by another request or feed)
        again = await find_message(session, sender=alert.sender, identifier=alert.identifier, sent=alert.sent)
        assert again is not None
        return Imported(again, [], created=False)
    unset = {c.key: None for c in Warning.__table__.columns if c.key not in values}  # every attribute loaded
    warning = Warning(
        **{**unset, **values, "id": made.id, "created_at": made.created_at, "updated_at": made.updated_at}
    )
    make_transient_to_detached(warning)
    session.add(warning)  # persistent from here: later changes are UPDATEs
    now = utcnow()
    if made.late:
        await _arrived_late(session, warning, alert, now=now)
    changed: list[Warning] = []
    if alert.msg_type in ("Update", "Cancel"):
        targets = [w for found in referenced for w in found]
        if alert.msg_type == "Cancel":
            targets += await _successors(session, targets)
        changed = [t for t in dict.fromkeys(targets) if _end(t, by_id=warning.id, by_type=alert.msg_type, now=now)]
    _announce(session, warning, changed, actor=actor)
    return Imported(warning, changed, created=True)


async def _arrived_late(session: AsyncSession, warning: Warning, alert: CapAlert, *, now: datetime) -> None:
    """Messages we already have reference this one: it arrives superseded or cancelled, and they learn of it."""
    probe = [{"sender": alert.sender, "identifier": alert.identifier}]
    stmt = (
        select(Warning)
        .where(Warning.references.contains(probe), Warning.id != warning.id)
        .order_by(Warning.id)
        .with_for_update()
    )
    for other in (await session.scalars(stmt)).all():
        if not any(_names(r, warning) for r in other.references):
            continue
        other.references = [
            {**e, "warning_ids": sorted({*e.get("warning_ids", []), warning.id})} if _names(e, warning) else e
            for e in other.references
        ]
        other.references_unknown = any(not e.get("warning_ids") for e in other.references)
        if other.msg_type in ("Update", "Cancel"):
            _end(warning, by_id=other.id, by_type=other.msg_type, now=now)


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


async def sweep_expired(session: AsyncSession, *, now: datetime, limit: int = 500) -> int:
    """Mark warnings whose expiry has passed as ended and say so (``warning.expired``), once each. The active list
    does not wait for this (it compares ``expires`` with now); the live map learns of it here."""
    rows = (
        await session.scalars(
            select(Warning)
            .where(Warning.ended_at.is_(None), Warning.expires.is_not(None), Warning.expires <= now)
            .order_by(Warning.expires)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for warning in rows:
        warning.ended_at = warning.expires
        warning.updated_at = now
        queue_event(session, type="warning.expired", data=_summary_data(warning), actor=None)
    await session.flush()
    return len(rows)


def _summary_data(warning: Warning) -> Any:
    def data() -> dict[str, Any]:
        return summary(warning).model_dump(mode="json")

    return data


async def end_exercises(session: AsyncSession, *, now: datetime, actor: str | None) -> int:
    """End every warning in force that a drill brought in (CAP status ``Exercise``), saying so
    (``warning.cancelled``); how many."""
    rows = (
        await session.scalars(
            select(Warning)
            .where(Warning.ended_at.is_(None), Warning.status == "Exercise")
            .order_by(Warning.id)
            .with_for_update()
        )
    ).all()
    for warning in rows:
        warning.ended_at = now
        warning.updated_at = now
        queue_event(session, type="warning.cancelled", data=_summary_data(warning), actor=actor)
    await session.flush()
    return len(rows)
