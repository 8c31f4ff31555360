"""Location fixes in: one from a phone or up to 1,000 from a vehicle tracking gateway, checked one by one, stored
and applied set-wise.

Each fix is judged on its own (one bad fix never refuses the others): its shape, its time, whether the caller may
report for that unit, whether it is a unit. Accepted fixes are all kept for the track; a fix moves its unit only when
it is plausible (no impossible speed since the unit's last trusted fix) and not older than the unit's newest. The
work is a fixed number of statements whatever the batch size: one read that locks the units (in id order), one
multi-row insert of the fixes, one UPDATE of the units that move, and one event per moved unit (written by the
unit of work, last) — at most one per unit per ``location_stream_seconds``: a unit that moves again within its
interval gets no event then, and ``send_positions`` (a sweep) writes its newest position once the interval is over,
so the command room never drowns and never keeps a stale position last. No audit row per fix: fixes are their own
record (web audits location traffic per burst).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from command import repository as repo
from command.visibility import Caller
from core.clock import ObservedAt
from core.events import queue_event
from core.users import Role
from gis import service as gis
from gis.schemas import ResourceOut

MAX_BATCH = 1000
FUTURE_LEEWAY = timedelta(minutes=2)  # device clocks run a little fast
MAX_SPEED_KMH = {"helicopter": 400.0}
DEFAULT_MAX_SPEED_KMH = 200.0
MAX_REPORTED_SPEED_MS = 200.0
MAX_ACCURACY_M = 100_000.0

_at = TypeAdapter(ObservedAt)


class Refusal(StrEnum):
    """Why a fix was refused."""

    invalid = "invalid"  # not a fix: a field missing, of the wrong type, NaN or out of range
    future = "future"  # observed later than now (beyond a small leeway)
    too_old = "too_old"  # older than the track keeps
    not_permitted = "not_permitted"  # the caller may not report for that unit (or it does not exist, to them)
    unknown_unit = "unknown_unit"
    not_a_unit = "not_a_unit"  # a facility: it has no live position


@dataclass(frozen=True, slots=True)
class Fix:
    """A fix whose shape and time passed."""

    index: int
    unit_id: int
    lon: float
    lat: float
    at: datetime
    speed_ms: float | None = None
    heading_deg: float | None = None
    accuracy_m: float | None = None


@dataclass(slots=True)
class Outcome:
    """What became of one fix of the request, in the order sent."""

    index: int
    unit_id: int | None
    accepted: bool
    reason: Refusal | None = None
    detail: str | None = None
    trusted: bool | None = None
    moved: bool | None = None
    speed_kmh: float | None = None
    at: datetime | None = None  # when observed (now, when the fix did not say)


@dataclass
class Ingested:
    """The outcomes in the order sent, every touched unit's row as it now stands (``ResourceOut.listed`` rows), and
    the id of each stored fix, by the index of the fix."""

    outcomes: list[Outcome]
    units: dict[int, dict[str, Any]] = field(default_factory=dict)
    fix_ids: dict[int, int] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return sum(o.accepted for o in self.outcomes)


class _Refused(Exception):
    def __init__(self, reason: Refusal, detail: str) -> None:
        self.reason, self.detail = reason, detail


def _number(raw: dict[str, Any], name: str, *, low: float, high: float, required: bool = False) -> float | None:
    value = raw.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Refused(Refusal.invalid, f"{name} must be a number")
    if not math.isfinite(value) or not low <= value <= high:
        raise _Refused(Refusal.invalid, f"{name} must be a finite number from {low:g} to {high:g}")
    return float(value)


def _position(raw: Any) -> tuple[float, float]:
    if not isinstance(raw, dict) or raw.get("type") != "Point":
        raise _Refused(Refusal.invalid, 'location must be a GeoJSON Point {"type": "Point", "coordinates": [lon, lat]}')
    coordinates = raw.get("coordinates")
    if not isinstance(coordinates, list) or len(coordinates) not in (2, 3):
        raise _Refused(Refusal.invalid, "location.coordinates must be [lon, lat]")
    values = dict(zip(("lon", "lat"), coordinates[:2], strict=True))
    lon = _number(values, "lon", low=-180, high=180, required=True)
    lat = _number(values, "lat", low=-90, high=90, required=True)
    assert lon is not None and lat is not None
    return lon, lat


def _time(raw: Any, *, now: datetime, oldest: datetime) -> datetime:
    if raw is None:
        return now
    try:
        at: datetime = _at.validate_python(raw)
    except ValidationError as exc:
        raise _Refused(Refusal.invalid, f"at {exc.errors()[0]['msg'].lower()}") from None
    if at > now + FUTURE_LEEWAY:
        raise _Refused(Refusal.future, f"at {at.isoformat()} is in the future")
    if at < oldest:
        raise _Refused(Refusal.too_old, f"at is older than the track keeps ({oldest:%Y-%m-%d})")
    return at


def check(index: int, raw: Any, *, now: datetime, oldest: datetime) -> Fix | Outcome:
    """One fix as sent: a ``Fix`` when its shape and time pass, else its refusal. ``at`` missing means now."""
    unit_id = raw.get("unit_id") if isinstance(raw, dict) else None
    if isinstance(unit_id, bool) or not isinstance(unit_id, int) or not 0 < unit_id < 2**63:
        detail = "a fix is an object" if not isinstance(raw, dict) else "unit_id must be a positive integer"
        return Outcome(index, None, False, Refusal.invalid, detail)
    assert isinstance(raw, dict)
    try:
        lon, lat = _position(raw.get("location"))
        at = _time(raw.get("at"), now=now, oldest=oldest)
        speed = _number(raw, "speed", low=0, high=MAX_REPORTED_SPEED_MS)
        heading = _number(raw, "heading", low=0, high=360)
        accuracy = _number(raw, "accuracy", low=0, high=MAX_ACCURACY_M)
    except _Refused as refused:
        return Outcome(index, unit_id, False, refused.reason, refused.detail)
    return Fix(index, unit_id, lon, lat, at, speed, heading, accuracy)


async def _permitted(session: AsyncSession, caller: Caller, unit_ids: set[int]) -> set[int]:
    if caller.role in (Role.admin, Role.commander):
        return unit_ids
    if caller.role is Role.field_unit:
        return unit_ids & ({caller.unit_id} if caller.unit_id is not None else set())
    if caller.role is Role.gateway:
        return await repo.gateway_units(session, username=caller.username, unit_ids=unit_ids)
    return set()


def _implied_kmh(last: dict[str, Any], fix: Fix) -> float | None:
    """Speed implied by travelling from the unit's last trusted position to this fix; None without one."""
    if last["last_fix_at"] is None or fix.at <= last["last_fix_at"]:
        return None
    metres = gis.straight_metres((last["lon"], last["lat"]), (fix.lon, fix.lat))
    hours = (fix.at - last["last_fix_at"]).total_seconds() / 3600
    return float(metres / 1000 / hours)


