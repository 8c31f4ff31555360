"""Sign-in flooding: password checks off the event loop and bounded; failed sign-ins limited per name and per
address (429 with Retry-After, before any password is checked), counted in Redis for all workers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
import redis.asyncio as redis_async
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import users
from core.settings import Settings
from core.users import Role, add_user
from tests.conftest import TokenFor
from web.app import create_app
from web.counters import MemoryCounters
from web.signin import SignInGuard
from web.state import state_of

PASSWORD = "correct horse battery"
LIMIT = 3  # failures per name in most tests: each one costs a real argon2 check
REAL_HASHER = PasswordHasher()

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


async def _sign_in(
    client: httpx.AsyncClient, username: str, password: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post("/api/v1/auth/token", data={"username": username, "password": password}, headers=headers)


@pytest.fixture(autouse=True)
async def _forget_counts(redis: redis_async.Redis) -> None:
    """Every key these tests count under (this run's prefix) is deleted afterwards by the ``redis`` fixture."""


@pytest.fixture
async def make_client(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[MakeClient]:
    """A client of a fresh app (a worker) whose settings differ from the test settings by ``overrides``."""
    async with AsyncExitStack() as stack:

        async def make(**overrides: Any) -> httpx.AsyncClient:
            app = create_app(settings.model_copy(update=overrides), sessionmaker=sessionmaker)
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            return await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://test"))

        yield make


class HeldHasher:
    """The real hasher, but each verification first waits (on the thread that runs it) until the test releases it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.timed_out = False

    def verify(self, password_hash: str, password: str) -> bool:
        self.entered.set()
        if not self.release.wait(10):
            self.timed_out = True
        return REAL_HASHER.verify(password_hash, password)


class CountingHasher:
    """The real hasher, counting verifications and how many ran at the same time."""

    def __init__(self) -> None:
        self.calls = 0
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def verify(self, password_hash: str, password: str) -> bool:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            return REAL_HASHER.verify(password_hash, password)
        finally:
            with self._lock:
                self.running -= 1


async def test_a_password_check_leaves_the_event_loop_free(
    live_client: httpx.AsyncClient, live_token_for: TokenFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = await live_token_for("admin")
    assert (await live_client.get("/api/v1/me", headers=auth)).status_code == 200
    held = HeldHasher()
    monkeypatch.setattr(users, "_hasher", held)
    sign_in = asyncio.create_task(_sign_in(live_client, "somebody", "a wrong password"))
    try:
        assert await asyncio.to_thread(held.entered.wait, 10), "the sign-in never checked a password"
        # The check is still held: an admin's request must be answered meanwhile.
        me = await asyncio.wait_for(live_client.get("/api/v1/me", headers=auth), 10)
        assert me.status_code == 200
    finally:
        held.release.set()
    assert (await sign_in).status_code == 401
    assert not held.timed_out, "the password check held the event loop: nothing else was served until it ended"


async def test_password_checks_run_on_a_bounded_number_of_threads(
    live_client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = CountingHasher()
    monkeypatch.setattr(users, "_hasher", counting)
    answers = await asyncio.gather(*(_sign_in(live_client, f"flood-{n}", "a wrong password") for n in range(8)))
    assert [a.status_code for a in answers] == [401] * 8
    assert counting.calls == 8
    assert 1 <= counting.most_at_once <= settings.password_hash_threads


async def test_failures_lock_the_name_before_any_password_is_checked(
    make_client: MakeClient,
    session: AsyncSession,
    settings: Settings,
    redis: redis_async.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await add_user(session, username="target.user", password=PASSWORD, role=Role.observer)
    await add_user(session, username="bystander", password=PASSWORD, role=Role.observer)
    await session.commit()
    client = await make_client(signin_max_failures_per_name=LIMIT)  # the defaults are 10, 100, 5 and 1 minutes
    for _ in range(LIMIT):
        assert (await _sign_in(client, "target.user", "a wrong guess")).status_code == 401
    counting = CountingHasher()
    monkeypatch.setattr(users, "_hasher", counting)

    refused = await _sign_in(client, "target.user", PASSWORD)  # even the right password: it is not checked
    assert refused.status_code == 429, refused.text
    body = refused.json()
    assert body["error"] == "too_many_requests" and "user name" in body["detail"]
    assert 0 < int(refused.headers["retry-after"]) <= settings.signin_lockout_seconds
    assert counting.calls == 0, "a blocked sign-in must be refused before the argon2 work"

    # Another user signing in from the same address is not blocked by that name's limit.
    assert (await _sign_in(client, "bystander", PASSWORD)).status_code == 200
    # Counted in Redis, under the prefix, each key with an expiry: shared by every worker, and forgotten.
    prefix = f"{settings.redis_prefix}:limits"
    assert 0 < await redis.pttl(f"{prefix}:signin:name:target.user") <= settings.signin_window_seconds * 1000
    assert 0 < await redis.pttl(f"{prefix}:block:signin:name:target.user") <= settings.signin_lockout_seconds * 1000


async def test_an_unknown_name_is_limited_like_a_known_one(make_client: MakeClient) -> None:
    client = await make_client(signin_max_failures_per_name=LIMIT)
    for _ in range(LIMIT):
        assert (await _sign_in(client, "no.such.user", "a wrong guess")).status_code == 401
    assert (await _sign_in(client, "no.such.user", "a wrong guess")).status_code == 429


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_block_lasts_the_lockout_and_a_success_clears_the_count(
    app: Any, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    clock = FakeClock()
    limits = settings.model_copy(update={"signin_max_failures_per_name": LIMIT})
    state_of(app).signin_guard = SignInGuard(MemoryCounters(clock=clock), limits)  # a worker without Redis
    await add_user(session, username="forgetful", password=PASSWORD, role=Role.duty_officer)
    await session.commit()
    limit = LIMIT
    for _ in range(limit):
        assert (await _sign_in(client, "forgetful", "not it")).status_code == 401
    assert (await _sign_in(client, "forgetful", PASSWORD)).status_code == 429
    clock.now += settings.signin_lockout_seconds - 1
    assert (await _sign_in(client, "forgetful", PASSWORD)).status_code == 429
    clock.now += 1
    # The block is over, but the window is not: one more failure blocks the name again at once.
    assert (await _sign_in(client, "forgetful", "still not it")).status_code == 401
    assert (await _sign_in(client, "forgetful", PASSWORD)).status_code == 429
    clock.now += settings.signin_lockout_seconds
    assert (await _sign_in(client, "forgetful", PASSWORD)).status_code == 200
    for _ in range(limit - 1):  # the success cleared the name's count
        assert (await _sign_in(client, "forgetful", "not it")).status_code == 401
    assert (await _sign_in(client, "forgetful", PASSWORD)).status_code == 200


async def test_an_address_that_fails_too_often_is_refused_whatever_it_claims(
    make_client: MakeClient, session: AsyncSession
) -> None:
    await add_user(session, username="next.door", password=PASSWORD, role=Role.observer)
    await session.commit()
    client = await make_client(signin_max_failures_per_address=5)
    for n in range(5):
        spoofed = {"X-Forwarded-For": f"198.51.100.{n}"}  # not from a trusted proxy: ignored
        assert (await _sign_in(client, f"guess-{n}", "a wrong guess", spoofed)).status_code == 401
    refused = await _sign_in(client, "next.door", PASSWORD, {"X-Forwarded-For": "198.51.100.99"})
    assert refused.status_code == 429 and "address" in refused.json()["detail"]
    assert int(refused.headers["retry-after"]) > 0


async def test_behind_a_trusted_proxy_the_forwarded_address_counts(
    make_client: MakeClient, session: AsyncSession
) -> None:
    await add_user(session, username="behind.proxy", password=PASSWORD, role=Role.observer)
    await session.commit()
    client = await make_client(signin_max_failures_per_address=3, trusted_proxies=["127.0.0.1", "10.0.0.0/8"])
    for n in range(3):
        # The attacker's own left-most entry is not believed: the right-most address not a trusted proxy is.
        chain = {"X-Forwarded-For": f"192.0.2.{n}, 203.0.113.5, 10.1.2.3"}
        assert (await _sign_in(client, f"guess-{n}", "a wrong guess", chain)).status_code == 401
    assert (await _sign_in(client, "behind.proxy", PASSWORD, {"X-Forwarded-For": "203.0.113.5"})).status_code == 429
    assert (await _sign_in(client, "behind.proxy", PASSWORD, {"X-Forwarded-For": "203.0.113.6"})).status_code == 200


async def test_workers_share_the_counts_through_redis(make_client: MakeClient) -> None:
    first = await make_client(signin_max_failures_per_name=4)
    second = await make_client(signin_max_failures_per_name=4)
    for n in range(4):
        worker = first if n % 2 else second
        assert (await _sign_in(worker, "shared.name", "a wrong guess")).status_code == 401
    assert (await _sign_in(first, "shared.name", "a wrong guess")).status_code == 429
    assert (await _sign_in(second, "shared.name", "a wrong guess")).status_code == 429


async def test_with_redis_away_sign_in_works_and_is_still_limited(
    make_client: MakeClient, session: AsyncSession
) -> None:
    await add_user(session, username="during.outage", password=PASSWORD, role=Role.observer)
    await session.commit()
    client = await make_client(redis_url="redis://127.0.0.1:1/0", signin_max_failures_per_name=LIMIT)  # no one there
    assert (await _sign_in(client, "during.outage", PASSWORD)).status_code == 200
    for _ in range(LIMIT):
        assert (await _sign_in(client, "during.outage", "a wrong guess")).status_code == 401
    assert (await _sign_in(client, "during.outage", PASSWORD)).status_code == 429
