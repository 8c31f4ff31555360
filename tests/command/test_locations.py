"""command.locations with a clock the test controls: the checks of one fix, and the coalescing of unit.location
events (the first move of an interval at once, the newest of the rest when the interval is over, never a stale one
last)."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command import locations
from command.visibility import Caller
from core.clock import utcnow
from core.events import Event
from core.geojson import Point
from core.users import Role
from gis import service as gis
from gis.schemas import ResourceIn

COMMANDER = Caller(username="cmd.clock", role=Role.commander)
NOW = utcnow()
OLDEST = NOW - timedelta(days=90)


def _raw(unit: int, lon: float, lat: float, seconds: float) -> dict[str, object]:
    at = NOW + timedelta(seconds=seconds)
    return {"unit_id": unit, "location": {"type": "Point", "coordinates": [lon, lat]}, "at": at.isoformat()}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"unit_id": True, "location": {"type": "Point", "coordinates": [104, 30]}}, "invalid"),
        ({"unit_id": 0, "location": {"type": "Point", "coordinates": [104, 30]}}, "invalid"),
        ({"unit_id": 2**63, "location": {"type": "Point", "coordinates": [104, 30]}}, "invalid"),
        ({"unit_id": 1, "location": {"type": "Point", "coordinates": [math.nan, 30]}}, "invalid"),
        ({"unit_id": 1, "location": {"type": "Point", "coordinates": [104, math.inf]}}, "invalid"),
        ({"unit_id": 1, "location": {"type": "Point", "coordinates": [104, 91]}}, "invalid"),
        ({"unit_id": 1, "location": {"type": "Point", "coordinates": [104]}}, "invalid"),
        ({"unit_id": 1, "location": {"type": "LineString", "coordinates": [[104, 30], [105, 30]]}}, "invalid"),
        ({"unit_id": 1, "location": {"type": "Point", "coordinates": [104, 30]}, "at": "yesterday"}, "invalid"),
        (
            {"unit_id": 1, "location": {"type": "Point", "coordinates": [104, 30]}, "at": "2026-01-01T00:00:00"},
            "invalid",
        ),
        ({"unit_id": 1, "location": {"type": "Point", "coordinates": [104, 30]}, "speed": "fast"}, "invalid"),
        ({"unit_id": 1, "location": {"type": "Point", "coordinates": [104, 30]}, "accuracy": -3}, "invalid"),
        (_raw(1, 104, 30, 600), "future"),
        (_raw(1, 104, 30, -91 * 86400), "too_old"),
    ],
)
def test_a_fix_that_does_not_pass_says_why(raw: dict[str, object], reason: str) -> None:
    outcome = locations.check(0, raw, now=NOW, oldest=OLDEST)
    assert isinstance(outcome, locations.Outcome) and outcome.reason == reason and outcome.detail


def test_a_fix_that_passes() -> None:
    raw = _raw(7, 104.06, 30.67, -5) | {"speed": 0, "heading": 359.5, "accuracy": 4}
    fix = locations.check(3, raw, now=NOW, oldest=OLDEST)
    assert fix == locations.Fix(3, 7, 104.06, 30.67, NOW - timedelta(seconds=5), 0.0, 359.5, 4.0)
    altitude = locations.check(
        0, {"unit_id": 7, "location": {"type": "Point", "coordinates": [104, 30, 500]}}, now=NOW, oldest=OLDEST
    )
    assert isinstance(altitude, locations.Fix) and altitude.at == NOW  # no at: observed now


async def _positions(session: AsyncSession, unit: int) -> list[list[float]]:
    rows = await session.scalars(
        select(Event).where(Event.unit_id == unit, Event.type == "unit.location").order_by(Event.id)
    )
    return [e.data["location"]["coordinates"] for e in rows]


async def test_unit_location_events_are_coalesced_and_the_newest_comes_last(session: AsyncSession) -> None:
    data = ResourceIn(type="ambulance", name="Chatty", location=Point.of(104.06, 30.67))
    unit = (await gis.create_resource(session, data=data)).id

    async def report(seconds: float, lon: float) -> None:
        now = NOW + timedelta(seconds=seconds)
        raw = [_raw(unit, lon, 30.67, seconds)]
        result = await locations.ingest(session, raw_fixes=raw, caller=COMMANDER, now=now, keep_days=90, stream_s=1.0)
        assert result.outcomes[0].moved
        await session.commit()  # each fix its own unit of work, as over HTTP

    async def sweep(seconds: float) -> int:
        sent = await locations.send_positions(session, now=NOW + timedelta(seconds=seconds), stream_s=1.0)
        await session.commit()
        return sent

    await report(0.0, 104.0600)
    assert await _positions(session, unit) == [[104.06, 30.67]]  # the first move of an interval goes at once
    await report(0.3, 104.0601)
    await report(0.6, 104.0602)
    assert await _positions(session, unit) == [[104.06, 30.67]]  # within the interval: moved, no event yet
    assert await sweep(0.8) == 0  # the interval is not over
    assert await sweep(1.1) == 1
    assert await _positions(session, unit) == [[104.06, 30.67], [104.0602, 30.67]]  # the newest, not 0.3's
    assert await sweep(2.5) == 0  # nothing new since
    await report(3.0, 104.0603)  # quiet for over an interval: at once again
    assert (await _positions(session, unit))[-1] == [104.0603, 30.67]
    await report(3.2, 104.0604)
    assert await sweep(4.5) == 1
    unit_now = await gis.get_resource(session, resource_id=unit)
    await session.refresh(unit_now)
    assert (await _positions(session, unit))[-1] == [104.0604, 30.67]  # the last event is where the unit is
    assert unit_now.last_fix_at == NOW + timedelta(seconds=3.2)


async def test_with_no_interval_every_move_is_an_event(session: AsyncSession) -> None:
    data = ResourceIn(type="ambulance", name="Every", location=Point.of(104.06, 30.67))
    unit = (await gis.create_resource(session, data=data)).id
    for i in range(3):
        raw = [_raw(unit, 104.06 + i / 100_000, 30.67, i * 0.1)]  # a metre in 0.1 s: plausible
        now = NOW + timedelta(seconds=i * 0.1)
        await locations.ingest(session, raw_fixes=raw, caller=COMMANDER, now=now, keep_days=90, stream_s=0.0)
    await session.commit()  # queued events are written by the commit
    assert len(await _positions(session, unit)) == 3
