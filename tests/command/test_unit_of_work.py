"""The unit of work writes its events last, so dispatches, status reports, location fixes and acknowledgements never
deadlock however they interleave; no committed change loses its event; event ids follow commit order.

Every session here is a connection of its own that really commits, as requests and sweeps do: inside the one
rolled-back test transaction two units of work could never wait on each other.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from command import service as command
from command.models import Dispatch
from core.clock import utcnow
from core.errors import CommandpostError, NotFound
from core.events import Event, take_pending_event_ids
from core.geojson import Point
from core.users import Role
from gis import service as gis
from gis.schemas import ResourceIn
from incidents import service as incidents
from incidents.schemas import IncidentIn
from tests.command.conftest import blocked_or_done

Sessions = async_sessionmaker[AsyncSession]
COMMANDER = command.Caller(username="cmd.uow", role=Role.commander)


async def _setup(sessions: Sessions, *, units: int, incidents_: int) -> tuple[list[int], list[int]]:
    async with sessions() as session:
        unit_ids = []
        for i in range(units):
            data = ResourceIn(type="ambulance", name=f"U{i}", location=Point.of(104.06 + i * 0.001, 30.67))
            unit_ids.append((await gis.create_resource(session, data=data)).id)
        incident_ids = []
        for i in range(incidents_):
            report = IncidentIn(description=f"居民楼火灾{i}号，2人受伤", location=Point.of(104.0614, 30.60 + 0.02 * i))
            incident_ids.append((await incidents.create_incident(session, data=report, actor="duty.uow"))[0].id)
        await session.commit()
    return unit_ids, incident_ids


async def _newest_event_id(sessions: Sessions) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.coalesce(func.max(Event.id), 0))) or 0)


async def _events_after(sessions: Sessions, after: int) -> list[Event]:
    async with sessions() as session:
        return list(await session.scalars(select(Event).where(Event.id > after).order_by(Event.id)))


async def _committed(session: AsyncSession, work: Awaitable[Any]) -> list[int]:
    """Run the service call, commit, and return the ids of the events that commit wrote."""
    await work
    await session.commit()
    return take_pending_event_ids(session)


async def test_a_status_report_on_the_unit_a_dispatch_waits_for(committed: Sessions) -> None:
    """Issue 15's deadlock: B locks a unit, A starts dispatching it (and waits for the row), B reports the unit's
    status and commits. When A took the event lock early (writing ``incident.updated`` first), B's event waited
    for A while A waited for B's row: "deadlock detected". Now both commit, B first, and every event is there."""
    [unit], [incident] = await _setup(committed, units=1, incidents_=1)
    start = await _newest_event_id(committed)
    async with committed() as b, committed() as a:
        await gis.get_resource(b, resource_id=unit, for_update=True)
        pid = int(await a.scalar(text("SELECT pg_backend_pid()")) or 0)
        dispatching = asyncio.create_task(
            _committed(a, command.dispatch_units(a, incident_id=incident, unit_ids=[unit], actor="cmd.uow"))
        )
        await blocked_or_done(committed, pid, dispatching, what="the dispatch waiting for the unit", must_wait=True)
        await gis.set_unit_status(b, unit_id=unit, status="available")
        b_ids = await _committed(b, asyncio.sleep(0))
        a_ids = await asyncio.wait_for(dispatching, 30)

    events = {e.id: e for e in await _events_after(committed, start)}
    assert sorted(events) == sorted(b_ids + a_ids), "an event was lost, or one was written that did not commit"
    assert [events[i].type for i in b_ids] == ["unit.status"]
    assert Counter(events[i].type for i in a_ids) == Counter(["incident.updated", "unit.status", "dispatch.created"])
    assert max(b_ids) < min(a_ids), "B committed first, so its event id comes first"
    newest = max((e for e in events.values() if e.type == "unit.status"), key=lambda e: e.id)
    assert newest.data["status"] == "dispatched"


