"""Contacts (people and agencies with their channels), their import from CSV, and who a message goes to: a plan's
notice by agency and role, a unit's members, the commanders on duty; and users' Web Push subscriptions."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid, NotFound
from core.users import AppUser, Role
from notify.models import Contact, PushSubscription
from notify.schemas import ContactIn, PushSubscriptionIn

CSV_COLUMNS = ("name", "agency", "unit_id", "roles", "email", "sms", "voice", "webhook", "push", "on_duty")
# Several values in one CSV cell (roles, or several numbers of one channel) are separated by these.
CSV_SEPARATORS = (";", "|")
MAX_CSV_ERRORS_SHOWN = 100


def new_contact(body: ContactIn, *, actor: str | None) -> Contact:
    return Contact(
        name=body.name.strip(),
        agency=body.agency.strip() if body.agency and body.agency.strip() else None,
        unit_id=body.unit_id,
        roles=sorted({r.strip() for r in body.roles if r.strip()}),
        channels=[{"type": c.type, "address": c.address} for c in body.channels],
        on_duty=body.on_duty,
        created_by=actor,
    )


# Which of some unit ids are no unit's: notify may not read gis's tables, so the caller (web, with gis's door) says.
UnitCheck = Callable[[Sequence[int]], Awaitable[set[int]]]


async def add_contact(
    session: AsyncSession, *, body: ContactIn, actor: str | None, missing_units: UnitCheck
) -> Contact:
    """A new contact; Invalid when its unit does not exist."""
    if body.unit_id is not None and await missing_units([body.unit_id]):
        raise Invalid(f"unit {body.unit_id} does not exist", field="unit_id")
    contact = new_contact(body, actor=actor)
    session.add(contact)
    await session.flush()
    return contact


async def list_contacts(
    session: AsyncSession, *, agency: str | None, unit_id: int | None, role: str | None, limit: int, offset: int
) -> tuple[list[Contact], int]:
    conditions = []
    if agency is not None:
        conditions.append(Contact.agency == agency)
    if unit_id is not None:
        conditions.append(Contact.unit_id == unit_id)
    if role is not None:
        conditions.append(Contact.roles.any_() == role)
    rows = await session.scalars(select(Contact).where(*conditions).order_by(Contact.id).limit(limit).offset(offset))
    total = await session.scalar(select(func.count()).select_from(Contact).where(*conditions))
    return list(rows), int(total or 0)


@dataclass(frozen=True)
class RowError:
    row: int  # the line of the file (the header is line 1)
    errors: list[str]

    def shown(self) -> dict[str, Any]:
        return {"row": self.row, "errors": self.errors}


def _split(cell: str | None) -> list[str]:
    if not cell:
        return []
    for sep in CSV_SEPARATORS[1:]:
        cell = cell.replace(sep, CSV_SEPARATORS[0])
    return [part.strip() for part in cell.split(CSV_SEPARATORS[0]) if part.strip()]


def _row_to_contact(row: dict[str, str | None]) -> ContactIn:
    channels = [
        {"type": kind, "address": address}
        for kind in ("email", "sms", "voice", "webhook", "push")
        for address in _split(row.get(kind))
    ]
    raw_unit = (row.get("unit_id") or "").strip()
    on_duty = (row.get("on_duty") or "").strip().lower()
    if on_duty not in ("", "true", "false", "yes", "no", "1", "0", "是", "否"):
        raise ValueError(f"on_duty must be true or false, not {on_duty!r}")
    return ContactIn.model_validate(
        {
            "name": (row.get("name") or "").strip(),
            "agency": (row.get("agency") or "").strip() or None,
            "unit_id": int(raw_unit) if raw_unit else None,
            "roles": _split(row.get("roles")),
            "channels": channels,
            "on_duty": on_duty not in ("false", "no", "0", "否"),
        }
    )


def _messages(exc: Exception) -> list[str]:
    if isinstance(exc, ValidationError):
        return [
            f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        ]
    return [str(exc)]


def parse_csv(content: bytes, *, max_rows: int) -> tuple[list[tuple[int, ContactIn]], list[RowError]]:
    """Every row of a contacts CSV (UTF-8, with or without BOM; columns ``CSV_COLUMNS``, only ``name`` and a
    channel required), as contacts or as the reasons it is refused."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid("the file is not UTF-8 text", field="file") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if "name" not in header:
        raise Invalid(
            f"the CSV needs a header row with 'name' and channel columns ({', '.join(CSV_COLUMNS)})", field="file"
        )
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        raise Invalid(f"unknown columns: {', '.join(unknown)} (known: {', '.join(CSV_COLUMNS)})", field="file")
    reader.fieldnames = header
    good: list[tuple[int, ContactIn]] = []
    bad: list[RowError] = []
    for index, row in enumerate(reader):
        line = index + 2
        if index >= max_rows:
            raise Invalid(f"the file has more than {max_rows} rows", field="file")
        if None in row:
            bad.append(RowError(line, ["more cells than columns"]))
            continue
        try:
            good.append((line, _row_to_contact(row)))
        except (ValidationError, ValueError) as exc:
            bad.append(RowError(line, _messages(exc)))
    return good, bad


