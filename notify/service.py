"""notify's door: the live stream of a worker (its hub and doorbell), the replay of committed events from an id, the
ring of a process that has no hub of its own; and outbound deliveries: who a message goes to (contacts, push
subscriptions), queued in the caller's unit of work, sent by the delivery sweep. Other packages and web call these
(and ``notify.schemas``), never the hub or the bus directly."""

from __future__ import annotations

import random
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import redis.asyncio as redis_async
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.audit import note_change
from core.clock import utcnow
from core.errors import Conflict, NotFound
from core.events import EventEnvelope, events_after, queue_event
from core.settings import Settings, get_settings
from notify import contacts, deliveries
from notify.bus import RedisDoorbell
from notify.cap.model import CapAlert as CapAlert  # CAP 1.2 as plain data (no XML library loads with it)
from notify.cap.model import CapArea as CapArea
from notify.cap.model import CapInfo as CapInfo
from notify.cap.model import Circle as Circle
from notify.cap.model import Profile as CapProfile
from notify.cap.model import Reference as Reference
from notify.cap.model import SignatureState as SignatureState
from notify.contacts import UnitCheck as UnitCheck  # which unit ids are no unit's (the caller asks gis)
from notify.deliveries import Couriers as Couriers  # a sending process's channels (the scheduler, the bench)
from notify.deliveries import Message as Message  # what plans and command ask to send
from notify.deliveries import Retry
from notify.hub import Subscription as Subscription  # what a websocket endpoint holds while it streams
from notify.hub import serialise as serialise
from notify.live import LiveStream as LiveStream
from notify.live import build_live_stream as build_live_stream
from notify.models import Contact, Delivery, DeliveryAttempt, PushSubscription
from notify.schemas import AttemptOut, ContactIn, ContactOut, DeliveryOut, PushSubscriptionIn, PushSubscriptionOut
from notify.view import UnitView as UnitView  # a bbox client's view of the units (unit.left_view)
from notify.view import left_view_text as left_view_text

# Events read per page of a replay: a client far behind is caught up in bounded reads, never in one.
REPLAY_PAGE = 500


@dataclass(frozen=True)
class ReplayPage:
    """One page of a replay: the events in it that the caller accepts, and the id of the last event read (accepted
    or not), after which the next page starts and which a live stream resumes from."""

    events: list[EventEnvelope]
    last_id: int


async def replay(
    sessions: async_sessionmaker[AsyncSession],
    *,
    after_id: int,
    accepts: Callable[[EventEnvelope], bool] | None = None,
    where: ColumnElement[bool] | None = None,
    page_size: int = REPLAY_PAGE,
) -> AsyncGenerator[ReplayPage, None]:
    """The events committed after ``after_id``, in id order (which is commit order: ``core.events``), a page of at
    most ``page_size`` at a time, until a page comes back short.

    ``accepts`` filters in Python what a page holds (a client's ``EventFilter.accepts``); ``where``, a condition on
    ``core.events.Event``'s columns (e.g. ``Event.incident_id.in_(...)`` for a field unit's incidents), filters in
    the database, so a narrow stream does not read every event. Each page is read in a session of its own that is
    closed before the page is handed over: a slow client holds no connection while it is sent. What commits after
    the last page is the live stream's to deliver (subscribe to the hub first, then replay, and skip ids already
    sent: ``web/routes/live.py``)."""
    last = after_id
    while True:
        async with sessions() as session:
            rows = await events_after(session, last, limit=page_size, where=where)
        if not rows:
            return
        envelopes = [EventEnvelope.of(row) for row in rows]
        last = envelopes[-1].id
        yield ReplayPage(events=[e for e in envelopes if accepts is None or accepts(e)], last_id=last)
        if len(rows) < page_size:
            return


def redis_announcer(client: redis_async.Redis, *, prefix: str) -> Callable[[Sequence[int]], Awaitable[None]]:
    """For a process without a hub (``commandpost scheduler``): after a commit, ring the newest of the ids it wrote
    on Redis, so every web worker's hub reads them at once (a lost ring is made good by the hubs' polls)."""
    doorbell = RedisDoorbell(client, prefix)

    async def announce(event_ids: Sequence[int]) -> None:
        if event_ids:
            await doorbell.ring(max(event_ids))

    return announce


