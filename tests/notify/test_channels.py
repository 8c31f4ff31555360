"""Email to a real SMTP server (aiosmtpd), Web Push to a push-service stand-in that checks VAPID and decrypts the
payload with the subscription's keys, and SMS texts cut without breaking a character."""

from __future__ import annotations

import email
import random
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.message import Message as MailMessage

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Settings
from core.users import Role, add_user
from notify import contacts, deliveries
from notify.channels import cut_sms
from notify.deliveries import Couriers, Message, Retry
from notify.models import PushSubscription
from notify.schemas import PushSubscriptionIn
from tests.support.receivers import BrowserKeys, HttpReceiver, SmtpReceiver, check_vapid, vapid_keys

T0 = datetime(2026, 12, 20, 8, 0, tzinfo=UTC)
RETRY = Retry(max_tries=5, base=timedelta(seconds=10))
SUBJECT = "【II级响应】锦江区化工厂泄漏：请立即集结"
MESSAGE = Message(
    kind="test.notice", subject=SUBJECT, body="请各单位立即集结。\n<b>not markup</b> & more", data={"level": "II"}
)


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver(refuse={"nobody@example.org"}).start()
    yield receiver
    receiver.stop()


async def _sweep(session: AsyncSession, couriers: Couriers, at: datetime) -> int:
    return await deliveries.sweep(session, couriers=couriers, now=at, retry=RETRY, rng=random.Random(3))


