"""A dispatch alerts its unit's members through notify (push to the crew's phones, members' webhooks and email);
unanswered at half its deadline it also goes by SMS to the members who have a number, unless the crew answered
first; the re-alert pushes again; an escalation alerts the commanders on duty."""

from __future__ import annotations

import functools
import random
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from command import service as command
from command.deadlines import AckRules
from core.clock import utcnow
from core.geojson import Point
from core.settings import Settings
from core.users import Role, add_user
from gis import service as gis
from gis.schemas import ResourceIn
from incidents import service as incidents
from incidents.schemas import IncidentIn
from notify import service as notify
from notify.schemas import ContactIn, PushSubscriptionIn
from tests.support.receivers import BrowserKeys, HttpReceiver, b64, vapid_keys

RULES = AckRules({"I": 30, "II": 60, "III": 90, "IV": 120}, escalate_after=timedelta(seconds=30))
COMMANDER = command.Caller(username="cmd.alerts", role=Role.commander)


async def _contact(session: AsyncSession, **fields: object) -> int:
    return (
        await notify.add_contact(
            session,
            body=ContactIn.model_validate(fields),
            actor="test",
            missing_units=functools.partial(gis.missing_resources, session),
        )
    ).id


async def _scene(session: AsyncSession, sms_url: str) -> tuple[int, int]:
    unit = await gis.create_resource(
        session, data=ResourceIn(type="ambulance", name="急救3号", location=Point.of(104.06, 30.67))
    )
    await _contact(
        session,
        name="司机",
        unit_id=unit.id,
        channels=[{"type": "sms", "address": "13800000003"}, {"type": "webhook", "address": sms_url}],
    )
    await _contact(session, name="医生", unit_id=unit.id, channels=[{"type": "email", "address": "doc@example.cn"}])
    await _contact(session, name="别的车", channels=[{"type": "sms", "address": "13800000009"}])
    report = IncidentIn(description="居民楼火灾，2人受伤", location=Point.of(104.0614, 30.6880))
    incident, _ = await incidents.create_incident(session, data=report, actor="duty")
    return unit.id, incident.id


@pytest.fixture
async def sms_gateway() -> AsyncIterator[HttpReceiver]:
    receiver = await HttpReceiver().start()
    yield receiver
    await receiver.stop()


async def test_a_dispatch_alerts_its_members_and_the_sms_waits_for_half_the_deadline(
    session: AsyncSession, settings: Settings, sms_gateway: HttpReceiver
) -> None:
    unit_id, incident_id = await _scene(session, sms_gateway.url)
    private, _ = vapid_keys()
    crew = await add_user(session, username="crew.amb3", password="x" * 12, role=Role.field_unit, unit_id=unit_id)
    keys = BrowserKeys.new()
    sub = PushSubscriptionIn.model_validate(
        {"endpoint": f"{sms_gateway.url}/push", "keys": {"p256dh": keys.p256dh, "auth": b64(keys.auth)}}
    )
    await notify.subscribe_push(session, username=crew.username, body=sub)
    now = utcnow()
    (dispatch,) = await command.dispatch_units(
        session, incident_id=incident_id, unit_ids=[unit_id], actor="cmd", rules=RULES, now=now
    )
    await session.flush()
    items, _ = await notify.list_deliveries(session, incident_id=incident_id, state="queued", limit=100)
    kinds = sorted((d.kind, d.channel) for d in items)
    assert kinds == [
        ("dispatch.alert", "email"),
        ("dispatch.alert", "push"),
        ("dispatch.alert", "webhook"),
        ("dispatch.sms_fallback", "sms"),
    ]
    sms = next(d for d in items if d.channel == "sms")
    assert sms.address == "13800000003" and sms.dispatch_id == dispatch.id
    assert sms.next_attempt_at == now + (dispatch.ack_due_at - now) / 2  # IV: 120 s, so 60 s
    assert set(dispatch.alerts[0]["channels"]) == {"field_stream", "email", "push", "webhook", "sms"}

    couriers = notify.Couriers(
        settings.model_copy(
            update={
                "sms_gateway_url": sms_gateway.url,
                "webhook_secret": SecretStr("s"),
                "vapid_private_key": SecretStr(private),
            }
        )
    )
    try:
        sent = await notify.send_due(session, couriers=couriers, now=now, settings=settings, rng=random.Random(1))
        assert sent == 3  # email (no SMTP server here: dead, saying so), push, webhook; not the SMS yet
        assert sms_gateway.count == 2
        later = now + timedelta(seconds=61)
        assert await notify.send_due(session, couriers=couriers, now=later, settings=settings) == 1
    finally:
        await couriers.aclose()
    assert sms_gateway.count == 3 and sms_gateway.received[-1].json()["to"] == "13800000003"
    states = {
        d.channel: d.state
        for d in (await notify.list_deliveries(session, incident_id=incident_id, state=None, limit=100))[0]
    }
    assert states == {"sms": "sent", "push": "sent", "webhook": "sent", "email": "dead"}


