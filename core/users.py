"""People who may sign in, their roles and their passwords (argon2id hashes, never the password itself)."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import BigInteger, Boolean, DateTime, String, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core import totp
from core.db import Base
from core.errors import Conflict, Invalid, NotFound

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD_LENGTH = 8
MAX_JURISDICTIONS = 50  # per user: a duty officer's districts, not a list of every street

_hasher = PasswordHasher()
# Verified against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("commandpost-timing-equaliser")


class Role(StrEnum):
    """The six roles of API.md. ``admin`` may call every endpoint."""

    admin = "admin"
    duty_officer = "duty_officer"
    commander = "commander"
    field_unit = "field_unit"
    observer = "observer"
    gateway = "gateway"  # a vehicle tracking system: reports locations for the units assigned to it, nothing else


# Roles that may be scoped to jurisdictions: the command room's people below admin. An admin sees everything by
# definition, a field unit already sees only its own unit's incidents, a gateway sees none.
JURISDICTION_ROLES = frozenset({Role.duty_officer, Role.commander, Role.observer})


class AppUser(Base):
    """A person (or a field unit's phone) that signs in."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    # Only for field_unit users: the resource id of the unit whose alerts they receive.
    unit_id: Mapped[int | None] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    password_changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    # The jurisdictions (ids) the user sees and acts in, with those nested inside them; None: unscoped.
    jurisdiction_ids: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    # TOTP: the sealed secret once confirmed (core/totp.py), the one offered and not yet confirmed, when it was
    # turned on, and the last time step a code was accepted for (a code is good once).
    totp_secret: Mapped[str | None] = mapped_column(String(512))
    totp_pending: Mapped[str | None] = mapped_column(String(512))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    @property
    def totp_enabled(self) -> bool:
        return self.totp_secret is not None


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (blocks for ~90 ms and 64 MiB: async code uses ``hash_password_off_loop``)."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; always spends one argon2 verification, whether the user exists or not.

    Blocking: async code uses ``verify_password_off_loop``."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


# argon2id costs ~90 ms of CPU and 64 MiB per call. On the event loop, a flood of sign-ins stalls every other request
# of the worker; on unbounded threads, N concurrent sign-ins take N x 64 MiB. So: a few dedicated threads, and
# callers beyond them wait in line.
_threads = 2
_hashing = ThreadPoolExecutor(max_workers=_threads, thread_name_prefix="argon2")


def set_password_threads(threads: int) -> None:
    """How many argon2 computations may run at once in this process (the app sets it from its settings)."""
    global _hashing, _threads
    if threads != _threads:
        old = _hashing
        _hashing, _threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2"), threads
        old.shutdown(wait=False)  # what it holds still finishes


async def verify_password_off_loop(password_hash: str | None, password: str) -> bool:
    """``verify_password`` on the bounded argon2 threads, leaving the event loop free."""
    return await asyncio.get_running_loop().run_in_executor(_hashing, verify_password, password_hash, password)


async def hash_password_off_loop(password: str) -> str:
    """``hash_password`` on the bounded argon2 threads, leaving the event loop free."""
    return await asyncio.get_running_loop().run_in_executor(_hashing, hash_password, password)


def _check_new_user(*, username: str, password: str, role: Role, unit_id: int | None) -> None:
    if not USERNAME_PATTERN.fullmatch(username):
        raise Invalid("username must be 1-64 letters, digits or . _ @ -", field="username")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"password must have at least {MIN_PASSWORD_LENGTH} characters", field="password")
    if role is Role.field_unit and unit_id is None:
        raise Invalid("a field_unit user must be bound to a unit (--unit)", field="unit_id")
    if role is not Role.field_unit and unit_id is not None:
        raise Invalid("only field_unit users are bound to a unit", field="unit_id")


async def get_by_username(session: AsyncSession, *, username: str) -> AppUser | None:
    """The user with this name, or None."""
    return await session.scalar(select(AppUser).where(AppUser.username == username))


class Signer(NamedTuple):
    """What checking a token needs to know of its user."""

    username: str
    role: str
    unit_id: int | None
    active: bool
    password_changed_at: datetime
    jurisdiction_ids: tuple[int, ...] | None = None


# Plain SQL: every authenticated request asks this.
_SIGNER = text(
    "SELECT username, role, unit_id, active, password_changed_at, jurisdiction_ids FROM app_user"
    " WHERE username = :username"
)


async def signer(session: AsyncSession, *, username: str) -> Signer | None:
    """The user a token names, as much as the token check needs; None when there is no such user."""
    row = (await session.execute(_SIGNER, {"username": username})).one_or_none()
    if row is None:
        return None
    scope = tuple(sorted(row[5])) if row[5] is not None else None
    username, role, unit_id, active, changed_at = row[:5]
    return Signer(username, role, unit_id, active, changed_at, scope)


