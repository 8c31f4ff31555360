"""The outbox of outbound messages: written in the unit of work of what caused them, sent by a sweep.

A delivery row commits with its cause (a plan's activation, a dispatch), so a crash after the commit loses nothing:
the sweep finds it. The sweep takes the due ones with ``FOR UPDATE SKIP LOCKED`` (several senders share the work,
none sends what another holds), sends them at once (up to ``concurrency`` in flight) and records each try in the
same transaction. A sender that dies mid-send holds its rows only until PostgreSQL notices the connection is gone;
its transaction rolls back and the next sweep sends them again: at least once, and every try carries the same
delivery id, so a receiver drops repeats.

A failed try is tried again after an exponential backoff with jitter (``backoff``); the last try failing, or a
refusal that trying again will not change (a 4xx, an SMTP 5xx, a withdrawn push subscription), makes the delivery
dead. ``delivery.failed`` (a try failed, another will follow) and ``delivery.dead`` go out as events.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.events import queue_event
from core.settings import Settings
from notify.channels import Channel, Outgoing, SafeHTTP, SendFailed, SmsGateway, Webhook, http_for, monotonic_ms
from notify.models import PENDING_SQL, Delivery, DeliveryAttempt, PushSubscription
from notify.schemas import DeliveryOut

CHANNELS = ("webhook", "email", "sms", "voice", "push")
NO_CHANNEL = "none"  # a notice that resolved to nobody: recorded dead, and shown


@dataclass(frozen=True)
class Retry:
    """How often and how soon a delivery is tried again."""

    max_tries: int = 6
    base: timedelta = timedelta(seconds=10)
    cap: timedelta = timedelta(minutes=30)

    @classmethod
    def of(cls, settings: Settings) -> Retry:
        return cls(
            max_tries=settings.delivery_max_attempts,
            base=timedelta(seconds=settings.delivery_backoff_base_seconds),
            cap=timedelta(seconds=settings.delivery_backoff_max_seconds),
        )


def backoff(tries: int, retry: Retry, rng: random.Random) -> timedelta:
    """The wait after the ``tries``-th failed try: base × 2^(tries-1), capped, times a random 0.5..1.5 (so that
    deliveries that failed together do not all come back together)."""
    exponential = min(retry.cap.total_seconds(), retry.base.total_seconds() * 2 ** max(tries - 1, 0))
    return timedelta(seconds=exponential * rng.uniform(0.5, 1.5))


@dataclass(frozen=True)
class Message:
    """What to say: a subject, a text, the data a machine reads, and what it concerns."""

    kind: str
    subject: str
    body: str
    data: Mapping[str, Any]
    incident_id: int | None = None
    unit_id: int | None = None
    dispatch_id: int | None = None
    source: str | None = None


def add(
    session: AsyncSession,
    message: Message,
    *,
    channel: str,
    address: str,
    now: datetime,
    max_tries: int,
    contact_id: int | None = None,
    push_subscription_id: int | None = None,
    not_before: datetime | None = None,
) -> Delivery:
    """A delivery queued in the caller's unit of work (sent once it commits and ``not_before`` has come)."""
    delivery = Delivery(
        kind=message.kind,
        channel=channel,
        address=address[:2048],
        contact_id=contact_id,
        push_subscription_id=push_subscription_id,
        incident_id=message.incident_id,
        unit_id=message.unit_id,
        dispatch_id=message.dispatch_id,
        source=message.source,
        subject=message.subject[:500],
        body=message.body,
        data=dict(message.data),
        state="queued",
        tries=0,
        max_tries=max_tries,
        next_attempt_at=not_before or now,
        created_at=now,
    )
    session.add(delivery)
    return delivery


def add_undeliverable(session: AsyncSession, message: Message, *, reason: str, now: datetime) -> Delivery:
    """A message nobody can be found to receive: recorded dead at once, with why, so the command room sees it."""
    delivery = add(session, message, channel=NO_CHANNEL, address="", now=now, max_tries=0)
    delivery.state = "dead"
    delivery.last_error = f"undeliverable: {reason}"
    delivery.finished_at = now
    queue_event(session, type="delivery.dead", data=lambda: event_data(delivery), incident_id=message.incident_id)
    return delivery