# ------------------------------------------------------------------------------------------------ CAP 1.2 codec
CapCircle = Circle
CapReference = Reference
CAP_SCHEMA_PATH = Path(__file__).with_name("cap") / "CAP-v1.2.xsd"  # the OASIS CAP 1.2 schema
# The codec (notify.cap) loads lxml, and signxml for a signed message, on first use: a web worker that never sees a
# CAP message never loads them. Its data types (notify.cap.model) are plain and load with this module.


def parse_cap(data: bytes, *, max_bytes: int, trusted_certs: Sequence[str] = ()) -> CapAlert:
    """One CAP 1.2 (or GB/T 35965.1) message read, validated and checked, its signature judged; refuses with
    ``Invalid`` (its ``reason``: empty, dtd, not_well_formed, wrapper, unsupported_version, namespace, schema, rule,
    gbt, signature) or ``TooLarge``."""
    from dataclasses import replace

    from notify.cap import parse, signature

    alert = parse.parse(data, max_bytes=max_bytes)
    if alert.profile is not CapProfile.cap12:
        return alert
    if not alert.signed:  # nothing to judge: no second parse
        return replace(alert, signature=SignatureState.unverified, signer="not signed")
    verdict = signature.judge(data, trusted_files=trusted_certs)
    return replace(alert, signature=verdict.state, signer=verdict.note)


def cap_xml(alert: CapAlert) -> bytes:
    """The alert as a CAP 1.2 document valid against the OASIS schema."""
    from notify.cap import export

    return export.to_xml(alert)


def validate_cap(document: bytes) -> None:
    """Raise ``Invalid`` unless ``document`` is valid against the OASIS CAP 1.2 schema (tests, exports)."""
    from notify.cap import parse

    parse.validate(parse.load(document, max_bytes=len(document) + 1))


def cap_colour(severity: str) -> str | None:
    """The warning colour (DOMAIN.md section 2) that a CAP severity stands for."""
    from notify.cap.rules import COLOUR_OF_SEVERITY

    return COLOUR_OF_SEVERITY.get(severity)


def china_event(code: str) -> tuple[str | None, str | None, str, str]:
    """What a GB/T 35561 event code stands for: (subtype, category, Chinese name, English name)."""
    from notify.cap import china

    found = china.event(code)
    return found.subtype, found.category, found.zh, found.en


CHINA_EVENT_CODE = "GB/T 35561"  # the eventCode valueName China's adapter writes


def atom_feed(*, feed_id: str, title: str, self_url: str, updated: datetime, entries: Sequence[AtomEntry]) -> bytes:
    """An Atom feed whose entries link CAP 1.2 documents."""
    from notify.cap import atom

    return atom.feed(feed_id=feed_id, title=title, self_url=self_url, updated=updated, entries=list(entries))


@dataclass(frozen=True)
class AtomEntry:
    """One entry of ``atom_feed``."""

    id: str
    title: str
    updated: datetime
    summary: str | None
    cap_url: str


# ------------------------------------------------------------------------------------------------ CAP feeds


@dataclass(frozen=True)
class FeedPoll:
    """One poll of a feed: ``status`` 200 or 304, the validators for the next conditional GET, the new messages
    (entry key, document) in the order they were issued, and the entries that could not be fetched."""

    status: int
    etag: str | None
    last_modified: str | None
    documents: list[tuple[str, bytes]]
    errors: list[str]


def check_outbound_url(url: str) -> None:
    """Refuse (``Invalid``, naming the field ``url``) a URL the outbound policy does not allow (notify.urls)."""
    from core.errors import Invalid
    from notify.urls import RefusedURL, check_url

    try:
        check_url(url)
    except RefusedURL as exc:
        raise Invalid(f"url: {exc}", field="url") from None


