"""The event outbox: every state change writes one ``event`` row in the transaction that makes the change.

Ids follow commit order. ``record_event`` takes a transaction-scoped advisory lock before it draws the id, and the
lock is held until the transaction ends, so an event-writing transaction that draws a larger id always commits after
one that drew a smaller id. A reader that has delivered id N can therefore never later meet a committed id below N.
Call ``record_event`` as the last write of a unit of work: the lock serialises event writers until they commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import BigInteger, DateTime, Index, String, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base

PENDING_EVENT_IDS = "commandpost.pending_event_ids"

# Arbitrary but fixed: the advisory lock key that orders event ids (two int4 halves: 'cmdp', 'evnt').
EVENT_LOCK_KEY = (0x636D6470, 0x65766E74)


class Event(Base):
    """One committed change, durable and ordered: the source of every live update and of replay."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    incident_id: Mapped[int | None] = mapped_column(BigInteger)
    unit_id: Mapped[int | None] = mapped_column(BigInteger)
    actor: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    # RETURNING id, created_at on insert: the caller gets the envelope without a second round trip.
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        Index("ix_event_incident_id", "incident_id", postgresql_where=text("incident_id IS NOT NULL")),
        Index("ix_event_unit_id", "unit_id", postgresql_where=text("unit_id IS NOT NULL")),
    )


class EventEnvelope(BaseModel):
    """What a live client receives: ``{"id", "type", "at", "data"}`` (API.md, Live)."""

    id: int
    type: str
    at: datetime
    data: dict[str, Any]

    @classmethod
    def of(cls, event: Event) -> EventEnvelope:
        return cls(id=event.id, type=event.type, at=event.created_at, data=event.data)


# One round trip: the CTE (volatile, so run first and once) takes the transaction's ordering lock, and only then is
# the row formed and its id drawn. The lock is held to commit, so ids follow commit order (DESIGN.md).
_INSERT_EVENT = text("""
WITH ordered AS (SELECT pg_advisory_xact_lock(:lock_hi, :lock_lo))
INSERT INTO event (type, data, incident_id, unit_id, actor)
SELECT :type, :data, :incident_id, :unit_id, :actor FROM ordered
RETURNING id, created_at
""").bindparams(
    bindparam("lock_hi", EVENT_LOCK_KEY[0]),
    bindparam("lock_lo", EVENT_LOCK_KEY[1]),
    bindparam("data", type_=JSONB),
    bindparam("incident_id", type_=BigInteger),
    bindparam("unit_id", type_=BigInteger),
    bindparam("type", type_=String),
    bindparam("actor", type_=String),
)


async def record_event(
    session: AsyncSession,
    *,
    type: str,
    data: dict[str, Any],
    incident_id: int | None = None,
    unit_id: int | None = None,
    actor: str | None = None,
) -> Event:
    """Write an event row in the caller's transaction and return it with its id and time.

    Nothing is published here: the event becomes visible to the stream only when the caller commits.
    """
    if "." not in type:
        raise ValueError(f"event type {type!r} must be '<area>.<what>', e.g. 'incident.created'")
    await session.flush()  # what the caller changed goes first, as it would with the ORM
    params = {"type": type, "data": data, "incident_id": incident_id, "unit_id": unit_id, "actor": actor}
    event_id, created_at = (await session.execute(_INSERT_EVENT, params)).one()
    event = Event(
        id=event_id,
        type=type,
        data=data,
        incident_id=incident_id,
        unit_id=unit_id,
        actor=actor,
        created_at=created_at,
    )
    # Whoever commits this session rings the doorbell with the newest id (see notify.bus).
    session.info.setdefault(PENDING_EVENT_IDS, []).append(event_id)
    return event


def take_pending_event_ids(session: AsyncSession) -> list[int]:
    """The ids of events this session wrote since the last call; call it after a successful commit."""
    ids: list[int] = session.info.pop(PENDING_EVENT_IDS, [])
    return ids


async def newest_event_id(session: AsyncSession) -> int:
    """The largest committed event id (0 for an empty table)."""
    return int(await session.scalar(select(func.coalesce(func.max(Event.id), 0))) or 0)


async def events_after(session: AsyncSession, after_id: int, *, limit: int = 1000) -> list[Event]:
    """Committed events with an id above ``after_id``, oldest first (the replay of a resuming client)."""
    rows = await session.scalars(select(Event).where(Event.id > after_id).order_by(Event.id).limit(limit))
    return list(rows)
