"""Refresh tokens: a signed-in session that outlives its short access tokens (a 12-hour shift, a wall screen left on
for days), renewed one use at a time and revocable.

A refresh token is an opaque random string; only its SHA-256 is stored. Each use rotates it: the old one is marked
used and a new one of the same *family* (one sign-in) is issued. Presenting a used token again means that two
parties hold the family (one of them stole it), so the whole family is revoked and both must sign in again (OAuth 2.0
Security BCP, "refresh token rotation"), with one grace: the token just exchanged, presented again within
``reuse_grace_s`` while the token that replaced it has never been used, is a renewal whose answer was lost on the way
(a phone in a tunnel, a wall screen's network blinking): it is exchanged again, and the lost replacement retired, so
that whoever presents that one later ends the family. Signing out revokes the family. A new password, a deactivated
user or a family older than ``refresh_session_hours`` ends it too.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, Uuid, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base
from core.errors import Unauthenticated
from core.users import AppUser


class RefreshToken(Base):
    """One refresh token of a sign-in's family; ``used_at`` once it has been exchanged, ``revoked_at`` when its family
    was ended."""

    __tablename__ = "refresh_token"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False, index=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("app_user.id", ondelete="CASCADE"), nullable=False, index=True
    )
    family_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class Issued:
    """A new refresh token (shown once, never stored) and when it expires."""

    token: str
    expires_at: datetime


@dataclass(frozen=True)
class Renewal:
    """The outcome of exchanging a refresh token: its user, and the token that replaces it."""

    user: AppUser
    refresh: Issued


class Reused(Unauthenticated):
    """A refresh token presented after it had been exchanged: its family must be revoked (in a transaction that
    commits, although the request fails)."""

    def __init__(self, family_id: uuid.UUID) -> None:
        super().__init__("this session was ended because its refresh token was used twice; sign in again")
        self.family_id = family_id


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def issue(
    session: AsyncSession,
    *,
    user: AppUser,
    idle_hours: float,
    family_id: uuid.UUID | None = None,
    family_started_at: datetime | None = None,
) -> Issued:
    """A refresh token for ``user``: of a new family (a sign-in), or of ``family_id`` (a rotation)."""
    now = utcnow()
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(hours=idle_hours)
    session.add(
        RefreshToken(
            token_hash=_digest(token),
            family_id=family_id or uuid.uuid4(),
            user_id=user.id,
            family_started_at=family_started_at or now,
            created_at=now,
            expires_at=expires,
        )
    )
    await session.flush()
    return Issued(token=token, expires_at=expires)


async def _lost_answer(session: AsyncSession, row: RefreshToken, *, now: datetime, grace_s: float) -> bool:
    """``row`` (already exchanged) is presented again within the grace, and the one token issued in the family since,
    its replacement, was never used: its answer was lost. That replacement is retired (marked used)."""
    if grace_s <= 0 or row.used_at is None or now - row.used_at > timedelta(seconds=grace_s):
        return False
    since = (
        (
            await session.execute(
                select(RefreshToken)
                .where(RefreshToken.family_id == row.family_id, RefreshToken.id > row.id)
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )
    if len(since) != 1 or since[0].used_at is not None:  # renewed since (the answer came), or already retired
        return False
    since[0].used_at = now
    return True


async def rotate(
    session: AsyncSession, *, token: str, idle_hours: float, session_hours: float, reuse_grace_s: float = 0.0
) -> Renewal:
    """Exchange ``token`` for a new one of its family. Unauthenticated when it is unknown, expired, revoked, its family
    too old or its user no longer signs in with the password of that sign-in; ``Reused`` when it was exchanged before
    (but for a lost answer within ``reuse_grace_s``: see the module). The token's row is locked, so two concurrent
    uses of one token cannot both succeed."""
    row = (
        await session.execute(select(RefreshToken).where(RefreshToken.token_hash == _digest(token)).with_for_update())
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("the session has ended; sign in again")
    now = utcnow()
    if row.used_at is not None and not await _lost_answer(session, row, now=now, grace_s=reuse_grace_s):
        raise Reused(row.family_id)
    if row.expires_at <= now or row.family_started_at + timedelta(hours=session_hours) <= now:
        raise Unauthenticated("the session has expired; sign in again")
    user = await session.get(AppUser, row.user_id)
    if user is None or not user.active or user.password_changed_at > row.family_started_at:
        raise Unauthenticated("the session has ended; sign in again")
    row.used_at = now
    issued = await issue(
        session, user=user, idle_hours=idle_hours, family_id=row.family_id, family_started_at=row.family_started_at
    )
    return Renewal(user=user, refresh=issued)


async def revoke_family(session: AsyncSession, *, family_id: uuid.UUID) -> None:
    """End a sign-in: none of its refresh tokens is accepted again."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def revoke(session: AsyncSession, *, token: str) -> AppUser | None:
    """Sign out the family of ``token``; its user (who signed out, for the audit row), or None when the token is
    unknown (nothing to do)."""
    row = (
        await session.execute(
            select(RefreshToken.family_id, RefreshToken.user_id).where(RefreshToken.token_hash == _digest(token))
        )
    ).one_or_none()
    if row is None:
        return None
    await revoke_family(session, family_id=row.family_id)
    return await session.get(AppUser, row.user_id)
