"""The delivery sweep against real local receivers: a webhook that fails twice then takes it, one that never does
(dead), one that hangs (timeout), one that refuses for good; backoff on a clock the test holds; two sweeps at once
send each delivery once; the SMS gateway's request; signatures as API.md says."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.events import Event
from core.settings import Settings
from notify import deliveries, service
from notify.deliveries import Couriers, Message, Retry, backoff
from notify.models import Delivery, DeliveryAttempt
from tests.support.receivers import HANG, HttpReceiver

T0 = datetime(2026, 12, 20, 8, 0, tzinfo=UTC)
SECRET = "test-webhook-secret"
RETRY = Retry(max_tries=4, base=timedelta(seconds=10), cap=timedelta(minutes=5))
MESSAGE = Message(kind="test.notice", subject="化工厂泄漏 / Chemical leak", body="请立即前往。Go now.", data={"n": 1})


def _settings(settings: Settings, **extra: object) -> Settings:
    update = {
        "webhook_secret": SecretStr(SECRET),
        "delivery_timeout_seconds": 0.5,
        "delivery_max_attempts": RETRY.max_tries,
        "delivery_backoff_base_seconds": RETRY.base.total_seconds(),
        "delivery_backoff_max_seconds": RETRY.cap.total_seconds(),
    }
    return settings.model_copy(update={**update, **extra})


@pytest.fixture
async def couriers(settings: Settings) -> AsyncIterator[Couriers]:
    found = Couriers(_settings(settings))
    yield found
    await found.aclose()


async def _queue(session: AsyncSession, url: str, n: int = 1, *, channel: str = "webhook") -> list[Delivery]:
    made = [
        deliveries.add(session, MESSAGE, channel=channel, address=url, now=T0, max_tries=RETRY.max_tries)
        for _ in range(n)
    ]
    await session.flush()
    return made


async def _sweep(session: AsyncSession, couriers: Couriers, at: datetime, seed: int = 7) -> int:
    return await deliveries.sweep(session, couriers=couriers, now=at, retry=RETRY, rng=random.Random(seed))


async def _attempts(session: AsyncSession, delivery_id: int) -> list[DeliveryAttempt]:
    stmt = select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id).order_by(DeliveryAttempt.number)
    return list(await session.scalars(stmt))


def test_backoff_doubles_within_its_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    for tries in range(1, 10):
        exponential = min(300.0, 10.0 * 2 ** (tries - 1))
        waits = [backoff(tries, RETRY, rng).total_seconds() for _ in range(200)]
        assert exponential * 0.5 <= min(waits) and max(waits) <= exponential * 1.5
        assert max(waits) - min(waits) > exponential * 0.5  # jittered, not one fixed wait


async def test_a_webhook_that_fails_twice_then_takes_it_gets_the_same_id_signed_each_time(
    session: AsyncSession, couriers: Couriers, webhook: HttpReceiver
) -> None:
    webhook.script = lambda n: 500 if n < 2 else 204
    (delivery,) = await _queue(session, webhook.url)
    now = T0
    assert await _sweep(session, couriers, now) == 1
    assert delivery.state == "failed" and delivery.tries == 1
    first_wait = delivery.next_attempt_at - now
    assert timedelta(seconds=5) <= first_wait <= timedelta(seconds=15)
    assert await _sweep(session, couriers, now + first_wait - timedelta(seconds=1)) == 0  # not due yet
    now = delivery.next_attempt_at
    assert await _sweep(session, couriers, now) == 1
    second_wait = delivery.next_attempt_at - now
    assert timedelta(seconds=10) <= second_wait <= timedelta(seconds=30)
    now = delivery.next_attempt_at
    assert await _sweep(session, couriers, now) == 1
    assert delivery.state == "sent" and delivery.sent_at == now and delivery.last_error is None

    assert len(webhook.received) == 3
    assert {r.headers["x-commandpost-delivery"] for r in webhook.received} == {str(delivery.id)}
    for request in webhook.received:
        timestamp = request.headers["x-commandpost-timestamp"]
        expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
        assert request.headers["x-commandpost-signature"] == f"sha256={expected}"
        assert request.headers["content-type"] == "application/json"
        assert request.json()["delivery_id"] == delivery.id and request.json()["subject"] == MESSAGE.subject
    assert int(webhook.received[-1].headers["x-commandpost-timestamp"]) == int(now.timestamp())

    tries = await _attempts(session, delivery.id)
    assert [(a.number, a.status_code) for a in tries] == [(1, 500), (2, 500), (3, None)]
    assert tries[0].error is not None and "HTTP 500" in tries[0].error and tries[2].error is None
    await session.commit()
    failed = list(await session.scalars(select(Event).where(Event.type.startswith("delivery.")).order_by(Event.id)))
    assert [(e.type, e.data["id"]) for e in failed] == [("delivery.failed", delivery.id)] * 2
    assert (
        failed[0].data["tries"] == 1
        and failed[0].data["state"] == "failed"
        and "HTTP 500" in failed[0].data["last_error"]
    )
    assert "address" not in failed[0].data  # observers see the event; addresses are for the contact keepers


async def test_a_webhook_that_never_takes_it_is_dead_after_the_last_try(
    session: AsyncSession, couriers: Couriers, webhook: HttpReceiver
) -> None:
    webhook.script = lambda n: 503
    (delivery,) = await _queue(session, webhook.url)
    now = T0
    for _ in range(RETRY.max_tries):
        assert await _sweep(session, couriers, now) == 1
        now = delivery.next_attempt_at
    assert delivery.state == "dead" and delivery.tries == RETRY.max_tries and delivery.finished_at is not None
    assert await _sweep(session, couriers, now + timedelta(days=1)) == 0  # never again
    assert webhook.count == RETRY.max_tries
    await session.commit()
    types = list(await session.scalars(select(Event.type).where(Event.type.startswith("delivery.")).order_by(Event.id)))
    assert types == ["delivery.failed"] * (RETRY.max_tries - 1) + ["delivery.dead"]


async def test_a_hanging_webhook_is_a_timeout_and_tried_again(
    session: AsyncSession, couriers: Couriers, webhook: HttpReceiver
) -> None:
    webhook.script = lambda n: HANG if n == 0 else 200
    (delivery,) = await _queue(session, webhook.url)
    started = asyncio.get_running_loop().time()
    await _sweep(session, couriers, T0)
    assert asyncio.get_running_loop().time() - started < 5  # the 0.5 s timeout, not the hour the receiver hangs
    assert delivery.state == "failed" and "timed out" in (delivery.last_error or "")
    await _sweep(session, couriers, delivery.next_attempt_at)
    assert delivery.state == "sent"


async def test_a_refusal_for_good_is_dead_at_once_and_a_429_is_tried_again(
    session: AsyncSession, couriers: Couriers, webhook: HttpReceiver
) -> None:
    webhook.script = lambda n: 429 if n == 0 else 404
    (delivery,) = await _queue(session, webhook.url)
    await _sweep(session, couriers, T0)
    assert delivery.state == "failed"
    await _sweep(session, couriers, delivery.next_attempt_at)
    assert delivery.state == "dead" and delivery.tries == 2 and "HTTP 404" in (delivery.last_error or "")


async def test_no_secret_means_no_unsigned_webhook(
    session: AsyncSession, settings: Settings, webhook: HttpReceiver
) -> None:
    unsigned = Couriers(_settings(settings, webhook_secret=None))
    try:
        (delivery,) = await _queue(session, webhook.url)
        await _sweep(session, unsigned, T0)
    finally:
        await unsigned.aclose()
    assert delivery.state == "dead" and "WEBHOOK_SECRET" in (delivery.last_error or "") and webhook.count == 0


async def test_a_url_to_the_metadata_service_is_refused_when_sent_too(
    session: AsyncSession, couriers: Couriers
) -> None:
    """Saved contacts are checked when saved (tests/notify/test_contacts_api.py); a row that got in anyway (or a
    name that resolves there) is refused at send time, for good."""
    (delivery,) = await _queue(session, "http://169.254.169.254/latest/meta-data/")
    await _sweep(session, couriers, T0)
    assert delivery.state == "dead" and "refused" in (delivery.last_error or "")


async def test_the_sms_gateway_gets_its_template_with_the_text_cut_and_its_auth_header(
    session: AsyncSession, settings: Settings, webhook: HttpReceiver
) -> None:
    sms = Couriers(
        _settings(
            settings,
            sms_gateway_url=webhook.url,
            sms_gateway_auth_header=SecretStr("Authorization: Bearer sms-token"),
            sms_gateway_body='{"PhoneNumbers": "$to", "Content": "【应急】$text", "OutId": "$id", "Sign": 1}',
            sms_max_segments=1,
        )
    )
    webhook.script = lambda n: 500 if n == 0 else 200
    long = Message(kind="test.sms", subject="s", body="请立即前往“东门”现场，" * 20, data={})
    try:
        delivery = deliveries.add(session, long, channel="sms", address="+8613800000000", now=T0, max_tries=3)
        await session.flush()
        await _sweep(session, sms, T0)
        await _sweep(session, sms, delivery.next_attempt_at)
    finally:
        await sms.aclose()
    assert delivery.state == "sent" and webhook.count == 2
    request = webhook.received[-1]
    assert request.headers["authorization"] == "Bearer sms-token"
    body = request.json()
    assert body["PhoneNumbers"] == "+8613800000000" and body["OutId"] == str(delivery.id) and body["Sign"] == 1
    text = body["Content"].removeprefix("【应急】")
    assert text.endswith("…") and len(text) <= 70 and text[:-1] in long.body
    assert {r.headers["x-commandpost-delivery"] for r in webhook.received} == {str(delivery.id)}


async def test_a_voice_call_goes_through_its_provider_with_the_whole_text(
    session: AsyncSession, settings: Settings, webhook: HttpReceiver
) -> None:
    voice = Couriers(
        _settings(
            settings,
            voice_gateway_url=webhook.url,
            voice_gateway_auth_header=SecretStr("X-Api-Key: v-key"),
            voice_gateway_body='{"called": "$to", "tts": "$text", "ref": "$id"}',
        )
    )
    long = Message(kind="test.voice", subject="s", body="请立即前往东门现场。" * 20, data={})
    try:
        delivery = deliveries.add(session, long, channel="voice", address="+8613800000000", now=T0, max_tries=3)
        await session.flush()
        await _sweep(session, voice, T0)
    finally:
        await voice.aclose()
    assert delivery.state == "sent" and webhook.received[0].headers["x-api-key"] == "v-key"
    assert webhook.received[0].json() == {"called": "+8613800000000", "tts": long.body, "ref": str(delivery.id)}


async def test_two_sweeps_at_once_send_each_delivery_once(
    committed: async_sessionmaker[AsyncSession], couriers: Couriers, webhook: HttpReceiver
) -> None:
    async with committed() as session:
        made = await _queue(session, webhook.url, 40)
        await session.commit()

    async def one_sweep(seed: int) -> int:
        async with committed() as session, session.begin():
            return await deliveries.sweep(
                session, couriers=couriers, now=T0, retry=RETRY, rng=random.Random(seed), limit=25
            )

    first, second = await asyncio.gather(one_sweep(1), one_sweep(2))
    third = await one_sweep(3)
    assert first + second + third == 40 and first > 0 and second > 0
    ids = [r.headers["x-commandpost-delivery"] for r in webhook.received]
    assert sorted(ids) == sorted(str(d.id) for d in made)  # each once
    async with committed() as session:
        states = set(await session.scalars(select(Delivery.state)))
        attempts = list(await session.scalars(select(DeliveryAttempt.number)))
    assert states == {"sent"} and attempts == [1] * 40


async def test_a_due_delivery_is_listed_with_its_attempts(
    session: AsyncSession, couriers: Couriers, webhook: HttpReceiver
) -> None:
    webhook.script = lambda n: 500
    (delivery,) = await _queue(session, webhook.url)
    await _sweep(session, couriers, T0)
    items, total = await service.list_deliveries(session, incident_id=None, state="failed", limit=10)
    assert total == 1 and items[0].id == delivery.id and [a.number for a in items[0].attempts] == [1]
    assert items[0].attempts[0].status_code == 500
    assert (await service.list_deliveries(session, incident_id=None, state="sent", limit=10))[1] == 0