def _scope(role: Role, jurisdiction_ids: list[int] | None) -> list[int] | None:
    """The jurisdictions to store for a user of ``role``: None (unscoped) for an empty list; refused for a role
    that cannot be scoped."""
    if not jurisdiction_ids:
        return None
    if role not in JURISDICTION_ROLES:
        names = ", ".join(sorted(r.value for r in JURISDICTION_ROLES))
        raise Invalid(f"only {names} users can be scoped to jurisdictions", field="jurisdictions")
    if len(set(jurisdiction_ids)) > MAX_JURISDICTIONS:
        raise Invalid(f"at most {MAX_JURISDICTIONS} jurisdictions per user", field="jurisdictions")
    return sorted(set(jurisdiction_ids))


async def add_user(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    role: Role,
    unit_id: int | None = None,
    jurisdiction_ids: list[int] | None = None,
) -> AppUser:
    """Create a user (scoped to ``jurisdiction_ids`` when given); a taken username is a Conflict."""
    _check_new_user(username=username, password=password, role=role, unit_id=unit_id)
    scope = _scope(role, jurisdiction_ids)
    if await get_by_username(session, username=username) is not None:
        raise Conflict(f"user {username!r} already exists")
    password_hash = await hash_password_off_loop(password)
    user = AppUser(
        username=username, password_hash=password_hash, role=role.value, unit_id=unit_id, jurisdiction_ids=scope
    )
    session.add(user)
    await session.flush()
    return user


# Fixed advisory lock key of the admin bootstrap: 'cmdp', 'admn'.
_ADMIN_LOCK = (0x636D6470, 0x61646D6E)


async def ensure_admin(session: AsyncSession, *, password: str) -> str:
    """Create the ``admin`` user, or reset its password and role when they differ. Returns what was done.

    Serialised by a transaction advisory lock: several workers starting at once do it once, the others find it done.
    """
    _check_new_user(username="admin", password=password, role=Role.admin, unit_id=None)
    await session.execute(select(func.pg_advisory_xact_lock(*_ADMIN_LOCK)))
    user = await get_by_username(session, username="admin")
    if user is None:
        password_hash = await hash_password_off_loop(password)
        session.add(AppUser(username="admin", password_hash=password_hash, role=Role.admin.value))
        await session.flush()
        return "created"
    if await verify_password_off_loop(user.password_hash, password) and user.role == Role.admin and user.active:
        return "unchanged"
    user.password_hash = await hash_password_off_loop(password)
    user.role = Role.admin.value
    user.active = True
    user.password_changed_at = func.clock_timestamp()
    await session.flush()
    await session.refresh(user, ["password_changed_at"])
    return "reset"


async def list_users(
    session: AsyncSession, *, role: Role | None = None, active: bool | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[AppUser], int]:
    """Users by name, filtered by role and whether they may sign in; and how many match in all."""
    stmt = select(AppUser)
    if role is not None:
        stmt = stmt.where(AppUser.role == role.value)
    if active is not None:
        stmt = stmt.where(AppUser.active.is_(active))
    total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = await session.scalars(stmt.order_by(AppUser.username).limit(limit).offset(offset))
    return list(rows), int(total or 0)


async def get_user(session: AsyncSession, *, user_id: int, for_update: bool = False) -> AppUser:
    user = await session.get(AppUser, user_id, with_for_update=for_update)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