def _judge(fixes: Sequence[Fix], unit: dict[str, Any], outcomes: dict[int, Outcome]) -> gis.Move | None:
    """A unit's fixes in the order observed: each trusted or not, and the move (if any) its newest trusted fix
    makes (only that fix says ``moved``). An out-of-order fix (older than the unit's newest) is kept for the track
    but moves nothing; an implausible one neither moves the unit nor becomes the base of the next speed."""
    last = {"lon": unit["lon"], "lat": unit["lat"], "last_fix_at": unit["last_fix_at"]}
    limit = MAX_SPEED_KMH.get(unit["type"], DEFAULT_MAX_SPEED_KMH)
    newest: Fix | None = None
    for fix in sorted(fixes, key=lambda f: (f.at, f.index)):
        speed = _implied_kmh(last, fix)
        trusted = speed is None or speed <= limit
        outcomes[fix.index] = Outcome(
            fix.index, fix.unit_id, True, trusted=trusted, moved=False, speed_kmh=speed, at=fix.at
        )
        if trusted and (last["last_fix_at"] is None or fix.at >= last["last_fix_at"]):
            last = {"lon": fix.lon, "lat": fix.lat, "last_fix_at": fix.at}
            newest = fix
    if newest is None:
        return None
    outcomes[newest.index].moved = True
    return gis.Move(newest.unit_id, newest.lon, newest.lat, newest.at)


async def ingest(
    session: AsyncSession,
    *,
    raw_fixes: Sequence[Any],
    caller: Caller,
    now: datetime,
    keep_days: int,
    stream_s: float = 0.0,
) -> Ingested:
    """Check, store and apply one caller's fixes (see the module's docstring); the outcome of each, in the order
    sent."""
    return await ingest_many(
        session, sent=[(raw, caller) for raw in raw_fixes], now=now, keep_days=keep_days, stream_s=stream_s
    )


