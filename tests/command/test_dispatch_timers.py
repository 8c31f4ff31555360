"""The acknowledgement timers: an unacknowledged dispatch is warned about, then escalated, each once, by the sweep
the scheduler runs (command.service.sweep_dispatch_timers)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command import intake
from command import service as command
from command.schemas import Situation
from command.situation import situation
from core.clock import utcnow
from core.events import Event
from core.geojson import Point
from gis import service as gis
from gis.schemas import ResourceIn
from incidents.schemas import IncidentIn


def _counters(picture: Situation) -> tuple[int, int, int]:
    """The situation's counters this test moves: escalated dispatches, dispatched ambulances, open incidents."""
    ambulances = picture.units.by_type.get("ambulance", {})
    return picture.escalated_dispatches, ambulances.get("dispatched", 0), picture.incidents.open


async def test_unacknowledged_dispatch_warns_then_escalates_once(session: AsyncSession) -> None:
    # The picture counts the whole database: compare with what it said before this test's own rows.
    before = _counters(await situation(session))
    data = ResourceIn(type="ambulance", name="Slow", location=Point.of(104.06, 30.67))
    unit = (await gis.create_resource(session, data=data)).id
    report = IncidentIn(description="居民楼火灾，2人受伤", location=Point.of(104.0614, 30.6880))
    incident, _ = await intake.log_report(session, data=report, actor="officer.test")
    [dispatch] = await command.dispatch_units(session, incident_id=incident.id, unit_ids=[unit], actor="cmd.zhou")
    await session.commit()
    rules = {"warn_after": timedelta(seconds=90), "escalate_after": timedelta(seconds=180)}
    now = utcnow()

    async def sweep(seconds: int) -> int:
        handled = await command.sweep_dispatch_timers(session, now=now + timedelta(seconds=seconds), **rules)
        await session.commit()  # each run is a unit of work of its own, as the scheduler runs it
        return handled

    assert [await sweep(s) for s in (30, 100, 110, 200, 400)] == [0, 1, 0, 1, 0]
    types = list(
        await session.scalars(
            select(Event.type).where(Event.type.like("dispatch.%"), Event.incident_id == incident.id).order_by(Event.id)
        )
    )
    assert types == ["dispatch.created", "dispatch.warning", "dispatch.escalated"]
    got = await command.get_dispatch(session, dispatch_id=dispatch.id)
    await session.refresh(got)
    assert got.warned_at and got.escalated_at
    after = _counters(await situation(session))
    # One more escalated dispatch, one more ambulance out, one more open incident: exactly this test's.
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1]