async def cancel(session: AsyncSession, *, dispatch_id: int, kinds: Sequence[str], now: datetime) -> int:
    """Cancel the dispatch's deliveries of ``kinds`` that have not been sent (one being sent right now is left to
    finish: it is locked, and skipped). How many were cancelled."""
    ids = (
        select(Delivery.id)
        .where(Delivery.dispatch_id == dispatch_id, Delivery.kind.in_(kinds), Delivery.state == "queued")
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids))
        .values(state="cancelled", finished_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def event_data(delivery: Delivery) -> dict[str, Any]:
    """The delivery as GET /deliveries shows it, but for its address: every screen of the command room (observers
    too) gets the event, and numbers and mail addresses are for the roles that may list contacts."""
    return DeliveryOut.brief(delivery).model_dump(mode="json", exclude={"address", "attempts"})


class Couriers:
    """The channels of one sending process, sharing one pooled HTTP client; email and Web Push are built (and
    their libraries imported) on first use."""

    def __init__(self, settings: Settings, http: SafeHTTP | None = None) -> None:
        self.settings = settings
        self.http = http or http_for(settings)
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        auth = settings.sms_gateway_auth_header.get_secret_value() if settings.sms_gateway_auth_header else None
        voice_auth = settings.voice_gateway_auth_header
        self.channels: dict[str, Channel] = {
            "webhook": Webhook(self.http, secret),
            "sms": SmsGateway(
                self.http,
                url=settings.sms_gateway_url,
                auth_header=auth,
                template=settings.sms_gateway_body,
                segments=settings.sms_max_segments,
            ),
            "voice": SmsGateway(
                self.http,
                url=settings.voice_gateway_url,
                auth_header=voice_auth.get_secret_value() if voice_auth else None,
                template=settings.voice_gateway_body,
                segments=None,
                kind="voice",
            ),
        }

    def channel(self, name: str) -> Channel:
        if name not in self.channels:
            self.channels[name] = self._build(name)
        return self.channels[name]

    def _build(self, name: str) -> Channel:
        settings = self.settings
        if name == "email":
            from notify.email import Email

            password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
            return Email(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.smtp_from,
                username=settings.smtp_username,
                password=password,
                starttls=settings.smtp_starttls,
                tls=settings.smtp_tls,
                timeout_s=settings.delivery_timeout_seconds,
            )
        if name == "push":
            from notify.push import WebPush

            key = settings.vapid_private_key.get_secret_value() if settings.vapid_private_key else None
            return WebPush(self.http, private_key=key, subject=settings.vapid_subject)
        raise SendFailed(f"no channel {name!r}", permanent=True)

    async def aclose(self) -> None:
        await self.http.aclose()


@dataclass
class _Try:
    delivery: Delivery
    outgoing: Outgoing
    error: SendFailed | None = None
    duration_ms: int = 0


async def _send(couriers: Couriers, attempt: _Try, limit: asyncio.Semaphore) -> None:
    async with limit:
        started = time.monotonic()
        try:
            await couriers.channel(attempt.delivery.channel).send(attempt.outgoing)
        except SendFailed as exc:
            attempt.error = exc
        except Exception as exc:  # a channel's own bug must not lose the batch: recorded as a failed try
            attempt.error = SendFailed(f"{type(exc).__name__}: {exc}")
        attempt.duration_ms = monotonic_ms(started)


async def _keys(session: AsyncSession, deliveries: Sequence[Delivery]) -> dict[int, dict[str, str]]:
    ids = {d.push_subscription_id for d in deliveries if d.push_subscription_id is not None}
    if not ids:
        return {}
    rows = await session.execute(
        select(PushSubscription.id, PushSubscription.p256dh, PushSubscription.auth).where(PushSubscription.id.in_(ids))
    )
    return {row.id: {"p256dh": row.p256dh, "auth": row.auth} for row in rows}


async def sweep(
    session: AsyncSession,
    *,
    couriers: Couriers,
    now: datetime,
    retry: Retry,
    limit: int = 200,
    concurrency: int = 64,
    rng: random.Random | None = None,
) -> int:
    """Send the deliveries due at ``now`` (at most ``limit``), record every try; how many were tried."""
    rng = rng or _rng
    due = list(
        await session.scalars(
            select(Delivery)
            .where(Delivery.next_attempt_at <= now)
            .where(text(PENDING_SQL))  # literally the partial index's predicate, so the planner uses it
            .order_by(Delivery.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not due:
        return 0
    keys = await _keys(session, due)
    tries = [
        _Try(
            d,
            Outgoing(
                id=d.id,
                kind=d.kind,
                address=d.address,
                subject=d.subject,
                body=d.body,
                data=d.data,
                at=now,
                incident_id=d.incident_id,
                keys=keys.get(d.push_subscription_id or 0, {}),
            ),
        )
        for d in due
    ]
    gate = asyncio.Semaphore(concurrency)
    await asyncio.gather(*(_send(couriers, t, gate) for t in tries))
    gone: set[int] = set()
    for attempt in tries:
        _record(session, attempt, now=now, retry=retry, rng=rng)
        error = attempt.error
        if error is not None and error.status in (404, 410) and attempt.delivery.push_subscription_id is not None:
            gone.add(attempt.delivery.push_subscription_id)
    if gone:  # the push service says the subscription is no more: it is forgotten
        await session.execute(delete(PushSubscription).where(PushSubscription.id.in_(gone)))
    await session.flush()
    return len(tries)


def _record(session: AsyncSession, attempt: _Try, *, now: datetime, retry: Retry, rng: random.Random) -> None:
    delivery, error = attempt.delivery, attempt.error
    delivery.tries += 1
    session.add(
        DeliveryAttempt(
            delivery_id=delivery.id,
            number=delivery.tries,
            at=now,
            duration_ms=attempt.duration_ms,
            status_code=error.status if error else None,
            error=str(error) if error else None,
        )
    )
    if error is None:
        delivery.state, delivery.sent_at, delivery.finished_at, delivery.last_error = "sent", now, now, None
        return
    delivery.last_error = str(error)
    if error.permanent or delivery.tries >= delivery.max_tries:
        delivery.state, delivery.finished_at = "dead", now
        event = "delivery.dead"
    else:
        delivery.state = "failed"
        delivery.next_attempt_at = now + backoff(delivery.tries, retry, rng)
        event = "delivery.failed"
    queue_event(session, type=event, data=event_data(delivery), incident_id=delivery.incident_id)


_rng = random.SystemRandom()
