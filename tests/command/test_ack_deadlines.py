"""Acknowledgement deadlines by grade, the re-alert and the escalation a commander must handle: each grade's
deadline, each step once, on a clock the test hands in (command.timers, command.deadlines)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command import intake
from command import service as command
from command.deadlines import AckRules, steps_due
from command.models import Dispatch
from command.schemas import Situation
from command.situation import situation
from core.clock import utcnow
from core.errors import Conflict
from core.events import Event
from core.geojson import Point
from core.users import Role
from gis import service as gis
from gis.schemas import ResourceIn, UnitStatus
from incidents.schemas import IncidentIn

RULES = AckRules({"I": 11, "II": 22, "III": 33, "IV": 44}, escalate_after=timedelta(seconds=30))
COMMANDER = command.Caller(username="cmd.zhou", role=Role.commander)


async def unit(session: AsyncSession, name: str, unit_type: str = "ambulance") -> int:
    data = ResourceIn(type=unit_type, name=name, location=Point.of(104.06, 30.67))
    return (await gis.create_resource(session, data=data)).id


async def incident(session: AsyncSession, grade: str | None = "IV") -> int:
    """An incident of ``grade`` (None: a report with no usable fact, which stays ungraded)."""
    text = "居民楼火灾，2人受伤" if grade is not None else "有人报告路边冒烟"
    created, _ = await intake.log_report(
        session, data=IncidentIn(description=text, location=Point.of(104.0614, 30.6880)), actor="officer.test"
    )
    if grade not in (None, created.grade.level):
        assert grade is not None
        await intake.override_grade(session, incident_id=created.id, level=grade, reason="test", actor="cmd.zhou")
    return created.id


async def events_of(session: AsyncSession, incident_id: int, prefix: str = "dispatch.") -> list[Event]:
    stmt = select(Event).where(Event.type.startswith(prefix), Event.incident_id == incident_id).order_by(Event.id)
    return list(await session.scalars(stmt))


def test_the_default_table_is_the_issues() -> None:
    rules = AckRules()
    assert [rules.deadline(g).total_seconds() for g in ("I", "II", "III", "IV", None)] == [30, 60, 90, 180, 180]


@pytest.mark.parametrize(("grade", "seconds"), [("I", 11), ("II", 22), ("III", 33), ("IV", 44), (None, 44)])
async def test_each_grade_has_its_deadline(session: AsyncSession, grade: str | None, seconds: int) -> None:
    incident_id = await incident(session, grade)
    now = utcnow().replace(microsecond=0)
    [dispatch] = await command.dispatch_units(
        session, incident_id=incident_id, unit_ids=[await unit(session, "D")], actor="cmd.zhou", rules=RULES, now=now
    )
    assert dispatch.created_at == now and dispatch.ack_due_at - dispatch.created_at == timedelta(seconds=seconds)
    # The alert went out with it, and says so: when, to whom, by which channel.
    assert dispatch.alerts == [
        {"at": now.isoformat(), "kind": "alert", "unit_id": dispatch.unit_id, "channels": ["field_stream"]}
    ]
    # One second before the deadline nothing is due; at it, the re-alert.
    before = await command.sweep_ack_deadlines(session, now=dispatch.ack_due_at - timedelta(seconds=1), rules=RULES)
    at = await command.sweep_ack_deadlines(session, now=dispatch.ack_due_at, rules=RULES)
    assert (before, at) == (0, 1) and dispatch.warned_at == dispatch.ack_due_at


def _counters(picture: Situation) -> tuple[int, int]:
    return picture.escalated_dispatches, picture.incidents.open


async def test_realert_then_escalation_each_once_until_a_commander_handles_it(session: AsyncSession) -> None:
    before = _counters(await situation(session))
    incident_id = await incident(session, "I")
    now = utcnow()
    [dispatch] = await command.dispatch_units(
        session, incident_id=incident_id, unit_ids=[await unit(session, "Slow")], actor="cmd.zhou", rules=RULES, now=now
    )
    await session.commit()

    async def sweep(seconds: int) -> int:
        handled = await command.sweep_ack_deadlines(session, now=now + timedelta(seconds=seconds), rules=RULES)
        await session.commit()  # each run is a unit of work of its own, as the scheduler runs it
        return handled

    # Grade I: 11 s to answer, then 30 s more before the commander is told.
    assert [await sweep(s) for s in (5, 11, 20, 40, 41, 60, 400)] == [0, 1, 0, 0, 1, 0, 0]
    assert [e.type for e in await events_of(session, incident_id)] == [
        "dispatch.created",
        "dispatch.warning",
        "dispatch.escalated",
    ]
    escalated = (await events_of(session, incident_id))[-1].data
    assert [a["kind"] for a in escalated["alerts"]] == ["alert", "realert"]  # who was alerted, when and how
    assert escalated["unit"]["name"] == "Slow" and escalated["waited_s"] == 41
    after = _counters(await situation(session))
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1]  # the room counts it while it is open

    # A late answer from the crew does not close it: the commander must handle it, once.
    crew = command.Caller(username="crew", role=Role.field_unit, unit_id=dispatch.unit_id)
    await command.acknowledge(session, dispatch_id=dispatch.id, caller=crew)
    assert _counters(await situation(session))[0] == after[0]
    first = await command.acknowledge_escalation(session, dispatch_id=dispatch.id, caller=COMMANDER)
    handled_at = first.escalation_handled_at
    second = await command.acknowledge_escalation(session, dispatch_id=dispatch.id, caller=COMMANDER)
    assert handled_at is not None and second.escalation_handled_at == handled_at  # the second is a no-op
    assert (first.escalation_handling, first.escalation_handled_by) == ("acknowledged", "cmd.zhou")
    await session.commit()
    types = [e.type for e in await events_of(session, incident_id)]
    assert types.count("dispatch.escalation_handled") == 1
    assert _counters(await situation(session))[0] == before[0]


async def test_a_late_sweep_realerts_and_escalates_at_once_in_that_order(session: AsyncSession) -> None:
    incident_id = await incident(session, "III")
    now = utcnow()
    await command.dispatch_units(
        session, incident_id=incident_id, unit_ids=[await unit(session, "Late")], actor="cmd.zhou", rules=RULES, now=now
    )
    assert await command.sweep_ack_deadlines(session, now=now + timedelta(hours=1), rules=RULES) == 2
    await session.commit()  # events are written as the unit of work commits
    types = [e.type for e in await events_of(session, incident_id)]
    assert types == ["dispatch.created", "dispatch.warning", "dispatch.escalated"]


async def test_acknowledged_or_departed_units_are_never_realerted(session: AsyncSession) -> None:
    incident_id = await incident(session, "I")
    now = utcnow()
    units = [await unit(session, f"U{i}") for i in range(3)]
    a, b, c = await command.dispatch_units(
        session, incident_id=incident_id, unit_ids=units, actor="cmd.zhou", rules=RULES, now=now
    )
    await command.acknowledge(session, dispatch_id=a.id, caller=COMMANDER)
    await command.change_unit_status(session, unit_id=b.unit_id, status=UnitStatus.en_route, caller=COMMANDER)
    assert await command.sweep_ack_deadlines(session, now=now + timedelta(hours=1), rules=RULES) == 2  # c only
    assert (a.warned_at, b.warned_at, c.escalated_at) == (None, None, now + timedelta(hours=1))


async def test_acknowledging_an_escalation_that_never_was_is_a_conflict(session: AsyncSession) -> None:
    incident_id = await incident(session)
    [dispatch] = await command.dispatch_units(
        session, incident_id=incident_id, unit_ids=[await unit(session, "Quick")], actor="cmd.zhou"
    )
    with pytest.raises(Conflict, match="not been escalated"):
        await command.acknowledge_escalation(session, dispatch_id=dispatch.id, caller=COMMANDER)


async def _escalated(session: AsyncSession, unit_type: str = "ambulance") -> tuple[int, Dispatch]:
    incident_id = await incident(session, "II")
    now = utcnow() - timedelta(minutes=10)
    [dispatch] = await command.dispatch_units(
        session,
        incident_id=incident_id,
        unit_ids=[await unit(session, "Silent", unit_type)],
        actor="cmd.zhou",
        rules=RULES,
        now=now,
    )
    assert await command.sweep_ack_deadlines(session, now=utcnow(), rules=RULES) == 2
    return incident_id, dispatch


async def test_a_redispatch_of_the_same_need_handles_the_escalation(session: AsyncSession) -> None:
    incident_id, silent = await _escalated(session)
    other_type = await unit(session, "Engine", "fire_engine")
    await command.dispatch_units(session, incident_id=incident_id, unit_ids=[other_type], actor="cmd.zhou")
    assert silent.escalation_handled_at is None  # another need: still open
    await command.dispatch_units(
        session, incident_id=incident_id, unit_ids=[await unit(session, "Spare")], actor="cmd.li"
    )
    assert (silent.escalation_handling, silent.escalation_handled_by) == ("redispatched", "cmd.li")


async def test_recalling_the_unit_handles_the_escalation(session: AsyncSession) -> None:
    _, silent = await _escalated(session)
    await command.change_unit_status(session, unit_id=silent.unit_id, status=UnitStatus.available, caller=COMMANDER)
    assert (silent.close_reason, silent.escalation_handling) == ("recalled", "recalled")


def test_steps_follow_the_clock() -> None:
    due = utcnow()
    rules = AckRules(escalate_after=timedelta(seconds=30))
    plan = [
        steps_due(now=due + timedelta(seconds=s), ack_due_at=due, warned_at=None, escalated_at=None, rules=rules)
        for s in (-1, 0, 29, 30)
    ]
    assert plan == [[], ["realert"], ["realert"], ["realert", "escalate"]]
    warned = steps_due(now=due + timedelta(seconds=30), ack_due_at=due, warned_at=due, escalated_at=None, rules=rules)
    assert warned == ["escalate"]
