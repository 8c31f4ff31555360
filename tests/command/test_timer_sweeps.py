"""The timer sweeps as schedulers run them: each run a transaction of its own on a connection of its own, really
committed. Two schedulers at once act once (``SKIP LOCKED`` and the state on the dispatch row); a restart between
the re-alert and the escalation loses and repeats nothing; unit.overdue and unit.stale are raised once per episode."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from command import service as command
from command.deadlines import AckRules
from command.models import Dispatch
from core.clock import utcnow
from core.db import create_engine, create_sessionmaker
from core.events import Event
from core.geojson import Point
from core.settings import Settings
from core.users import Role
from gis import service as gis
from gis.schemas import ResourceIn, UnitStatus
from incidents import service as incidents
from incidents.schemas import IncidentIn
from tests.command.conftest import blocked_or_done

Sessions = async_sessionmaker[AsyncSession]
RULES = AckRules({"I": 30, "II": 60, "III": 90, "IV": 120}, escalate_after=timedelta(seconds=30))
COMMANDER = command.Caller(username="cmd.sweeps", role=Role.commander)
TIMERS = {"overdue_factor": 1.0, "overdue_margin": timedelta(seconds=60), "stale_after": timedelta(minutes=10)}


async def _dispatched(sessions: Sessions, n: int, *, now: datetime) -> list[Dispatch]:
    """``n`` units dispatched at ``now`` to one grade IV incident (deadline 120 s), committed."""
    async with sessions() as session:
        units = []
        for i in range(n):
            data = ResourceIn(type="ambulance", name=f"S{i}", location=Point.of(104.06 + i * 0.001, 30.67))
            units.append((await gis.create_resource(session, data=data)).id)
        report = IncidentIn(description="居民楼火灾，2人受伤", location=Point.of(104.0614, 30.6880))
        incident, _ = await incidents.create_incident(session, data=report, actor="duty.sweeps")
        dispatches = await command.dispatch_units(
            session, incident_id=incident.id, unit_ids=units, actor="cmd.sweeps", rules=RULES, now=now
        )
        await session.commit()
    return dispatches


async def _types(sessions: Sessions, prefix: str) -> list[str]:
    async with sessions() as session:
        stmt = select(Event.type).where(Event.type.startswith(prefix)).order_by(Event.id)
        return list(await session.scalars(stmt))


async def _ack_sweep(sessions: Sessions, at: datetime) -> int:
    async with sessions() as session, session.begin():
        return await command.sweep_ack_deadlines(session, now=at, rules=RULES)


async def test_two_schedulers_sweeping_at_once_act_once(committed: Sessions) -> None:
    now = utcnow()
    await _dispatched(committed, 5, now=now)
    late = now + timedelta(seconds=125)
    # One scheduler holds its rows (not yet committed) while the other sweeps: the other skips them.
    async with committed() as first, first.begin():
        assert await command.sweep_ack_deadlines(first, now=late, rules=RULES) == 5
        assert await _ack_sweep(committed, late) == 0
    assert await _ack_sweep(committed, late) == 0  # and once committed, there is nothing left to do
    # Truly at once, many times over: every step is taken once in all.
    later = now + timedelta(seconds=200)
    results = await asyncio.gather(*(_ack_sweep(committed, later) for _ in range(6)))
    assert sum(results) == 5
    assert (
        await _types(committed, "dispatch.")
        == ["dispatch.created"] * 5 + ["dispatch.warning"] * 5 + ["dispatch.escalated"] * 5
    )


async def test_a_restart_between_realert_and_escalation_loses_and_repeats_nothing(
    committed: Sessions, settings: Settings
) -> None:
    now = utcnow()
    [dispatch] = await _dispatched(committed, 1, now=now)
    due = dispatch.ack_due_at
    engine = create_engine(settings)  # the first scheduler process
    try:
        assert await _ack_sweep(create_sessionmaker(engine), due + timedelta(seconds=1)) == 1
    finally:
        await engine.dispose()  # it dies; its successor starts from the database alone
    engine = create_engine(settings)
    try:
        successor = create_sessionmaker(engine)
        assert await _ack_sweep(successor, due + timedelta(seconds=10)) == 0  # the re-alert is not sent again
        assert await _ack_sweep(successor, due + timedelta(seconds=31)) == 1  # the escalation comes on time
        assert await _ack_sweep(successor, due + timedelta(seconds=90)) == 0
    finally:
        await engine.dispose()
    assert await _types(committed, "dispatch.") == ["dispatch.created", "dispatch.warning", "dispatch.escalated"]


async def _timers(sessions: Sessions, at: datetime) -> int:
    async with sessions() as session, session.begin():
        return await command.sweep_unit_timers(session, now=at, **TIMERS)  # type: ignore[arg-type]


async def test_an_overdue_unit_is_raised_once(committed: Sessions) -> None:
    now = utcnow()
    [dispatch] = await _dispatched(committed, 1, now=now)
    assert dispatch.eta_s is not None and dispatch.eta_method == "straight_line"  # no road graph in this database
    async with committed() as session:
        await command.change_unit_status(
            session, unit_id=dispatch.unit_id, status=UnitStatus.en_route, caller=COMMANDER
        )
        await session.commit()
        set_off = await session.scalar(select(Dispatch.en_route_at).where(Dispatch.id == dispatch.id))
    assert set_off is not None
    allowed = timedelta(seconds=dispatch.eta_s) + TIMERS["overdue_margin"]  # type: ignore[operator]
    # All within the stale timer's ten minutes: only the overdue timer speaks.
    assert await _timers(committed, set_off + allowed - timedelta(seconds=1)) == 0
    results = await asyncio.gather(*(_timers(committed, set_off + allowed) for _ in range(3)))
    assert sum(results) == 1
    assert await _timers(committed, set_off + allowed + timedelta(minutes=1)) == 0
    assert await _types(committed, "unit.overdue") == ["unit.overdue"]
    async with committed() as session:
        [event] = await session.scalars(select(Event).where(Event.type == "unit.overdue"))
    assert event.unit_id == dispatch.unit_id and event.data["id"] == dispatch.unit_id
    assert event.data["dispatch_id"] == dispatch.id and event.data["incident_id"] == dispatch.incident_id


async def test_a_silent_unit_is_stale_once_per_episode(committed: Sessions) -> None:
    now = utcnow()
    [dispatch] = await _dispatched(committed, 1, now=now)
    # No fix since the dispatch: stale ten minutes after it, once however often the sweep looks.
    assert await _timers(committed, now + timedelta(minutes=9)) == 0
    assert await _timers(committed, now + timedelta(minutes=10)) == 1
    assert await _timers(committed, now + timedelta(minutes=30)) == 0
    # A fix ends the episode; silent again for ten minutes, it is stale again.
    fix_at = utcnow()
    async with committed() as session:
        await command.report_location(
            session, unit_id=dispatch.unit_id, lon=104.061, lat=30.671, at=fix_at, caller=COMMANDER, keep_days=90
        )
        await session.commit()
    assert await _timers(committed, fix_at + timedelta(minutes=5)) == 0
    assert await _timers(committed, fix_at + timedelta(minutes=10, seconds=1)) == 1
    assert await _timers(committed, fix_at + timedelta(minutes=11)) == 0
    async with committed() as session:
        stale = list(await session.scalars(select(Event).where(Event.type == "unit.stale").order_by(Event.id)))
    assert [e.data["last_fix_at"] for e in stale] == [None, fix_at.isoformat()]


async def test_a_status_report_and_the_realert_sweep_on_one_dispatch_never_deadlock(committed: Sessions) -> None:
    """The soak's deadlock: a crew reports its status (the unit's row locked, then its open dispatch) while the
    re-alert sweep holds that dispatch and writes what its re-alert made (deliveries, the timeline, events). Were
    the unit's row locked ``FOR UPDATE``, any row the sweep writes that refers to the unit would wait for the crew's
    transaction while the crew waits for the dispatch. The unit's lock is ``FOR NO KEY UPDATE``: both commit."""
    t0 = utcnow() - timedelta(minutes=5)
    [dispatch] = await _dispatched(committed, 1, now=t0)
    async with committed() as crew, committed() as sweep:
        await gis.get_resource(crew, resource_id=dispatch.unit_id, for_update=True)
        pid = int(await sweep.scalar(text("SELECT pg_backend_pid()")) or 0)

        async def realert() -> int:
            taken = await command.sweep_ack_deadlines(sweep, now=utcnow(), rules=RULES)
            await sweep.commit()
            return taken

        sweeping = asyncio.create_task(realert())
        await blocked_or_done(committed, pid, sweeping, what="the re-alert sweep", must_wait=False)
        await command.change_unit_status(crew, unit_id=dispatch.unit_id, status=UnitStatus.en_route, caller=COMMANDER)
        await crew.commit()
        assert await asyncio.wait_for(sweeping, 30) >= 1
    async with committed() as session:
        row = await session.get(Dispatch, dispatch.id)
        assert row is not None and row.status == "en_route" and row.warned_at is not None