async def import_csv(
    session: AsyncSession, *, content: bytes, actor: str | None, max_rows: int, missing_units: UnitCheck
) -> list[Contact]:
    """All the file's contacts, or none: any bad row (or a unit that does not exist) refuses the whole file with a
    report of every bad row and why."""
    good, bad = parse_csv(content, max_rows=max_rows)
    missing = await missing_units([c.unit_id for _, c in good if c.unit_id is not None])
    for line, contact in good:
        if contact.unit_id in missing:
            bad.append(RowError(line, [f"unit_id: unit {contact.unit_id} does not exist"]))
    if bad:
        bad.sort(key=lambda e: e.row)
        raise Invalid(
            f"{len(bad)} row(s) refused; nothing was imported",
            field="file",
            rows=[e.shown() for e in bad[:MAX_CSV_ERRORS_SHOWN]],
            refused=len(bad),
        )
    if not good:
        raise Invalid("the file has no contacts", field="file")
    contacts = [new_contact(body, actor=actor) for _, body in good]
    session.add_all(contacts)
    await session.flush()
    return contacts


# ----------------------------------------------------------------------------------------------- who is told


async def by_agency_and_role(session: AsyncSession, *, agencies: Sequence[str], role: str | None) -> list[Contact]:
    """Contacts of any of ``agencies`` (its Chinese or English name; none given: any agency) holding ``role``
    (None: any role)."""
    conditions: list[ColumnElement[bool]] = []
    names = [a for a in agencies if a]
    if names:
        conditions.append(Contact.agency.in_(names))
    if role is not None:
        conditions.append(Contact.roles.any_() == role)
    if not conditions:
        return []
    return list(await session.scalars(select(Contact).where(*conditions).order_by(Contact.id)))


async def members_of(session: AsyncSession, *, unit_id: int) -> list[Contact]:
    return list(await session.scalars(select(Contact).where(Contact.unit_id == unit_id).order_by(Contact.id)))


async def commanders_on_duty(session: AsyncSession) -> list[Contact]:
    return list(
        await session.scalars(
            select(Contact).where(Contact.on_duty, Contact.roles.any_() == "commander").order_by(Contact.id)
        )
    )


async def subscriptions_of(
    session: AsyncSession, *, usernames: Sequence[str] = (), unit_id: int | None = None
) -> list[tuple[PushSubscription, str]]:
    """The push subscriptions of the named users and of the field users bound to ``unit_id``, with the user name."""
    conditions: list[ColumnElement[bool]] = []
    if usernames:
        conditions.append(AppUser.username.in_(list(usernames)))
    if unit_id is not None:
        conditions.append((AppUser.unit_id == unit_id) & (AppUser.role == Role.field_unit.value))
    if not conditions:
        return []
    rows = await session.execute(
        select(PushSubscription, AppUser.username)
        .join(AppUser, AppUser.id == PushSubscription.user_id)
        .where(AppUser.active, or_(*conditions))
        .order_by(PushSubscription.id)
    )
    return [(row[0], row[1]) for row in rows]


# -------------------------------------------------------------------------------------------- push subscriptions


async def _user_id(session: AsyncSession, username: str) -> int:
    user_id = await session.scalar(select(AppUser.id).where(AppUser.username == username))
    if user_id is None:
        raise NotFound(f"user {username!r} does not exist")
    return int(user_id)


async def subscribe(session: AsyncSession, *, username: str, body: PushSubscriptionIn) -> PushSubscription:
    """Keep the user's subscription (the same endpoint again replaces its keys and owner: a browser re-subscribes
    after its keys rotate, and a shared phone is whoever signed in last)."""
    user_id = await _user_id(session, username)
    values = {"user_id": user_id, "endpoint": body.endpoint, "p256dh": body.keys.p256dh, "auth": body.keys.auth}
    stmt = insert(PushSubscription).values(**values)
    upsert = stmt.on_conflict_do_update(
        index_elements=["endpoint"], set_={k: stmt.excluded[k] for k in ("user_id", "p256dh", "auth")}
    ).returning(PushSubscription)
    return (await session.scalars(upsert, execution_options={"populate_existing": True})).one()


async def unsubscribe(session: AsyncSession, *, username: str, endpoint: str) -> int:
    """Forget the user's subscription at ``endpoint``; its id (for the audit row); NotFound when the user has none
    there."""
    user_id = await _user_id(session, username)
    gone = await session.scalar(
        delete(PushSubscription)
        .where(PushSubscription.user_id == user_id, PushSubscription.endpoint == endpoint)
        .returning(PushSubscription.id)
    )
    if gone is None:
        raise NotFound("no such push subscription")
    return int(gone)
