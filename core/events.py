"""The event outbox, written by the unit of work: every committed change has its ``event`` row in the same commit.

Services never write event rows. They say what happened with ``queue_event`` (kept on the session), and the unit of
work writes everything queued in one INSERT, as the last statement before its commit. A ``before_commit`` listener on
every SQLAlchemy Session does it, so every runner (the request's session dependency, a sweep, a CLI command, a
test's session) gets it and none can forget it; nothing else can write an event.

Ids follow commit order: that INSERT first takes a transaction-scoped advisory lock and only then draws its ids, and
the lock is held until the commit, so a transaction that draws larger ids always commits after one that drew
smaller ones, and a reader that has delivered id N never later meets a committed id below N. The lock is taken last
on purpose: a transaction that took it early and then waited for a row lock would hold every other committer up,
and deadlock against one that held that row and wanted to commit (issue 15; tests/command/test_unit_of_work.py).

A unit of work that rolls back writes no events; an event queued inside a savepoint that rolls back is dropped with
it (one queued inside a savepoint that is released waits for the outermost commit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, ColumnElement, DateTime, Index, String, bindparam, event, func, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

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

    __table_args__ = (
        Index("ix_event_incident_id", "incident_id", postgresql_where=text("incident_id IS NOT NULL")),
        Index("ix_event_unit_id", "unit_id", postgresql_where=text("unit_id IS NOT NULL")),
        # The reports' (migration 0018): the incidents logged in a period; a unit's positions in a time window.
        Index(
            "ix_event_incident_reported",
            "created_at",
            postgresql_include=["incident_id"],
            postgresql_where=text("type = 'incident.created'"),
        ),
        Index("ix_event_unit_location", "unit_id", "created_at", postgresql_where=text("type = 'unit.location'")),
    )


class EventEnvelope(BaseModel):
    """What a live client receives: ``{"id", "type", "at", "data"}`` (API.md, Live). The event's scope (the incident
    and unit it concerns, as stored) travels with it for the streams' filters to judge, never on the wire."""

    id: int
    type: str
    at: datetime
    data: dict[str, Any]
    incident_id: int | None = Field(default=None, exclude=True)
    unit_id: int | None = Field(default=None, exclude=True)

    @classmethod
    def of(cls, event: Event) -> EventEnvelope:
        return cls(
            id=event.id,
            type=event.type,
            at=event.created_at,
            data=event.data,
            incident_id=event.incident_id,
            unit_id=event.unit_id,
        )


# The unit of work's queue (events not yet written), the ids its commit is writing, and the ids it has committed
# and not yet announced (see ``take_pending_event_ids``), all kept in ``Session.info``.
_QUEUE = "commandpost.event_queue"
_WRITING = "commandpost.writing_event_ids"