async def test_a_status_report_on_the_timeline_of_the_incident_a_dispatch_holds(committed: Sessions) -> None:
    """The mirror: unit U is already out on incident X. B locks U; A dispatches U to X again (it locks X, then waits
    for U); B reports U en route, which writes on X's timeline. Holding X ``FOR UPDATE`` would make that timeline
    row (its foreign key takes a key-share lock on X) wait for A while A waits for B. A incident's lock is ``FOR NO
    KEY UPDATE``: B commits, A then finds U busy (409), and nothing half-done is left behind."""
    [unit], [incident] = await _setup(committed, units=1, incidents_=1)
    async with committed() as session:
        await command.dispatch_units(session, incident_id=incident, unit_ids=[unit], actor="cmd.uow")
        await session.commit()
    start = await _newest_event_id(committed)
    async with committed() as b, committed() as a:
        await gis.get_resource(b, resource_id=unit, for_update=True)
        pid = int(await a.scalar(text("SELECT pg_backend_pid()")) or 0)
        dispatching = asyncio.create_task(
            _committed(a, command.dispatch_units(a, incident_id=incident, unit_ids=[unit], actor="cmd.uow"))
        )
        await blocked_or_done(committed, pid, dispatching, what="the second dispatch", must_wait=True)
        await command.change_unit_status(b, unit_id=unit, status=command.UnitStatus.en_route, caller=COMMANDER)
        b_ids = await _committed(b, asyncio.sleep(0))
        try:
            await asyncio.wait_for(dispatching, 30)
        except CommandpostError as exc:
            refused: CommandpostError | None = exc
        else:
            refused = None

    assert refused is not None and "not available" in str(refused)
    events = await _events_after(committed, start)
    assert [e.id for e in events] == b_ids and [e.type for e in events] == ["dispatch.updated", "unit.status"]
    async with committed() as session:
        kinds = [entry.kind for entry in await incidents.timeline(session, incident_id=incident)]
        assert kinds.count("unit_status") == 1 and kinds.count("units_dispatched") == 1


# ------------------------------------------------------------------------------------------------ many at once


@dataclass
class Done:
    """What one operation did: the event ids its commit wrote, when its commit began and returned."""

    name: str
    ids: list[int] = field(default_factory=list)
    commit_began: float = 0.0
    commit_ended: float = 0.0
    refused: str | None = None


Work = Callable[[AsyncSession], Awaitable[Any]]

# The events each kind of operation may write (a refused one writes none): name -> (type -> most per operation).
MAY_WRITE = {
    "dispatch": {"dispatch.created": 2, "unit.status": 2, "incident.updated": 1},
    "status": {"unit.status": 1, "dispatch.updated": 1, "dispatch.closed": 1},
    "location": {"unit.location": 1, "unit.location_suspect": 1},
    "ack": {"dispatch.acknowledged": 1},
}


def _operations(rng: random.Random, units: list[int], incidents_: list[int], n: int) -> list[tuple[str, Work]]:
    base = utcnow() - timedelta(minutes=30)
    # Weighted so that units come back often enough to be sent again (a refused report is fine, but not all).
    statuses = [command.UnitStatus(s) for s in ("available", "available", "en_route", "on_scene", "out_of_service")]

    def dispatch(incident: int, unit_ids: list[int]) -> Work:
        return lambda s: command.dispatch_units(s, incident_id=incident, unit_ids=unit_ids, actor="cmd.uow")

    def status(unit: int, to: command.UnitStatus) -> Work:
        return lambda s: command.change_unit_status(s, unit_id=unit, status=to, caller=COMMANDER)

    def location(unit: int, i: int) -> Work:
        at = base + timedelta(seconds=i)
        lon, lat = 104.06 + rng.random() * 0.0001, 30.67 + rng.random() * 0.0001
        return lambda s: command.report_location(
            s, unit_id=unit, lon=lon, lat=lat, at=at, caller=COMMANDER, keep_days=90
        )

    def ack(unit: int) -> Work:
        async def run(s: AsyncSession) -> None:
            found = await s.scalar(select(Dispatch.id).where(Dispatch.unit_id == unit, Dispatch.closed_at.is_(None)))
            if found is None:
                raise NotFound(f"unit {unit} has no open dispatch to acknowledge")
            await command.acknowledge(s, dispatch_id=found, caller=COMMANDER)

        return run

    ops: list[tuple[str, Work]] = []
    for i in range(n):
        kind = rng.choice(["dispatch", "dispatch", "dispatch", "status", "status", "status", "location", "ack", "ack"])
        if kind == "dispatch":
            ops.append((kind, dispatch(rng.choice(incidents_), rng.sample(units, k=rng.randint(1, 2)))))
        elif kind == "status":
            ops.append((kind, status(rng.choice(units), rng.choice(statuses))))
        elif kind == "location":
            ops.append((kind, location(rng.choice(units), i)))
        else:
            ops.append((kind, ack(rng.choice(units))))
    return ops