async def test_an_answer_before_half_the_deadline_cancels_the_sms(
    session: AsyncSession, sms_gateway: HttpReceiver
) -> None:
    unit_id, incident_id = await _scene(session, sms_gateway.url)
    (dispatch,) = await command.dispatch_units(
        session, incident_id=incident_id, unit_ids=[unit_id], actor="cmd", rules=RULES
    )
    await command.acknowledge(session, dispatch_id=dispatch.id, caller=COMMANDER)
    await session.flush()
    cancelled, total = await notify.list_deliveries(session, incident_id=incident_id, state="cancelled", limit=10)
    assert total == 1 and cancelled[0].channel == "sms" and cancelled[0].kind == "dispatch.sms_fallback"


async def test_an_escalation_alerts_the_commanders_on_duty(session: AsyncSession, sms_gateway: HttpReceiver) -> None:
    unit_id, incident_id = await _scene(session, sms_gateway.url)
    on_duty = await _contact(
        session, name="值班指挥长", roles=["commander"], channels=[{"type": "sms", "address": "13900000001"}]
    )
    await _contact(
        session,
        name="休息的指挥长",
        roles=["commander"],
        on_duty=False,
        channels=[{"type": "sms", "address": "13900000002"}],
    )
    now = utcnow()
    (dispatch,) = await command.dispatch_units(
        session, incident_id=incident_id, unit_ids=[unit_id], actor="cmd", rules=RULES, now=now
    )
    steps = await command.sweep_ack_deadlines(session, now=now + timedelta(seconds=200), rules=RULES)
    assert steps == 2  # re-alert and escalation
    await session.flush()
    items, _ = await notify.list_deliveries(session, incident_id=incident_id, state=None, limit=100)
    escalations = [d for d in items if d.kind == "dispatch.escalated"]
    assert [(d.contact_id, d.channel, d.address) for d in escalations] == [(on_duty, "sms", "13900000001")]
    realerts = [d for d in items if d.kind == "dispatch.alert"]
    assert len(realerts) == 4  # webhook and email, at the alert and at the re-alert (no push subscription here)
    assert "Re-alert" in max(realerts, key=lambda d: d.id).subject


async def test_an_escalation_with_nobody_on_duty_is_shown_undeliverable(session: AsyncSession) -> None:
    unit = await gis.create_resource(session, data=ResourceIn(type="ambulance", name="A", location=Point.of(104, 30.6)))
    report = IncidentIn(description="交通事故", location=Point.of(104.0, 30.6))
    incident, _ = await incidents.create_incident(session, data=report, actor="duty")
    now = utcnow()
    await command.dispatch_units(session, incident_id=incident.id, unit_ids=[unit.id], actor="c", rules=RULES, now=now)
    await command.sweep_ack_deadlines(session, now=now + timedelta(seconds=200), rules=RULES)
    await session.flush()
    items, _ = await notify.list_deliveries(session, incident_id=incident.id, state="dead", limit=10)
    assert [(d.kind, d.channel, d.last_error) for d in items] == [
        ("dispatch.escalated", "none", "undeliverable: no commander on duty")
    ]