async def ingest_many(
    session: AsyncSession,
    *,
    sent: Sequence[tuple[Any, Caller]],
    now: datetime,
    keep_days: int,
    stream_s: float = 0.0,
) -> Ingested:
    """``ingest`` for fixes each sent by its own caller (single fixes from many phones, committed together by
    command/fix_batcher.py): each caller's permission is asked once for its fixes, the rest is the same few
    statements whatever the number of callers. The id of every stored fix is in ``fix_ids``, by its index."""
    oldest = now - timedelta(days=keep_days)
    checked = [check(i, raw, now=now, oldest=oldest) for i, (raw, _) in enumerate(sent)]
    outcomes = {c.index: c for c in checked if isinstance(c, Outcome)}
    fixes = [c for c in checked if isinstance(c, Fix)]
    wanted: dict[Caller, set[int]] = defaultdict(set)
    for fix in fixes:
        wanted[sent[fix.index][1]].add(fix.unit_id)
    permitted = {who: await _permitted(session, who, unit_ids) for who, unit_ids in wanted.items()}
    every_permitted = sorted(set().union(*permitted.values())) if permitted else []
    units = await gis.unit_rows(session, unit_ids=every_permitted, lock=True) if every_permitted else {}
    by_unit: dict[int, list[Fix]] = defaultdict(list)
    for fix in fixes:
        who = sent[fix.index][1]
        unit = units.get(fix.unit_id)
        if fix.unit_id not in permitted[who] or (unit is None and who.role not in (Role.admin, Role.commander)):
            outcomes[fix.index] = Outcome(fix.index, fix.unit_id, False, Refusal.not_permitted, "not your unit")
        elif unit is None:
            outcomes[fix.index] = Outcome(fix.index, fix.unit_id, False, Refusal.unknown_unit, "no such unit")
        elif unit["status"] is None:
            detail = f"resource {fix.unit_id} is a {unit['type']}, not a unit"
            outcomes[fix.index] = Outcome(fix.index, fix.unit_id, False, Refusal.not_a_unit, detail)
        else:
            by_unit[fix.unit_id].append(fix)
    moves = [m for unit_id, group in by_unit.items() if (m := _judge(group, units[unit_id], outcomes))]
    kept = [f for group in by_unit.values() for f in group]
    rows = [
        (f.unit_id, f.at, f.lon, f.lat, outcomes[f.index].speed_kmh, f.speed_ms, f.heading_deg, f.accuracy_m,
         outcomes[f.index].trusted)
        for f in kept
    ]  # fmt: skip
    stored = await repo.insert_fixes(session, rows=rows)
    moved = await gis.move_units(session, moves=moves, now=now, interval=timedelta(seconds=stream_s))
    for row in moved:
        units[row["id"]] = row
        if row.pop("evented"):  # else within its unit's stream interval: the positions sweep sends the newest later
            queue_position(session, row)
    for fix in kept:
        if not outcomes[fix.index].trusted:
            _suspect(session, fix, outcomes[fix.index], actor=sent[fix.index][1].username)
    result = Ingested([outcomes[i] for i in range(len(sent))], units)
    # The insert's ids come back in no promised order: each is matched to its fix by (unit, time observed).
    ids_of: dict[tuple[int, datetime], list[int]] = defaultdict(list)
    for fix_id, unit_id, at in stored:
        ids_of[(unit_id, at)].append(fix_id)
    result.fix_ids = {f.index: ids_of[(f.unit_id, f.at)].pop() for f in kept}
    return result


def queue_position(session: AsyncSession, row: dict[str, Any]) -> None:
    """Queue the ``unit.location`` event of a unit (a ``ResourceOut.listed`` row)."""
    data = ResourceOut.listed(row).model_dump(mode="json", exclude={"distance_m"})
    queue_event(session, type="unit.location", data=data, unit_id=row["id"])


async def send_positions(session: AsyncSession, *, now: datetime, stream_s: float) -> int:
    """The trailing edge of the stream's coalescing: a ``unit.location`` event for every unit that moved within
    its last interval and has been quiet since; how many."""
    rows = await gis.unsent_positions(session, now=now, interval=timedelta(seconds=stream_s))
    for row in rows:
        queue_position(session, row)
    return len(rows)


def _suspect(session: AsyncSession, fix: Fix, outcome: Outcome, *, actor: str) -> None:
    queue_event(
        session,
        type="unit.location_suspect",
        data={
            "id": fix.unit_id,
            "at": fix.at.isoformat(),
            "speed_kmh": round(outcome.speed_kmh or 0, 1),
            "location": {"type": "Point", "coordinates": [fix.lon, fix.lat]},
        },
        unit_id=fix.unit_id,
        actor=actor,
    )
