"""Intake orchestrated by command: the matches kept on an incident follow the plan library even when a report and a
plan load run at the same time (two real connections), in either order."""

from __future__ import annotations

import asyncio

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from command import intake
from core.events import Event
from core.geojson import Point
from incidents import service as incidents
from incidents.schemas import IncidentIn
from plans import service as plans
from tests.command.conftest import blocked_or_done
from tests.plans.conftest import WUHOU, library

Sessions = async_sessionmaker[AsyncSession]
QUAKE = IncidentIn(description="四川某地发生5.8级地震，3人受伤。", location=Point.of(*WUHOU))


def _earthquake_plan() -> object:
    return next(d for _, d in library() if d.id == "cn-earthquake")


async def _pid(session: AsyncSession) -> int:
    return int(await session.scalar(text("SELECT pg_backend_pid()")) or 0)


async def _matches_and_events(sessions: Sessions, incident_id: int) -> tuple[list[str], list[list[str]]]:
    """The plan ids kept on the incident, and those each of its events carried."""
    async with sessions() as session:
        incident = await incidents.get_incident(session, incident_id=incident_id)
        events = await session.scalars(select(Event).where(Event.incident_id == incident_id).order_by(Event.id))
        carried = [[m["plan_id"] for m in e.data["plan_matches"]] for e in events]
        return [m["plan_id"] for m in incident.plan_matches], carried


async def test_a_report_logged_while_a_plan_loads_is_matched_against_it(committed: Sessions) -> None:
    """The plan load (B) has not committed when the report (A) comes in: A waits for it and is matched against
    the library as B commits it. Without the library lock, A would be matched without the plan, and B's
    re-matching of the open incidents would not see A's incident, still uncommitted: no match, ever."""
    async with committed() as b, committed() as a:
        await plans.load_plan(b, document=_earthquake_plan(), source="test")  # type: ignore[arg-type]
        pid = await _pid(a)

        async def report() -> int:
            out, _ = await intake.log_report(a, data=QUAKE, actor="duty.test")
            await a.commit()
            return out.id

        logging = asyncio.create_task(report())
        await blocked_or_done(committed, pid, logging, what="the report", must_wait=False)
        await b.commit()
        incident_id = await asyncio.wait_for(logging, 30)
    kept, carried = await _matches_and_events(committed, incident_id)
    assert kept == ["cn-earthquake"] and carried == [["cn-earthquake"]]


async def test_a_plan_loaded_while_a_report_is_logged_matches_it(committed: Sessions) -> None:
    """The mirror: the report (A) has not committed when the plan load (B) starts; B waits for A, then matches A's
    incident again and announces it (``incident.updated``, change ``plan_matches``)."""
    async with committed() as a, committed() as b:
        out, _ = await intake.log_report(a, data=QUAKE, actor="duty.test")
        assert out.plan_matches == []
        pid = await _pid(b)

        async def load() -> None:
            await plans.load_plan(b, document=_earthquake_plan(), source="test")  # type: ignore[arg-type]
            await b.commit()

        loading = asyncio.create_task(load())
        await blocked_or_done(committed, pid, loading, what="the plan load", must_wait=False)
        await a.commit()
        await asyncio.wait_for(loading, 30)
    kept, carried = await _matches_and_events(committed, out.id)
    assert kept == ["cn-earthquake"] and carried == [[], ["cn-earthquake"]]
