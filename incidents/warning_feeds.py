"""CAP feed subscriptions: saved under the outbound URL policy, polled by a sweep (``sweep``) with conditional GET,
each new message imported through the same path as ``POST /cap``; errors are recorded on the subscription and a
failing feed backs off (its interval doubled per failure, up to a ceiling) instead of being retried in a loop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import CommandpostError, Conflict, NotFound
from incidents.warning_models import CapFeed
from incidents.warning_schemas import CapFeedIn
from incidents.warnings import import_alert
from notify.service import FeedError, check_outbound_url, parse_cap, poll_feed

SEEN_KEPT = 2000  # entry keys remembered per feed (a feed lists far fewer at a time)
FEEDS_PER_SWEEP = 10


@dataclass(frozen=True)
class FeedPolicy:
    interval_s: float = 300.0
    timeout_s: float = 15.0
    max_backoff_s: float = 3600.0
    max_bytes: int = 5 * 1024 * 1024
    trusted_certs: tuple[str, ...] = ()


async def subscribe(session: AsyncSession, *, data: CapFeedIn, actor: str, policy: FeedPolicy) -> CapFeed:
    """Save a subscription (polled at once by the next sweep); refuses a URL the policy forbids, or one we have."""
    check_outbound_url(data.url)
    feed = CapFeed(url=data.url, name=data.name, interval_s=data.interval_s or policy.interval_s, created_by=actor)
    try:
        async with session.begin_nested():
            session.add(feed)
            await session.flush()
    except IntegrityError:
        raise Conflict(f"a subscription to {data.url[:200]} exists already") from None
    await session.refresh(feed)
    return feed


async def list_feeds(session: AsyncSession) -> list[CapFeed]:
    return list((await session.scalars(select(CapFeed).order_by(CapFeed.id))).all())


async def unsubscribe(session: AsyncSession, *, feed_id: int) -> None:
    feed = await session.get(CapFeed, feed_id, with_for_update=True)
    if feed is None:
        raise NotFound(f"CAP feed {feed_id} does not exist")
    await session.delete(feed)
    await session.flush()


def _failed(feed: CapFeed, *, now: datetime, error: str, policy: FeedPolicy) -> None:
    feed.failures += 1
    feed.last_error = error[:2000]
    feed.last_error_at = now
    wait = min(feed.interval_s * 2**feed.failures, max(policy.max_backoff_s, feed.interval_s))
    feed.next_poll_at = now + timedelta(seconds=wait)


async def poll(session: AsyncSession, feed: CapFeed, *, now: datetime, policy: FeedPolicy) -> int:
    """One poll of one feed; how many warnings it created."""
    feed.last_polled_at = now
    try:
        got = await poll_feed(
            feed.url,
            etag=feed.etag,
            last_modified=feed.last_modified,
            seen=feed.seen,
            max_bytes=policy.max_bytes,
            timeout_s=policy.timeout_s,
        )
    except FeedError as exc:
        feed.last_status = None
        _failed(feed, now=now, error=str(exc), policy=policy)
        return 0
    feed.last_status = got.status
    feed.etag, feed.last_modified = got.etag, got.last_modified
    created, errors, seen = 0, list(got.errors), list(feed.seen)
    for key, document in got.documents:
        try:
            async with session.begin_nested():  # one bad message spoils nothing else
                alert = parse_cap(document, max_bytes=policy.max_bytes, trusted_certs=policy.trusted_certs)
                result = await import_alert(session, alert=alert, source="feed", actor=None, feed_id=feed.id)
        except CommandpostError as exc:
            errors.append(f"entry {key[:120]}: {exc.detail}")
            seen.append(key)  # refused for what it is: fetching it again would refuse it again
            continue
        created += int(result.created)
        seen.append(key)
    feed.seen = seen[-SEEN_KEPT:]
    feed.imported += created
    feed.last_success_at = now
    if errors:
        feed.last_error, feed.last_error_at = "; ".join(errors)[:2000], now
    else:
        feed.last_error = None
    feed.failures = 0
    feed.next_poll_at = now + timedelta(seconds=feed.interval_s)
    return created


async def sweep(session: AsyncSession, *, now: datetime, policy: FeedPolicy) -> int:
    """Poll the feeds that are due (each locked, so two schedulers never poll one feed twice)."""
    due = (
        await session.scalars(
            select(CapFeed)
            .where(CapFeed.next_poll_at <= now)
            .order_by(CapFeed.next_poll_at)
            .limit(FEEDS_PER_SWEEP)
            .with_for_update(skip_locked=True)
        )
    ).all()
    total = 0
    for feed in due:
        total += await poll(session, feed, now=now, policy=policy)
    await session.flush()
    return total
