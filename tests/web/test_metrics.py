"""``GET /metrics`` (web/metrics.py, web/routes/metrics.py): scraped and parsed with prometheus-client's own parser.
Requests counted by route template, a real websocket client counted while it is connected, the sweeps, the pool and
the event lag; who may scrape (loopback, COMMANDPOST_METRICS_ALLOW; a proxy's header only from a trusted proxy)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.asyncio.client import connect

from core.settings import Settings
from tests.conftest import TokenFor
from web.app import create_app
from web.scheduler import Sweep, run_sweep

HISTOGRAM = "commandpost_http_request_duration_seconds"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape: (name, labels) → value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def test_requests_are_counted_by_route_template_method_and_status_class(client: httpx.AsyncClient) -> None:
    before = await scrape(client)
    for incident in ("101", "202", "303"):  # three paths, one route: no token, 401
        assert (await client.get(f"/api/v1/incidents/{incident}")).status_code == 401
    assert (await client.get("/healthz")).status_code == 200
    for path in ("/no/such/place", "/nor/this/one"):
        assert (await client.get(path)).status_code == 404
    for method in ("BREW", "WHEN"):  # methods a client makes up share one label
        assert (await client.request(method, "/healthz")).status_code == 405
    after = await scrape(client)

    count = HISTOGRAM + "_count"
    incident = {"route": "/api/v1/incidents/{incident_id}", "method": "GET", "status": "4xx"}
    assert value(after, count, **incident) - value(before, count, **incident) == 3
    healthz = {"route": "/healthz", "method": "GET", "status": "2xx"}
    assert value(after, count, **healthz) - value(before, count, **healthz) == 1
    unmatched = {"route": "unmatched", "method": "GET", "status": "4xx"}
    assert value(after, count, **unmatched) - value(before, count, **unmatched) == 2
    # The histogram's buckets moved with its count; no raw path became a label.
    bucket = {**incident, "le": "+Inf"}
    assert value(after, HISTOGRAM + "_bucket", **bucket) - value(before, HISTOGRAM + "_bucket", **bucket) == 3
    invented = {"route": "/healthz", "method": "other", "status": "4xx"}
    assert value(after, count, **invented) - value(before, count, **invented) == 2
    assert not any(dict(labels).get("method") in ("BREW", "WHEN") for _, labels in after)
    routes = {dict(labels).get("route") for name, labels in after if name == count}
    assert not any(r and ("101" in r or "no/such" in r) for r in routes), routes
    assert "/metrics" not in (await client.get("/openapi.json")).json()["paths"]


async def _wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 10) -> bool:
    """Ask ``check`` until it holds (True) or ``timeout`` passes (False)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_the_websocket_gauge_follows_a_real_client(live_server: str, live_token_for: TokenFor) -> None:
    token = (await live_token_for("commander"))["Authorization"].removeprefix("Bearer ")
    gauge = "commandpost_websocket_clients"
    async with httpx.AsyncClient(base_url=f"http://{live_server}") as http:
        before = value(await scrape(http), gauge, stream="command")
        async with connect(f"ws://{live_server}/ws/command?token={token}&ready=1") as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "ready"
            during = await scrape(http)
            assert value(during, gauge, stream="command") == before + 1
            assert value(during, gauge, stream="field") == 0

        async def left() -> bool:
            return value(await scrape(http), gauge, stream="command") == before

        assert await _wait_for(left), "the gauge did not come back down when the client left"


async def test_a_worker_shows_its_pool_and_event_lag(live_app: Any, live_client: httpx.AsyncClient) -> None:
    settings: Settings = live_app.settings
    samples = await scrape(live_client)
    assert value(samples, "commandpost_db_pool_max") == settings.db_pool_size + settings.db_max_overflow
    assert value(samples, "commandpost_db_pool_open") >= 1  # the scrape's own sample read the newest event id
    assert ("commandpost_event_lag", frozenset()) in samples and value(samples, "commandpost_event_lag") >= 0


async def test_sweep_runs_and_failures_are_counted(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async def works(session: AsyncSession, now: Any, settings: Settings) -> int:
        return 0

    async def fails(session: AsyncSession, now: Any, settings: Settings) -> int:
        raise RuntimeError("the sweep broke")

    good, bad = Sweep("test.works", lambda s: 60, works), Sweep("test.fails", lambda s: 60, fails)
    before = await scrape(client)
    await run_sweep(sessionmaker, good, settings=settings)
    await run_sweep(sessionmaker, good, settings=settings)
    with pytest.raises(RuntimeError, match="the sweep broke"):
        await run_sweep(sessionmaker, bad, settings=settings)
    after = await scrape(client)

    def moved(name: str, sweep: str) -> float:
        return value(after, name, sweep=sweep) - value(before, name, sweep=sweep)

    assert moved("commandpost_sweep_runs_total", "test.works") == 2
    assert moved("commandpost_sweep_failures_total", "test.works") == 0
    assert moved("commandpost_sweep_runs_total", "test.fails") == 1
    assert moved("commandpost_sweep_failures_total", "test.fails") == 1


@asynccontextmanager
async def _from(app: Any, host: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose socket peer is ``host``."""
    transport = httpx.ASGITransport(app=app, client=(host, 40000), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@asynccontextmanager
async def _app(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], **update: Any) -> AsyncIterator[Any]:
    app = create_app(settings.model_copy(update=update), sessionmaker=sessionmaker)
    async with app.router.lifespan_context(app):
        yield app


async def _status(app: Any, peer: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    async with _from(app, peer) as client:
        response = await client.get("/metrics", headers=headers)
    if response.status_code != 200:
        body = response.json()
        assert body["error"] == "forbidden" and body["detail"], body  # API.md's one error shape
    return response.status_code


async def test_only_loopback_and_the_allowed_networks_may_scrape(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], redis: Any
) -> None:
    async with _app(settings, sessionmaker) as app:
        assert await _status(app, "127.0.0.1") == 200
        assert await _status(app, "::1") == 200
        assert await _status(app, "203.0.113.7") == 403
        # A remote caller naming loopback in a header: no trusted proxy, so the header is no one's word.
        assert await _status(app, "203.0.113.7", forwarded_for="127.0.0.1") == 403
        # A proxy on this host that no one declared forwards a stranger: refused, not taken for loopback.
        assert await _status(app, "127.0.0.1", forwarded_for="198.51.100.4") == 403

    async with _app(settings, sessionmaker, metrics_allow=["203.0.113.0/24"]) as app:
        assert await _status(app, "203.0.113.7") == 200
        assert await _status(app, "198.51.100.4") == 403


async def test_behind_a_trusted_proxy_the_forwarded_client_decides(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], redis: Any
) -> None:
    update = {"trusted_proxies": ["10.9.9.9"], "metrics_allow": ["203.0.113.0/24"]}
    async with _app(settings, sessionmaker, **update) as app:
        assert await _status(app, "10.9.9.9", forwarded_for="203.0.113.8") == 200
        assert await _status(app, "10.9.9.9", forwarded_for="198.51.100.4") == 403
        # The proxy itself is not in an allowed network: its own requests are no one's.
        assert await _status(app, "10.9.9.9") == 403
        # Through the proxy, a forged entry on the left changes nothing: the right-most untrusted address counts.
        assert await _status(app, "10.9.9.9", forwarded_for="127.0.0.1, 198.51.100.4") == 403