@pytest.fixture
async def mail(settings: Settings, smtp: SmtpReceiver) -> AsyncIterator[Couriers]:
    found = Couriers(settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": smtp.port}))
    yield found
    await found.aclose()


def _parts(raw: bytes) -> tuple[MailMessage, str, str]:
    parsed = email.message_from_bytes(raw)
    plain = html = ""
    for part in parsed.walk():
        if part.get_content_type() == "text/plain":
            plain = part.get_payload(decode=True).decode(part.get_content_charset())
        elif part.get_content_type() == "text/html":
            html = part.get_payload(decode=True).decode(part.get_content_charset())
    return parsed, plain, html


async def test_an_email_goes_as_plain_text_and_html_with_its_chinese_subject_encoded(
    session: AsyncSession, mail: Couriers, smtp: SmtpReceiver
) -> None:
    delivery = deliveries.add(session, MESSAGE, channel="email", address="duty@example.org", now=T0, max_tries=5)
    await session.flush()
    assert await _sweep(session, mail, T0) == 1
    assert delivery.state == "sent", delivery.last_error
    (raw,) = smtp.messages
    subject_line = next(line for line in raw.split(b"\r\n") if line.startswith(b"Subject:"))
    assert subject_line.isascii() and b"=?utf-8?" in subject_line.lower()  # RFC 2047, not raw UTF-8
    parsed, plain, html = _parts(raw)
    assert str(make_header(decode_header(parsed["Subject"]))) == SUBJECT
    assert parsed["X-Commandpost-Delivery"] == str(delivery.id)
    assert "请各单位立即集结。" in plain and "<b>not markup</b>" in plain
    assert "请各单位立即集结。" in html and "&lt;b&gt;not markup&lt;/b&gt; &amp; more" in html


async def test_a_recipient_the_server_refuses_is_recorded_and_not_tried_again(
    session: AsyncSession, mail: Couriers, smtp: SmtpReceiver
) -> None:
    delivery = deliveries.add(session, MESSAGE, channel="email", address="nobody@example.org", now=T0, max_tries=5)
    await session.flush()
    await _sweep(session, mail, T0)
    assert delivery.state == "dead" and delivery.tries == 1
    assert "550" in (delivery.last_error or "") and "nobody@example.org" in (delivery.last_error or "")
    assert await _sweep(session, mail, T0 + timedelta(days=1)) == 0 and smtp.messages == []


async def test_an_smtp_server_that_is_down_is_tried_again(session: AsyncSession, settings: Settings) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    down = Couriers(settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": closed_port}))
    try:
        delivery = deliveries.add(session, MESSAGE, channel="email", address="duty@example.org", now=T0, max_tries=5)
        await session.flush()
        await _sweep(session, down, T0)
    finally:
        await down.aclose()
    assert delivery.state == "failed" and delivery.next_attempt_at > T0


# ------------------------------------------------------------------------------------------------------ Web Push


async def test_web_push_reaches_the_push_service_signed_and_decrypts_with_the_subscription_keys(
    session: AsyncSession, settings: Settings
) -> None:
    service = await HttpReceiver(script=lambda n: 201).start()
    private, public = vapid_keys()
    browser = BrowserKeys.new()
    couriers = Couriers(
        settings.model_copy(
            update={
                "vapid_private_key": SecretStr(private),
                "vapid_public_key": public,
                "vapid_subject": "mailto:a@b.cn",
            }
        )
    )
    try:
        user = await add_user(session, username="crew.push", password="x" * 12, role=Role.commander)
        body = PushSubscriptionIn.model_validate(
            {"endpoint": f"{service.url}/sub/1", "keys": {"p256dh": browser.p256dh, "auth": _b64(browser.auth)}}
        )
        sub = await contacts.subscribe(session, username=user.username, body=body)
        delivery = deliveries.add(
            session,
            MESSAGE,
            channel="push",
            address=sub.endpoint,
            now=T0,
            max_tries=5,
            push_subscription_id=sub.id,
        )
        await session.flush()
        await _sweep(session, couriers, T0)
    finally:
        await couriers.aclose()
        await service.stop()
    assert delivery.state == "sent", delivery.last_error
    (request,) = service.received
    assert request.path == "/hook/sub/1"
    claims = check_vapid(request.headers, public_key=public, audience=f"http://127.0.0.1:{service.port}")
    assert claims["sub"] == "mailto:a@b.cn" and claims["exp"] > time.time()  # the push service's clock
    assert request.headers["content-encoding"] == "aes128gcm" and int(request.headers["ttl"]) > 0
    import json

    shown = json.loads(browser.decrypt(request.body))
    assert shown["delivery_id"] == delivery.id and shown["title"] == SUBJECT and shown["data"] == {"level": "II"}


async def test_a_push_service_saying_gone_ends_the_subscription(session: AsyncSession, settings: Settings) -> None:
    service = await HttpReceiver(script=lambda n: 410).start()
    private, public = vapid_keys()
    browser = BrowserKeys.new()
    couriers = Couriers(settings.model_copy(update={"vapid_private_key": SecretStr(private)}))
    try:
        user = await add_user(session, username="crew.gone", password="x" * 12, role=Role.commander)
        body = PushSubscriptionIn.model_validate(
            {"endpoint": f"{service.url}/sub/2", "keys": {"p256dh": browser.p256dh, "auth": _b64(browser.auth)}}
        )
        sub = await contacts.subscribe(session, username=user.username, body=body)
        delivery = deliveries.add(
            session, MESSAGE, channel="push", address=sub.endpoint, now=T0, max_tries=5, push_subscription_id=sub.id
        )
        await session.flush()
        await _sweep(session, couriers, T0)
    finally:
        await couriers.aclose()
        await service.stop()
    assert delivery.state == "dead" and "410" in (delivery.last_error or "")
    assert await session.scalar(select(PushSubscription).where(PushSubscription.id == sub.id)) is None


def _b64(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "keys",
    [
        {"p256dh": "not-base64!!", "auth": "AAAAAAAAAAAAAAAAAAAAAA"},
        {"p256dh": _b64(b"\x04" + b"\x01" * 64), "auth": "AAAAAAAAAAAAAAAAAAAAAA"},  # not on the curve
        {"p256dh": _b64(b"\x02" + b"\x01" * 32), "auth": "AAAAAAAAAAAAAAAAAAAAAA"},  # compressed
        {"p256dh": BrowserKeys.new().p256dh, "auth": _b64(b"short")},
    ],
)
def test_a_subscription_with_a_bad_key_is_refused(keys: dict[str, str]) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        PushSubscriptionIn.model_validate({"endpoint": "https://push.example.org/x", "keys": keys})


# ----------------------------------------------------------------------------------------------------------- SMS


@pytest.mark.parametrize(
    ("text", "segments", "limit"),
    [
        ("短信" * 100, 1, 70),
        ("a" * 400, 1, 70),  # "…" is not GSM-7: a cut text goes as UCS-2
        ("短信" * 150, 3, 201),
        ("🚒" * 100, 1, 70),  # beyond the BMP: two units each
        ("e\u0301" * 100, 1, 70),  # e + combining acute
        ("👩\u200d🚒" * 40, 1, 70),  # a ZWJ sequence
        ("ab" + "🇨🇳" * 50, 1, 70),  # 67 units of room would end inside a flag
    ],
)
def test_sms_text_is_cut_to_its_limit_without_breaking_a_character(text: str, segments: int, limit: int) -> None:
    cut = cut_sms(text, segments=segments)
    assert cut.endswith("…")
    units = len(cut.encode("utf-16-le")) // 2
    assert units <= limit
    kept = cut[:-1]
    assert text.startswith(kept)
    assert len(kept) > 0
    following = text[len(kept)]
    assert following not in ("\u0301", "\u200d", "🚒") or text[len(kept) - 1] not in ("e", "👩", "\u200d")
    if "\u200d" in text:
        assert kept.endswith("🚒")  # whole firefighter sequences only
    if "\u0301" in text:
        assert kept.endswith("\u0301")
    if "🇨" in text:
        assert (len(kept) - 2) % 2 == 0  # whole flags only


def test_a_short_text_is_left_alone() -> None:
    assert cut_sms("请立即出动", segments=1) == "请立即出动"
    assert cut_sms("a" * 160, segments=1) == "a" * 160