async def poll_feed(
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    seen: Sequence[str],
    max_bytes: int,
    timeout_s: float,
) -> FeedPoll:
    """GET the feed conditionally; fetch each entry not ``seen`` (its CAP document inline or at its link). Raises
    ``FeedError`` when the feed itself cannot be had (refused URL, network, HTTP status other than 200/304, not a
    feed); a single entry that fails is listed in ``errors`` and tried again next poll."""
    from notify.cap import feeds

    known = set(seen)
    async with feeds.client(timeout_s=timeout_s) as http:
        try:
            got = await feeds.fetch(http, url, max_bytes=max_bytes, etag=etag, last_modified=last_modified)
        except feeds.FetchError as exc:
            raise FeedError(str(exc)) from None
        if got.status == 304:
            return FeedPoll(304, etag, last_modified, [], [])
        try:
            listed = feeds.entries(got.body, base=got.url, max_bytes=max_bytes)
        except Exception as exc:  # the feed document itself is not usable: recorded on the subscription
            raise FeedError(f"{url[:200]}: {getattr(exc, 'detail', exc)}") from None
        if listed is None:  # a URL of one message
            import hashlib

            key = f"message|{hashlib.sha256(got.body).hexdigest()}"
            documents = [] if key in known else [(key, got.body)]
            return FeedPoll(200, got.etag, got.last_modified, documents, [])
        documents, errors = [], []
        for entry in listed:
            if entry.key in known:
                continue
            if entry.document is not None:
                documents.append((entry.key, entry.document))
                continue
            if entry.url is None:
                errors.append(f"entry {entry.key[:120]} has no CAP document or link")
                continue
            try:
                message = await feeds.fetch(http, entry.url, max_bytes=max_bytes)
            except feeds.FetchError as exc:
                errors.append(str(exc))
                continue
            documents.append((entry.key, message.body))
        return FeedPoll(200, got.etag, got.last_modified, documents, errors)


class FeedError(Exception):
    """A feed that could not be polled; its message is recorded on the subscription."""


# ------------------------------------------------------------------------- outbound deliveries (notify/deliveries.py)


def _max_tries() -> int:
    return get_settings().delivery_max_attempts


def _fan_out(
    session: AsyncSession,
    message: Message,
    *,
    contact: Contact,
    kinds: Collection[str] | None,
    subscriptions: dict[str, list[PushSubscription]],
    now: datetime,
    not_before: datetime | None = None,
) -> list[Delivery]:
    """A delivery per channel of ``contact`` (of ``kinds``, None: all), a push channel's per subscription."""
    made = []
    for channel in contact.channels:
        kind, address = channel["type"], channel["address"]
        if kinds is not None and kind not in kinds:
            continue
        if kind == "push":
            for sub in subscriptions.get(address, []):
                made.append(
                    deliveries.add(
                        session,
                        message,
                        channel="push",
                        address=sub.endpoint,
                        now=now,
                        max_tries=_max_tries(),
                        contact_id=contact.id,
                        push_subscription_id=sub.id,
                        not_before=not_before,
                    )
                )
            continue
        made.append(
            deliveries.add(
                session,
                message,
                channel=kind,
                address=address,
                now=now,
                max_tries=_max_tries(),
                contact_id=contact.id,
                not_before=not_before,
            )
        )
    return made


async def _push_of(session: AsyncSession, found: Sequence[Contact]) -> dict[str, list[PushSubscription]]:
    names = sorted({c["address"] for contact in found for c in contact.channels if c["type"] == "push"})
    by_user: dict[str, list[PushSubscription]] = {}
    for sub, username in await contacts.subscriptions_of(session, usernames=names):
        by_user.setdefault(username, []).append(sub)
    return by_user


# A plan notice's channel, as far as our channels go: sms, email and phone (a voice call) choose that channel when
# the contact has it; otherwise, and for radio, fax and system, the contact is reached by every channel it has.
NOTICE_CHANNELS = {"sms": ("sms",), "email": ("email",), "phone": ("voice",)}


async def deliver_notice(
    session: AsyncSession,
    *,
    agencies: Sequence[str],
    role: str | None,
    channel: str,
    message: Message,
    now: datetime | None = None,
) -> list[Delivery]:
    """A plan's notice to an agency (any of its names) and/or a role: resolved to contacts and queued, one delivery
    per contact and channel. Resolving to nobody is recorded as an undeliverable delivery (dead, with why) and
    ``delivery.dead``: the command room sees it. Returns the deliveries (the undeliverable one included)."""
    now = now or utcnow()
    found = await contacts.by_agency_and_role(session, agencies=agencies, role=role)
    push = await _push_of(session, found)
    made: list[Delivery] = []
    for contact in found:
        preferred = NOTICE_CHANNELS.get(channel)
        chosen = preferred if preferred and any(c["type"] in preferred for c in contact.channels) else None
        made += _fan_out(session, message, contact=contact, kinds=chosen, subscriptions=push, now=now)
    if not made:
        who = " / ".join(a for a in agencies if a) or "any agency"
        reason = f"no contact for {who}" + (f" with role {role}" if role else "")
        made.append(deliveries.add_undeliverable(session, message, reason=reason, now=now))
    return made