EventData = dict[str, Any] | Callable[[], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Happened:
    """An event that goes with another record (e.g. a timeline entry), which supplies its scope and actor."""

    type: str
    data: EventData
    unit_id: int | None = None


@dataclass(frozen=True, slots=True)
class _Queued:
    type: str
    data: EventData
    incident_id: int | None
    unit_id: int | None
    actor: str | None
    savepoints: tuple[SessionTransaction, ...]  # the savepoints open when it was queued: it dies with any of them


def queue_event(
    session: AsyncSession | Session,
    *,
    type: str,
    data: EventData,
    incident_id: int | None = None,
    unit_id: int | None = None,
    actor: str | None = None,
) -> None:
    """Record that something happened; the unit of work writes it as the last statement before it commits.

    ``data`` is the payload, or a function that builds it at that moment from objects of the unit of work, so that
    the event carries the state that commits (an incident event carries the incident as it is committed, whatever
    else the unit of work changed after queueing it). Nothing is written or published here.
    """
    if "." not in type:
        raise ValueError(f"event type {type!r} must be '<area>.<what>', e.g. 'incident.created'")
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    queued = _Queued(type, data, incident_id, unit_id, actor, _open_savepoints(sync))
    sync.info.setdefault(_QUEUE, []).append(queued)


def _open_savepoints(session: Session) -> tuple[SessionTransaction, ...]:
    found = []
    transaction = session.get_nested_transaction()
    while transaction is not None:
        if transaction.nested:
            found.append(transaction)
        transaction = transaction.parent
    return tuple(found)


# One statement for the whole queue. The CTE (volatile, so run first and once) takes the ordering lock, and only
# then are rows formed and ids drawn, in queue order; the lock is held to commit (see the module's docstring).
_INSERT_EVENTS = text("""
WITH ordered AS (SELECT pg_advisory_xact_lock(:lock_hi, :lock_lo))
INSERT INTO event (type, data, incident_id, unit_id, actor)
SELECT e.row->>'type', e.row->'data', (e.row->>'incident_id')::bigint, (e.row->>'unit_id')::bigint, e.row->>'actor'
FROM ordered, jsonb_array_elements(:rows) WITH ORDINALITY AS e(row, n)
ORDER BY e.n
RETURNING id
""").bindparams(
    bindparam("lock_hi", EVENT_LOCK_KEY[0]),
    bindparam("lock_lo", EVENT_LOCK_KEY[1]),
    bindparam("rows", type_=JSONB),
)


def _row(queued: _Queued) -> dict[str, Any]:
    data = queued.data() if callable(queued.data) else queued.data
    return {
        "type": queued.type,
        "data": data,
        "incident_id": queued.incident_id,
        "unit_id": queued.unit_id,
        "actor": queued.actor,
    }


@event.listens_for(Session, "before_commit")
def _write_queued_events(session: Session) -> None:
    """The outermost commit of a unit of work: its changes, then all its events in one INSERT, then COMMIT.

    (Runs inside AsyncSession's greenlet, so the synchronous calls here are the async driver's.)"""
    if session.in_nested_transaction():  # a savepoint released: its events wait for the outermost commit
        return
    queue: list[_Queued] = session.info.pop(_QUEUE, [])
    if not queue:
        return
    session.flush()  # the changes first, so the INSERT below is the last statement and the lock is held shortest
    rows = [_row(q) for q in queue]
    ids = sorted(session.execute(_INSERT_EVENTS, {"rows": rows}).scalars())
    session.info.setdefault(_WRITING, []).extend(ids)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.setdefault(PENDING_EVENT_IDS, []).extend(session.info.pop(_WRITING, []))


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.nested:
        queue = session.info.get(_QUEUE)
        if queue:
            session.info[_QUEUE] = [q for q in queue if previous_transaction not in q.savepoints]
    elif previous_transaction.parent is None:
        _forget(session)


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    # Also a unit of work closed without commit or rollback: what it queued never happened.
    if transaction.parent is None:
        _forget(session)


def _forget(session: Session) -> None:
    session.info.pop(_QUEUE, None)
    session.info.pop(_WRITING, None)


def take_pending_event_ids(session: AsyncSession) -> list[int]:
    """The ids of the events this session's commits wrote since the last call, in order: what to ring after the
    commit (web/deps.py, web/scheduler.py)."""
    ids: list[int] = session.info.pop(PENDING_EVENT_IDS, [])
    return ids


async def newest_event_id(session: AsyncSession) -> int:
    """The largest committed event id (0 for an empty table)."""
    return int(await session.scalar(select(func.coalesce(func.max(Event.id), 0))) or 0)


async def events_after(
    session: AsyncSession, after_id: int, *, limit: int = 1000, where: ColumnElement[bool] | None = None
) -> list[Event]:
    """Committed events with an id above ``after_id``, oldest first (the hub's reads, a resuming client's replay);
    ``where``, a condition on ``Event``'s columns (its incident or unit scope), narrows them in the database."""
    stmt = select(Event).where(Event.id > after_id)
    if where is not None:
        stmt = stmt.where(where)
    return list(await session.scalars(stmt.order_by(Event.id).limit(limit)))
