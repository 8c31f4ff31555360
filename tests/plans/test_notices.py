"""Plans decide who is told, notify delivers: an activation's notices resolve to contacts by agency (either name)
and role and become deliveries in the same transaction; a notice that resolves to nobody is recorded as
undeliverable and shown; an escalation adds deliveries only for the notices it adds."""

from __future__ import annotations

import functools

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.events import Event
from gis import service as gis
from notify import service as notify
from notify.schemas import ContactIn
from plans import service as plans
from plans.models import PlanNotice
from tests.conftest import TokenFor
from tests.plans.conftest import MakeIncident


async def _contact(session: AsyncSession, **fields: object) -> int:
    return (
        await notify.add_contact(
            session,
            body=ContactIn.model_validate(fields),
            actor="test",
            missing_units=functools.partial(gis.missing_resources, session),
        )
    ).id


async def test_notices_resolve_to_contacts_and_the_rest_are_shown_undeliverable(
    session: AsyncSession,
    client: httpx.AsyncClient,
    token_for: TokenFor,
    loaded: object,
    make_incident: MakeIncident,
) -> None:
    ministry = await _contact(
        session,
        name="部应急指挥中心",
        agency="应急管理部",
        channels=[
            {"type": "webhook", "address": "https://hooks.example.gov.cn/mem"},
            {"type": "sms", "address": "+8610123456"},
        ],
    )
    provincial = await _contact(
        session,
        name="省厅值班室",
        agency="省应急管理厅",
        channels=[{"type": "voice", "address": "02888888888"}, {"type": "email", "address": "duty@sc.example.cn"}],
    )
    quake = await _contact(
        session,
        name="CEA duty desk",
        agency="China Earthquake Administration",  # the plan's English name finds it too
        channels=[{"type": "email", "address": "duty@cea.example.cn"}],
    )
    await _contact(session, name="别的机构", agency="某某局", channels=[{"type": "email", "address": "x@y.cn"}])
    incident = await make_incident("earthquake", level="II")
    result = await plans.activate(session, incident_id=incident.id, plan_id="cn-earthquake", level="II", actor="t")
    await session.commit()

    items, total = await notify.list_deliveries(session, incident_id=incident.id, state=None, limit=100)
    by_contact: dict[int | None, set[str]] = {}
    for d in items:
        by_contact.setdefault(d.contact_id, set()).add(d.channel)
    assert by_contact[ministry] == {"webhook", "sms"}  # a phone notice reaches every channel the contact has
    assert quake not in by_contact  # level II does not notify the CEA
    assert by_contact[provincial] == {"voice"}  # a phone notice calls the contact that has a voice channel
    undeliverable = [d for d in items if d.channel == "none"]
    stmt = select(PlanNotice).where(PlanNotice.incident_id == incident.id)
    notices = {n.agency: n for n in await session.scalars(stmt)}
    assert len(undeliverable) == sum(1 for n in notices.values() if n.status == "undeliverable") > 0
    assert notices["应急管理部"].status == "delivering"
    assert all(
        d.state == "dead" and (d.last_error or "").startswith("undeliverable: no contact") for d in undeliverable
    )
    assert {d.state for d in items if d.channel != "none"} == {"queued"}
    assert all(d.source and d.source.startswith("plan_notice:") for d in items)
    assert total == len(items) == len(result.added.notices) - 1 + 2  # the ministry: two channels
    dead_events = list(await session.scalars(select(Event).where(Event.type == "delivery.dead")))
    assert {e.data["id"] for e in dead_events} == {d.id for d in undeliverable}
    assert all(e.incident_id == incident.id for e in dead_events)

    # The command room sees them over HTTP, the undeliverable ones too.
    commander = await token_for("commander")
    listed = await client.get(f"/api/v1/deliveries?incident={incident.id}&state=dead", headers=commander)
    assert listed.status_code == 200 and listed.json()["total"] == len(undeliverable)
    assert listed.json()["items"][0]["channel"] == "none" and listed.json()["items"][0]["attempts"] == []
    observer = await token_for("observer")
    assert (await client.get("/api/v1/deliveries", headers=observer)).status_code == 403

    # Escalating to level I: only the notices it adds become deliveries (the ministry is not told twice).
    await plans.activate(session, incident_id=incident.id, plan_id="cn-earthquake", level="I", actor="t")
    await session.flush()
    items, _ = await notify.list_deliveries(session, incident_id=incident.id, state="queued", limit=1000)
    channels = sorted((d.contact_id, d.channel) for d in items)
    expected = [(ministry, "webhook"), (ministry, "sms"), (provincial, "voice"), (quake, "email")]
    assert channels == sorted(expected)
    stmt = select(PlanNotice).where(PlanNotice.incident_id == incident.id, PlanNotice.agency == "中国地震局")
    assert (await session.scalars(stmt)).one().status == "delivering"


async def test_a_notice_by_role_finds_the_contacts_with_that_role(
    session: AsyncSession, loaded: object, make_incident: MakeIncident
) -> None:
    spokesman = await _contact(
        session,
        name="新闻发言人",
        roles=["public_information"],
        channels=[{"type": "email", "address": "press@example.cn"}, {"type": "sms", "address": "13800000001"}],
    )
    incident = await make_incident("earthquake", level="II")
    await plans.activate(session, incident_id=incident.id, plan_id="cn-earthquake", level="II", actor="t")
    await session.flush()
    items, _ = await notify.list_deliveries(session, incident_id=incident.id, state="queued", limit=100)
    assert {(d.contact_id, d.channel) for d in items} == {(spokesman, "email"), (spokesman, "sms")}