async def alert_unit(
    session: AsyncSession, *, unit_id: int, message: Message, now: datetime, sms_at: datetime | None
) -> list[Delivery]:
    """A dispatch alert for a unit's crew: Web Push to the field users bound to the unit and to members' push
    channels, and the members' webhooks and email, now; at ``sms_at`` (half the acknowledgement deadline) an SMS
    to every member with a number, cancelled if the dispatch is acknowledged first (``cancel_fallback``)."""
    members = await contacts.members_of(session, unit_id=unit_id)
    push = await _push_of(session, members)
    made: list[Delivery] = []
    seen: set[int] = set()
    for contact in members:
        for delivery in _fan_out(
            session, message, contact=contact, kinds=("push", "webhook", "email"), subscriptions=push, now=now
        ):
            if delivery.push_subscription_id not in seen:
                made.append(delivery)
            seen.add(delivery.push_subscription_id or 0)
    for sub, _ in await contacts.subscriptions_of(session, unit_id=unit_id):
        if sub.id not in seen:
            seen.add(sub.id)
            made.append(
                deliveries.add(
                    session,
                    message,
                    channel="push",
                    address=sub.endpoint,
                    now=now,
                    max_tries=_max_tries(),
                    push_subscription_id=sub.id,
                )
            )
    if sms_at is not None:
        fallback = Message(**{**message.__dict__, "kind": SMS_FALLBACK})
        for contact in members:
            made += _fan_out(
                session, fallback, contact=contact, kinds=("sms",), subscriptions={}, now=now, not_before=sms_at
            )
    return made


SMS_FALLBACK = "dispatch.sms_fallback"


async def cancel_fallback(session: AsyncSession, *, dispatch_id: int, now: datetime | None = None) -> int:
    """The dispatch was acknowledged (or closed): its SMS fallback, not sent yet, is cancelled. How many."""
    return await deliveries.cancel(session, dispatch_id=dispatch_id, kinds=(SMS_FALLBACK,), now=now or utcnow())


async def alert_commanders(session: AsyncSession, *, message: Message, now: datetime | None = None) -> list[Delivery]:
    """An escalation for the commanders on duty (contacts with the role ``commander`` and ``on_duty``), by every
    channel each has; nobody on duty is recorded as undeliverable."""
    now = now or utcnow()
    found = await contacts.commanders_on_duty(session)
    push = await _push_of(session, found)
    made: list[Delivery] = []
    for contact in found:
        made += _fan_out(session, message, contact=contact, kinds=None, subscriptions=push, now=now)
    if not made:
        made.append(deliveries.add_undeliverable(session, message, reason="no commander on duty", now=now))
    return made


async def list_deliveries(
    session: AsyncSession,
    *,
    incident_id: int | None,
    state: str | None,
    limit: int,
    offset: int = 0,
    handled: bool | None = None,
    within: Callable[[Any], ColumnElement[bool]] | None = None,
) -> tuple[list[DeliveryOut], int]:
    """Deliveries, newest first, with their tries; of one incident, in one state, handled or not, if asked.
    ``within``: a condition on an incident id column, for a reader who may see only some incidents' deliveries
    (those of no incident are then left out too)."""
    conditions: list[ColumnElement[bool]] = []
    if within is not None:
        conditions.append(within(Delivery.incident_id))
    if incident_id is not None:
        conditions.append(Delivery.incident_id == incident_id)
    if state is not None:
        conditions.append(Delivery.state == state)
    if handled is not None:
        conditions.append(Delivery.handled_at.is_not(None) if handled else Delivery.handled_at.is_(None))
    rows = list(
        await session.scalars(
            select(Delivery).where(*conditions).order_by(Delivery.id.desc()).limit(limit).offset(offset)
        )
    )
    total = int(await session.scalar(select(func.count()).select_from(Delivery).where(*conditions)) or 0)
    tries: dict[int, list[DeliveryAttempt]] = {}
    if rows:
        for attempt in await session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id.in_([r.id for r in rows]))
            .order_by(DeliveryAttempt.delivery_id, DeliveryAttempt.number)
        ):
            tries.setdefault(attempt.delivery_id, []).append(attempt)
    out = [
        DeliveryOut.brief(r).model_copy(
            update={"attempts": [AttemptOut.model_validate(a) for a in tries.get(r.id, [])]}
        )
        for r in rows
    ]
    return out, total


