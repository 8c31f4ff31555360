"""The audit trail: who did what, when, and how it ended. Written for every mutating request (see web/audit.py for
how failures of callers who proved no identity are counted rather than stored one by one)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, SmallInteger, String, func, insert, literal, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class AuditEntry(Base):
    """One mutating request (or CLI action): the actor, the action, its target and its outcome."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    actor: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(128), nullable=False)
    method: Mapped[str | None] = mapped_column(String(8))
    path: Mapped[str | None] = mapped_column(String(512))
    target: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    # "ok", or the error code of API.md ("forbidden", "conflict", ...).
    outcome: Mapped[str] = mapped_column(String(32), nullable=False)
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    client_ip: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_actor_at", "actor", "at"),
    )


_CHANGES = "audit_changes"


def note_change(session: AsyncSession, **fields: list[Any]) -> None:
    """Remember what a change of the request's unit of work was before and after (``field=[before, after]``), for its
    audit row (``target.changes``, written with the change: web/audit.py). Services call it where they change
    something; only fields that really changed are kept."""
    changed = {key: pair for key, pair in fields.items() if pair[0] != pair[1]}
    if changed:
        session.info.setdefault(_CHANGES, {}).update(changed)


def take_changes(session: AsyncSession) -> dict[str, list[Any]]:
    """The changes noted in this unit of work so far (``note_change``); forgotten once taken."""
    taken: dict[str, list[Any]] = session.info.pop(_CHANGES, {})
    return taken


async def record_audit(
    session: AsyncSession,
    *,
    action: str,
    outcome: str,
    actor: str | None = None,
    role: str | None = None,
    method: str | None = None,
    path: str | None = None,
    target: dict[str, Any] | None = None,
    status_code: int | None = None,
    client_ip: str | None = None,
    request_id: str | None = None,
) -> int:
    """Write an audit row in the caller's transaction; its id. One INSERT, not an ORM object and a flush: every
    mutating request writes one, and the unit-of-work machinery cost more than the row (bench/spans.py)."""
    values = {
        "action": action[:128],
        "outcome": outcome[:32],
        "actor": actor,
        "role": role,
        "method": method,
        "path": path[:512] if path else None,
        "target": target or {},
        "status_code": status_code,
        "client_ip": client_ip,
        "request_id": request_id,
    }
    return int((await session.execute(insert(AuditEntry).values(values).returning(AuditEntry.id))).scalar_one())


async def add_to_audit_target(session: AsyncSession, *, entry_id: int, **values: Any) -> None:
    """Merge ``values`` into an existing audit row's target (e.g. the final count of a burst it stands for)."""
    await session.execute(
        update(AuditEntry)
        .where(AuditEntry.id == entry_id)
        .values(target=AuditEntry.target.op("||")(literal(values, type_=JSONB)))
    )


async def read_audit(
    session: AsyncSession,
    *,
    actor: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    target: tuple[str, str] | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[AuditEntry]:
    """The audit trail, newest first, filtered; ``before_id`` pages back through it (keyset, so a busy trail does not
    shift the pages under the reader). ``target`` = (key, value): rows whose target has that key with that value,
    written as a string (a path parameter) or as the number it spells (an id a route added)."""
    from sqlalchemy import or_, select

    stmt = select(AuditEntry)
    if target is not None:
        key, value = target
        spelled = [{key: value}] + ([{key: int(value)}] if value.lstrip("-").isdigit() else [])
        stmt = stmt.where(or_(*(AuditEntry.target.contains(one) for one in spelled)))
    if actor is not None:
        stmt = stmt.where(AuditEntry.actor == actor)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    if outcome is not None:
        stmt = stmt.where(AuditEntry.outcome == outcome)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.at < until)
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    return list(await session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit)))