async def _run(sessions: Sessions, name: str, work: Work, gate: asyncio.Semaphore, jitter: float) -> Done:
    async with gate, sessions() as session:
        try:
            await work(session)
        except CommandpostError as exc:  # a refusal the rules make (busy unit, illegal status...): nothing commits
            await session.rollback()
            return Done(name, refused=str(exc))
        await asyncio.sleep(jitter)  # widen the window in which locks are held, as a slow request would
        began = time.monotonic()
        await session.commit()
        return Done(name, take_pending_event_ids(session), began, time.monotonic())


async def test_fifty_dispatches_reports_fixes_and_acks_at_once(committed: Sessions) -> None:
    """50 operations on 5 units (3 of them out already) and 3 incidents, overlapping, each on its own connection:
    none fails with a database error (a deadlock would), every committed one wrote exactly its events and nothing
    else was written, and an operation whose commit returned before another's began has the smaller ids."""
    units, incident_ids = await _setup(committed, units=5, incidents_=3)
    async with committed() as session:  # some units out already: acknowledgements and reports have work at once
        out_already = set()
        for unit, incident in zip(units, incident_ids, strict=False):
            [sent] = await command.dispatch_units(session, incident_id=incident, unit_ids=[unit], actor="cmd.uow")
            out_already.add(sent.id)
        await session.commit()
    start = await _newest_event_id(committed)  # after the setup: what follows is the operations' alone
    rng = random.Random(15)
    gate = asyncio.Semaphore(12)  # under the pool's 20 connections, with room for the probes
    results = await asyncio.gather(
        *(
            _run(committed, name, work, gate, rng.random() * 0.004)
            for name, work in _operations(rng, units, incident_ids, 50)
        ),
        return_exceptions=True,
    )
    failures = [repr(r) for r in results if isinstance(r, BaseException)]
    assert failures == [], "database errors:\n" + "\n".join(failures)
    done = [r for r in results if isinstance(r, Done)]
    committed_kinds = Counter(d.name for d in done if d.refused is None)
    assert set(committed_kinds) == set(MAY_WRITE) and sum(committed_kinds.values()) >= 12, [d.refused for d in done]

    events = {e.id: e for e in await _events_after(committed, start)}
    written = [i for d in done for i in d.ids]
    assert sorted(written) == sorted(events), "events lost, or written by work that did not commit"
    for d in done:
        counts = Counter(events[i].type for i in d.ids)
        allowed = MAY_WRITE[d.name]
        assert all(n <= allowed.get(t, 0) for t, n in counts.items()), (d.name, counts)
        if d.name in ("dispatch", "status") and d.refused is None:
            assert counts["unit.status"] >= 1, (d.name, counts)
    for first in done:
        for later in done:
            if first.ids and later.ids and first.commit_ended < later.commit_began:
                assert max(first.ids) < min(later.ids), "a later commit has a smaller event id"
    await _check_final_state(committed, units, list(events.values()), out_already)


async def _check_final_state(sessions: Sessions, units: list[int], events: list[Event], before: set[int]) -> None:
    """The newest event of each unit shows the unit as it is; every dispatch made meanwhile (not ``before``) has its
    created event, every one acknowledged meanwhile its acknowledgement, once."""
    async with sessions() as session:
        for unit in units:
            row = await gis.get_resource(session, resource_id=unit)
            newest = max(
                (e for e in events if e.unit_id == unit and e.type in ("unit.status", "unit.location")),
                key=lambda e: e.id,
                default=None,
            )
            if newest is not None:
                assert (newest.data["status"], newest.data["version"]) == (row.status, row.version), unit
        for dispatch in await session.scalars(select(Dispatch)):
            created = [e for e in events if e.type == "dispatch.created" and e.data["id"] == dispatch.id]
            acked = [e for e in events if e.type == "dispatch.acknowledged" and e.data["id"] == dispatch.id]
            assert len(created) == (0 if dispatch.id in before else 1), dispatch.id
            assert len(acked) == (1 if dispatch.acknowledged_at is not None else 0), dispatch.id