async def mark_handled(session: AsyncSession, *, delivery_id: int, actor: str) -> DeliveryOut:
    """A dead delivery dealt with by a person (they phoned instead, or fixed the contact): off every command room's
    escalation list (``delivery.handled``). NotFound for no such delivery; Conflict unless it is dead; marking it
    again changes nothing and says so with the first marking."""
    delivery = await session.get(Delivery, delivery_id, with_for_update=True)
    if delivery is None:
        raise NotFound(f"delivery {delivery_id} does not exist")
    if delivery.state != "dead":
        raise Conflict(f"delivery {delivery_id} is {delivery.state}: only a delivery given up on is handled by hand")
    if delivery.handled_at is None:
        delivery.handled_at = utcnow()
        delivery.handled_by = actor[:64]
        note_change(session, handled_by=[None, delivery.handled_by])
        await session.flush()
        queue_event(
            session,
            type="delivery.handled",
            data=lambda: deliveries.event_data(delivery),
            incident_id=delivery.incident_id,
            actor=actor,
        )
    return DeliveryOut.brief(delivery)


DELIVERY_STATES = ("queued", "sent", "failed", "dead", "cancelled")
DELIVERY_CHANNELS = (*deliveries.CHANNELS, deliveries.NO_CHANNEL)


async def delivery_counts(session: AsyncSession) -> dict[tuple[str, str], int]:
    """How many deliveries stand in each state, by channel: every (state, channel) pair, zeros included, so a gauge
    drops to 0 when the last of a kind leaves it. One ``GROUP BY`` over the table (for ``/metrics``)."""
    counts = dict.fromkeys(((s, c) for s in DELIVERY_STATES for c in DELIVERY_CHANNELS), 0)
    rows = await session.execute(
        select(Delivery.state, Delivery.channel, func.count()).group_by(Delivery.state, Delivery.channel)
    )
    for state, channel, n in rows:
        counts[(state, channel)] = n
    return counts


async def send_due(
    session: AsyncSession,
    *,
    couriers: Couriers,
    now: datetime,
    settings: Settings,
    rng: random.Random | None = None,
) -> int:
    """One batch of the delivery sweep (notify/deliveries.py): the deliveries due at ``now`` sent, every try
    recorded in the caller's transaction. How many were tried."""
    return await deliveries.sweep(
        session,
        couriers=couriers,
        now=now,
        retry=Retry.of(settings),
        limit=settings.delivery_batch,
        concurrency=settings.delivery_concurrency,
        rng=rng,
    )


async def add_contact(
    session: AsyncSession, *, body: ContactIn, actor: str | None, missing_units: UnitCheck
) -> ContactOut:
    """A new contact (its unit, if any, must exist: ``missing_units`` says which ids are no unit's)."""
    made = await contacts.add_contact(session, body=body, actor=actor, missing_units=missing_units)
    return ContactOut.model_validate(made)


async def list_contacts(
    session: AsyncSession,
    *,
    agency: str | None = None,
    unit_id: int | None = None,
    role: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[ContactOut], int]:
    rows, total = await contacts.list_contacts(
        session, agency=agency, unit_id=unit_id, role=role, limit=limit, offset=offset
    )
    return [ContactOut.model_validate(r) for r in rows], total


async def import_contacts(
    session: AsyncSession, *, content: bytes, actor: str | None, max_rows: int, missing_units: UnitCheck
) -> list[ContactOut]:
    """Every row of a contacts CSV, or none: Invalid with a report of each bad row (``rows``)."""
    made = await contacts.import_csv(
        session, content=content, actor=actor, max_rows=max_rows, missing_units=missing_units
    )
    return [ContactOut.model_validate(c) for c in made]


async def subscribe_push(session: AsyncSession, *, username: str, body: PushSubscriptionIn) -> PushSubscriptionOut:
    """Keep a user's Web Push subscription (keys checked by the schema)."""
    return PushSubscriptionOut.model_validate(await contacts.subscribe(session, username=username, body=body))


async def unsubscribe_push(session: AsyncSession, *, username: str, endpoint: str) -> int:
    """Forget the user's push subscription at ``endpoint``; the id it had."""
    return await contacts.unsubscribe(session, username=username, endpoint=endpoint)
