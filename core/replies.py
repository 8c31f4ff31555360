"""Replayable answers: an action sent with an ``Idempotency-Key`` (a crew's acknowledgement, status or note, queued on
a phone and sent again after a lost answer) is done once; the same key again gets the first answer back.

The key is claimed in the action's own transaction: if the action fails, the claim rolls back with it and a retry
runs afresh; a second request with the same key while the first is running waits on the row and then reads the first
answer. The same key with another request (another route or body) is a Conflict. Keys are the caller's own
(``actor``) and kept for ``KEEP`` (a queued action is at most a day old: ``core.clock.ActionAt``), then purged by the
next claim of the same caller.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Integer, String, and_, delete, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base
from core.errors import Conflict, Invalid

KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
KEEP = timedelta(hours=48)


class ActionReply(Base):
    """The answer an action with an ``Idempotency-Key`` gave (``status`` and JSON ``body``), for its replays."""

    __tablename__ = "action_reply"

    actor: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[Any] = mapped_column(JSONB, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def fingerprint(route: str, body: Any) -> str:
    """What the key stands for: the route (method and path) and the request body, canonically."""
    text = json.dumps([route, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


async def claim(session: AsyncSession, *, actor: str, key: str, request_hash: str) -> ActionReply | None:
    """Claim ``key`` for this request: None when it is ours to run (then ``remember`` its answer); the earlier
    answer when the key was already used for the same request. Invalid for a malformed key, Conflict for a key
    used with another request."""
    if not KEY.fullmatch(key):
        raise Invalid("Idempotency-Key must be 1-200 printable ASCII characters", field="Idempotency-Key")
    await session.execute(
        delete(ActionReply).where(and_(ActionReply.actor == actor, ActionReply.created_at < utcnow() - KEEP))
    )
    stmt = (
        pg_insert(ActionReply)
        .values(actor=actor, key=key, request_hash=request_hash)
        .on_conflict_do_nothing(index_elements=["actor", "key"])
        .returning(ActionReply.key)
    )
    if (await session.execute(stmt)).scalar_one_or_none() is not None:
        return None
    found = select(ActionReply).where(and_(ActionReply.actor == actor, ActionReply.key == key))
    earlier = (await session.scalars(found.execution_options(populate_existing=True))).one_or_none()
    if earlier is None or earlier.request_hash != request_hash or earlier.status is None:
        raise Conflict("this Idempotency-Key was already used with a different request", field="Idempotency-Key")
    return earlier


async def remember(session: AsyncSession, *, actor: str, key: str, status: int, body: Any) -> None:
    """Keep the answer of the action that claimed ``key`` (in its transaction)."""
    found = select(ActionReply).where(and_(ActionReply.actor == actor, ActionReply.key == key))
    reply = (await session.scalars(found)).one()
    reply.status = status
    reply.body = body
    await session.flush()
