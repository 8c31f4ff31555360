"""CAP feed subscriptions against a local HTTP server whose Atom feed changes between polls: a new Alert, an Update,
a 304 (conditional GET), a 500 (recorded, backed off), a Cancel; a redirect to a metadata address refused; the URL
policy at subscription time; who may subscribe."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.users import Role
from incidents import service
from tests.conftest import TokenFor
from tests.support.cap_messages import message

SENDER = "cma@weather.example.cn"
SENT = "2026-12-07T10:00:00+08:00"


@dataclass
class FeedServer:
    """What the server serves: the feed's entries (name, updated), the messages by name, a failure switch."""

    port: int = 0
    entries: list[tuple[str, str]] = field(default_factory=list)
    messages: dict[str, bytes] = field(default_factory=dict)
    fail: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, If-None-Match)

    def feed(self) -> bytes:
        base = f"http://127.0.0.1:{self.port}"
        items = "".join(
            f"<entry><id>urn:test:{name}</id><title>{name}</title><updated>{updated}</updated>"
            f'<link rel="alternate" type="application/cap+xml" href="{base}/msg/{name}.cap"/></entry>'
            for name, updated in reversed(self.entries)  # newest first, as feeds list them
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<id>urn:test:feed</id><title>test</title><updated>2026-12-07T00:00:00Z</updated>{items}</feed>"
        ).encode()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    state = FeedServer()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes = b"", **headers: str) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            state.requests.append((self.path, self.headers.get("If-None-Match")))
            if self.path == "/redirect":
                self._send(302, Location="http://169.254.169.254/latest/meta-data/")
            elif self.path == "/feed.atom":
                if state.fail:
                    self._send(500, b"oops")
                    return
                body = state.feed()
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self._send(304, ETag=etag)
                else:
                    self._send(200, body, ETag=etag, Content_Type="application/atom+xml")
            elif self.path.startswith("/msg/") and self.path[5:-4] in state.messages:
                self._send(200, state.messages[self.path[5:-4]], Content_Type="application/cap+xml")
            else:
                self._send(404)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


POLICY = service.FeedPolicy(interval_s=60, timeout_s=5, max_backoff_s=600, max_bytes=5 * 1024 * 1024)


async def _feed(client: httpx.AsyncClient, headers: dict[str, str]) -> dict:
    (only,) = (await client.get("/api/v1/cap-feeds", headers=headers)).json()["items"]
    return only


