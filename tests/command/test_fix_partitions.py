"""unit_fix's day partitions, with a clock the test controls: made ahead by the sweep, a fix with no partition kept
in the default one and moved when its day's partition is made, old days detached (and kept as tables), and a
track read touching only the partitions of its window."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from command import fix_partitions, repository
from command import service as command
from core.clock import utcnow
from core.geojson import Point
from gis import service as gis
from gis.schemas import ResourceIn

DAY = date(2031, 3, 10)  # far from today, so the days this test makes are its own


def _at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def _where(session: AsyncSession, unit: int) -> list[tuple[str, datetime]]:
    rows = await session.execute(
        text("SELECT tableoid::regclass::text, at FROM unit_fix WHERE unit_id = :u ORDER BY at"), {"u": unit}
    )
    return [(name, at) for name, at in rows]


async def _unit(session: AsyncSession) -> int:
    data = ResourceIn(type="ambulance", name="Partitioned", location=Point.of(104.06, 30.67))
    return (await gis.create_resource(session, data=data)).id


def _fix(unit: int, at: datetime) -> tuple[object, ...]:
    return (unit, at, 104.06, 30.67, None, None, None, None, True)


async def test_partitions_are_made_ahead_and_rows_move_out_of_the_default(session: AsyncSession) -> None:
    unit = await _unit(session)
    far = DAY + timedelta(days=12)
    await repository.insert_fixes(session, rows=[_fix(unit, _at(far))])  # no partition for that day yet
    assert await _where(session, unit) == [("unit_fix_default", _at(far))]

    made = await command.sweep_fix_partitions(session, now=_at(DAY), days_ahead=3, keep_days=30)
    days = await fix_partitions.day_partitions(session)
    assert {DAY + timedelta(days=d) for d in range(-1, 4)} <= set(days) and made >= 5
    assert far not in days
    await repository.insert_fixes(session, rows=[_fix(unit, _at(DAY + timedelta(days=1), 3))])
    assert ("unit_fix_p20310311", _at(DAY + timedelta(days=1), 3)) in await _where(session, unit)

    # Ten days on, the far fix's day is within reach: its partition is made and the row moves into it.
    await command.sweep_fix_partitions(session, now=_at(far - timedelta(days=2)), days_ahead=3, keep_days=30)
    assert (f"unit_fix_p{far:%Y%m%d}", _at(far)) in await _where(session, unit)
    again = await command.sweep_fix_partitions(session, now=_at(far - timedelta(days=2)), days_ahead=3, keep_days=30)
    assert again == 0  # nothing left to do: the sweep is idempotent


async def test_old_days_are_detached_and_kept(session: AsyncSession) -> None:
    unit = await _unit(session)
    await command.sweep_fix_partitions(session, now=_at(DAY), days_ahead=2, keep_days=30)
    await repository.insert_fixes(session, rows=[_fix(unit, _at(DAY))])
    later = DAY + timedelta(days=40)
    await command.sweep_fix_partitions(session, now=_at(later), days_ahead=2, keep_days=30)
    days = await fix_partitions.day_partitions(session)
    assert DAY not in days and later in days and DAY + timedelta(days=12) not in days
    assert await _where(session, unit) == []  # gone from the track...
    kept = await session.scalar(text(f"SELECT count(*) FROM unit_fix_p{DAY:%Y%m%d} WHERE unit_id = :u"), {"u": unit})
    assert kept == 1  # ...but kept in the detached table, for the operator to archive


async def test_a_track_read_touches_only_its_days(session: AsyncSession) -> None:
    unit = await _unit(session)
    await command.sweep_fix_partitions(session, now=utcnow(), days_ahead=2, keep_days=30)
    now = utcnow()
    stmt = text(
        "EXPLAIN (FORMAT JSON) SELECT * FROM unit_fix WHERE unit_id = :u AND at >= :since AND at <= :until "
        "ORDER BY at DESC LIMIT 100"
    )
    plan = await session.scalar(stmt, {"u": unit, "since": now - timedelta(hours=1), "until": now})
    tables = set()

    def walk(node: dict[str, object]) -> None:
        if "Relation Name" in node:
            tables.add(node["Relation Name"])
        for child in node.get("Plans", []):  # type: ignore[attr-defined]
            walk(child)

    walk((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"])
    today = f"unit_fix_p{now:%Y%m%d}"
    assert today in tables and len(tables) <= 2, tables  # today's (and yesterday's, just after midnight)
    assert "unit_fix_default" not in tables
