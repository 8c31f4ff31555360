"""``unit_fix``'s day partitions: made ahead of time, detached once older than the track keeps.

One partition per UTC day (``unit_fix_pYYYYMMDD``), so that a track read of the last hour touches one or two
small tables, and a day past the retention leaves in one cheap DETACH instead of a DELETE of millions of rows (the
detached table stays, for the operator to archive or drop). A fix whose day has no partition yet lands in the
default partition (never refused for want of one); when its day's partition is made, its rows move there first,
because PostgreSQL refuses to attach a range the default partition holds rows of.

DDL cannot bind parameters: the names and bounds below are formatted from ``date`` objects, never from input. Each
step waits at most ``LOCK_TIMEOUT`` for its locks (a DETACH needs the table to itself for an instant) and otherwise
fails, leaving the work to the next run; so the sweep never queues fix writers behind it.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

PARENT = "unit_fix"
DEFAULT = "unit_fix_default"
LOCK_TIMEOUT = "2s"
_DAY_NAME = re.compile(r"unit_fix_p(\d{8})")


def partition_name(day: date) -> str:
    return f"{PARENT}_p{day:%Y%m%d}"


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


async def day_partitions(session: AsyncSession) -> dict[date, str]:
    """The day partitions attached now, by day."""
    rows = await session.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:p AS regclass)"
        ),
        {"p": PARENT},
    )
    found = {}
    for (name,) in rows:
        if match := _DAY_NAME.fullmatch(name):
            found[datetime.strptime(match[1], "%Y%m%d").date()] = name
    return found


async def _make(session: AsyncSession, day: date) -> None:
    name, (start, end) = partition_name(day), _bounds(day)
    lo, hi = start.isoformat(), end.isoformat()
    await session.execute(text(f'CREATE TABLE "{name}" (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'))
    # The bound as a CHECK first: ATTACH then trusts it instead of scanning the table.
    await session.execute(
        text(f"ALTER TABLE \"{name}\" ADD CONSTRAINT \"{name}_bound\" CHECK (at >= '{lo}' AND at < '{hi}')")
    )
    await session.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE at >= :lo AND at < :hi RETURNING *) "
            f'INSERT INTO "{name}" SELECT * FROM moved'
        ),
        {"lo": start, "hi": end},
    )
    await session.execute(
        text(f"ALTER TABLE {PARENT} ATTACH PARTITION \"{name}\" FOR VALUES FROM ('{lo}') TO ('{hi}')")
    )
    await session.execute(text(f'ALTER TABLE "{name}" DROP CONSTRAINT "{name}_bound"'))


async def sweep(session: AsyncSession, *, today: date, days_ahead: int, keep_days: int) -> int:
    """Make the partitions of yesterday through ``days_ahead`` days from ``today`` that are missing, detach those
    wholly older than ``keep_days``, and drop fixes that old from the default partition. How many partitions it
    made or detached."""
    await session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    attached = await day_partitions(session)
    changed = 0
    for offset in range(-1, days_ahead + 1):
        day = today + timedelta(days=offset)
        if day not in attached:
            await _make(session, day)
            changed += 1
    oldest = today - timedelta(days=keep_days)
    for day, name in sorted(attached.items()):
        if day < oldest:
            await session.execute(text(f'ALTER TABLE {PARENT} DETACH PARTITION "{name}"'))
            changed += 1
    cutoff = datetime.combine(oldest, time(), tzinfo=UTC)
    await session.execute(text(f"DELETE FROM {DEFAULT} WHERE at < :cutoff"), {"cutoff": cutoff})
    return changed