async def change_user(
    session: AsyncSession,
    *,
    user_id: int,
    by: str,
    role: Role | None = None,
    unit_id: int | None = None,
    unbind: bool = False,
    active: bool | None = None,
    jurisdiction_ids: list[int] | None = None,
    rescope: bool = False,
) -> tuple[AppUser, dict[str, list[object]]]:
    """Change a user's role, unit, jurisdictions (``rescope``: set them to ``jurisdiction_ids``, None or empty for
    none) or whether they may sign in; what changed as ``{field: [before, after]}``.
    Nobody changes their own role or deactivates themselves (a last admin cannot lock everyone out), and the
    role and unit must still agree (a field unit is bound to a unit, nobody else is). A role that cannot be scoped
    leaves the jurisdictions behind."""
    user = await get_user(session, user_id=user_id, for_update=True)
    if user.username == by and ((role is not None and role.value != user.role) or active is False):
        raise Conflict("you cannot change your own role or deactivate yourself; another admin can")
    before = {"role": user.role, "unit_id": user.unit_id, "active": user.active, "jurisdictions": user.jurisdiction_ids}
    new_role = role or Role(user.role)
    new_unit = None if unbind else (unit_id if unit_id is not None else user.unit_id)
    if new_role is not Role.field_unit and unit_id is None:
        new_unit = None  # leaving the field unit role unbinds the unit
    if new_role is Role.field_unit and new_unit is None:
        raise Invalid("a field_unit user must be bound to a unit", field="unit_id")
    if new_role is not Role.field_unit and new_unit is not None:
        raise Invalid("only field_unit users are bound to a unit", field="unit_id")
    if rescope:
        new_scope = _scope(new_role, jurisdiction_ids)
    else:
        new_scope = user.jurisdiction_ids if new_role in JURISDICTION_ROLES else None
    user.role, user.unit_id, user.jurisdiction_ids = new_role.value, new_unit, new_scope
    if active is not None:
        user.active = active
    if before["role"] != user.role or before["active"] != user.active:
        user.password_changed_at = func.clock_timestamp()  # tokens of the old role or of the deactivated user end
    await session.flush()
    await session.refresh(user)
    after = {"role": user.role, "unit_id": user.unit_id, "active": user.active, "jurisdictions": user.jurisdiction_ids}
    return user, {k: [before[k], after[k]] for k in before if before[k] != after[k]}


async def reset_password(session: AsyncSession, *, user_id: int, password: str) -> AppUser:
    """A new password (an admin's reset): every token and sign-in of the old one ends."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"password must have at least {MIN_PASSWORD_LENGTH} characters", field="password")
    user = await get_user(session, user_id=user_id, for_update=True)
    user.password_hash = await hash_password_off_loop(password)
    user.password_changed_at = func.clock_timestamp()
    await session.flush()
    await session.refresh(user)
    return user


# ------------------------------------------------------------------------------------------ TOTP (core/totp.py)


async def offer_totp(session: AsyncSession, *, user: AppUser, key: str, issuer: str) -> tuple[str, str]:
    """A new secret for ``user`` to confirm with a code (``confirm_totp``): the secret and its otpauth:// URI, shown
    this once. Asking again replaces an offer not yet confirmed; TOTP already on is a Conflict (an admin resets it)."""
    if user.totp_secret is not None:
        raise Conflict("TOTP is already on for this user; an admin can reset it")
    secret = totp.new_secret()
    user.totp_pending = totp.seal(secret, key=key, username=user.username)
    await session.flush()
    return secret, totp.provisioning_uri(secret, username=user.username, issuer=issuer)


async def confirm_totp(session: AsyncSession, *, user: AppUser, code: str, key: str, now: datetime) -> bool:
    """Turn TOTP on with a code of the offered secret; False when the code does not match (nothing changes)."""
    if user.totp_secret is not None:
        raise Conflict("TOTP is already on for this user; an admin can reset it")
    if user.totp_pending is None:
        raise Conflict("no TOTP secret was offered to this user: ask for one first (POST /api/v1/auth/totp/enrol)")
    secret = totp.unseal(user.totp_pending, key=key, username=user.username)
    step = totp.matching_step(secret, code, now=now)
    if step is None:
        return False
    user.totp_secret, user.totp_pending = user.totp_pending, None
    user.totp_enabled_at, user.totp_last_step = now, step
    await session.flush()
    return True


async def use_totp_code(session: AsyncSession, *, user: AppUser, code: str, key: str, now: datetime) -> bool:
    """True when ``code`` is the user's for a time step near ``now`` that no earlier sign-in used; that step (and
    every one before it) is then spent. Two sign-ins racing with one code: the row lock lets one through."""
    if user.totp_secret is None:
        return False
    step = totp.matching_step(totp.unseal(user.totp_secret, key=key, username=user.username), code, now=now)
    if step is None:
        return False
    spent = await session.execute(
        update(AppUser)
        .where(
            AppUser.id == user.id,
            (AppUser.totp_last_step.is_(None)) | (AppUser.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .returning(AppUser.id)
        .execution_options(synchronize_session=False)
    )
    return spent.scalar_one_or_none() is not None


async def reset_totp(session: AsyncSession, *, user_id: int) -> tuple[AppUser, bool]:
    """An admin's reset (a lost phone): TOTP off, any offer withdrawn; the user enrols again. Their tokens and
    sign-ins end, as with a new password. The bool: whether TOTP was on."""
    user = await get_user(session, user_id=user_id, for_update=True)
    was_on = user.totp_secret is not None
    user.totp_secret = user.totp_pending = None
    user.totp_enabled_at = user.totp_last_step = None
    user.password_changed_at = func.clock_timestamp()
    await session.flush()
    await session.refresh(user)
    return user, was_on