async def test_a_feed_that_changes_between_polls(
    feed_server: FeedServer, client: httpx.AsyncClient, token_for: TokenFor, session: AsyncSession
) -> None:
    desk = await token_for(Role.duty_officer)
    url = f"http://127.0.0.1:{feed_server.port}/feed.atom"
    made = await client.post("/api/v1/cap-feeds", json={"url": url, "name": "test", "interval_s": 60}, headers=desk)
    assert made.status_code == 201, made.text
    now = utcnow() + timedelta(seconds=1)

    # Poll 1: a new Alert.
    feed_server.messages["a"] = message("feed-a")
    feed_server.entries.append(("a", "2026-12-07T02:00:00Z"))
    assert await service.sweep_cap_feeds(session, now=now, policy=POLICY) == 1
    state = await _feed(client, desk)
    assert (state["last_status"], state["imported"], state["failures"], state["last_error"]) == (200, 1, 0, None)
    warnings = (await client.get("/api/v1/warnings?active=true", headers=desk)).json()["items"]
    assert [w["identifier"] for w in warnings] == ["feed-a"] and warnings[0]["source"] == "feed"
    assert warnings[0]["feed_id"] == made.json()["id"]

    # Not due yet: nothing is fetched.
    before = len(feed_server.requests)
    assert await service.sweep_cap_feeds(session, now=now + timedelta(seconds=30), policy=POLICY) == 0
    assert len(feed_server.requests) == before

    # Poll 2: unchanged, so the conditional GET answers 304.
    now += timedelta(seconds=61)
    assert await service.sweep_cap_feeds(session, now=now, policy=POLICY) == 0
    assert feed_server.requests[-1][1] is not None  # If-None-Match was sent
    assert (await _feed(client, desk))["last_status"] == 304

    # Poll 3: an Update supersedes the Alert.
    feed_server.messages["b"] = message(
        "feed-b", msg_type="Update", sent="2026-12-07T11:00:00+08:00", references=f"{SENDER},feed-a,{SENT}"
    )
    feed_server.entries.append(("b", "2026-12-07T03:00:00Z"))
    now += timedelta(seconds=61)
    assert await service.sweep_cap_feeds(session, now=now, policy=POLICY) == 1
    fetched = [path for path, _ in feed_server.requests if path.startswith("/msg/")]
    assert fetched == ["/msg/a.cap", "/msg/b.cap"]  # an entry seen before is not fetched again
    active = (await client.get("/api/v1/warnings?active=true", headers=desk)).json()["items"]
    assert [w["identifier"] for w in active] == ["feed-b"]

    # Poll 4: the server fails; recorded, and the next poll waits twice the interval, not a tight loop.
    feed_server.fail = True
    now += timedelta(seconds=61)
    assert await service.sweep_cap_feeds(session, now=now, policy=POLICY) == 0
    state = await _feed(client, desk)
    assert state["failures"] == 1 and "HTTP 500" in state["last_error"]
    assert abs((_when(state["next_poll_at"]) - now).total_seconds() - 120) < 1
    before = len(feed_server.requests)
    assert await service.sweep_cap_feeds(session, now=now + timedelta(seconds=61), policy=POLICY) == 0
    assert len(feed_server.requests) == before

    # Poll 5: back, with a Cancel: both warnings end; the error clears.
    feed_server.fail = False
    feed_server.messages["c"] = message(
        "feed-c", msg_type="Cancel", sent="2026-12-07T12:00:00+08:00",
        references=f"{SENDER},feed-a,{SENT} {SENDER},feed-b,2026-12-07T11:00:00+08:00",
    )  # fmt: skip
    feed_server.entries.append(("c", "2026-12-07T04:00:00Z"))
    now += timedelta(seconds=121)
    assert await service.sweep_cap_feeds(session, now=now, policy=POLICY) == 1
    state = await _feed(client, desk)
    assert (state["failures"], state["last_error"], state["imported"]) == (0, None, 3)
    assert (await client.get("/api/v1/warnings?active=true", headers=desk)).json()["items"] == []

    gone = await client.delete(f"/api/v1/cap-feeds/{state['id']}", headers=desk)
    assert gone.status_code == 204
    assert (await client.get("/api/v1/cap-feeds", headers=desk)).json()["total"] == 0
    assert (await client.get("/api/v1/warnings", headers=desk)).json()["total"] == 3  # the warnings stay


def _when(text: str) -> object:
    from datetime import datetime

    return datetime.fromisoformat(text)


async def test_a_redirect_to_a_metadata_address_is_refused(
    feed_server: FeedServer, client: httpx.AsyncClient, token_for: TokenFor, session: AsyncSession
) -> None:
    desk = await token_for(Role.commander)
    url = f"http://127.0.0.1:{feed_server.port}/redirect"
    assert (await client.post("/api/v1/cap-feeds", json={"url": url}, headers=desk)).status_code == 201
    await service.sweep_cap_feeds(session, now=utcnow() + timedelta(seconds=1), policy=POLICY)
    state = await _feed(client, desk)
    assert state["failures"] == 1 and "169.254.169.254" in state["last_error"] and "refused" in state["last_error"]


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/", "file:///etc/passwd", "ftp://example.org/feed", "http://user:pw@example.org/"],
)
async def test_subscriptions_follow_the_url_policy(url: str, client: httpx.AsyncClient, token_for: TokenFor) -> None:
    desk = await token_for(Role.duty_officer)
    response = await client.post("/api/v1/cap-feeds", json={"url": url}, headers=desk)
    assert response.status_code == 422 and response.json()["field"] == "url"


async def test_who_may_subscribe(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    observer = await token_for(Role.observer)
    refused = await client.post("/api/v1/cap-feeds", json={"url": "http://127.0.0.1:9/f"}, headers=observer)
    assert refused.status_code == 403
    assert (await client.get("/api/v1/cap-feeds", headers=observer)).status_code == 200
    admin = await token_for(Role.admin)
    made = await client.post("/api/v1/cap-feeds", json={"url": "http://127.0.0.1:9/f"}, headers=admin)
    assert made.status_code == 201
    twice = await client.post("/api/v1/cap-feeds", json={"url": "http://127.0.0.1:9/f"}, headers=admin)
    assert twice.status_code == 409
    assert (await client.delete(f"/api/v1/cap-feeds/{made.json()['id']}", headers=observer)).status_code == 403


def test_the_feed_sweep_is_scheduled() -> None:
    from web.scheduler import SWEEPS

    sweep = SWEEPS["incidents.cap_feeds"]
    assert sweep.every(service_settings()) == 15.0


def service_settings() -> object:
    from core.settings import Settings

    return Settings(cap_feed_sweep_seconds=15.0)
