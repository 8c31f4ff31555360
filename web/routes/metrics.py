"""``GET /metrics``: the Prometheus text format (web/metrics.py), without a token, for loopback and the networks of
``COMMANDPOST_METRICS_ALLOW``; anyone else gets 403 in the one error shape. Not in the OpenAPI document.

Whose address counts: the client's as web/app.py establishes it (the socket's peer, or what a trusted proxy names in
X-Forwarded-For). A request that carries a proxy's header (X-Forwarded-For, Forwarded, X-Real-IP) from a peer that is
not one of ``COMMANDPOST_TRUSTED_PROXIES`` is refused whatever its peer: it came through a proxy we do not know
(a reverse proxy on this host that no one declared would otherwise make every caller on the internet loopback).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable

from fastapi import APIRouter, Request, Response

from core.errors import Forbidden
from web import metrics
from web.state import StateDep

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

_PROXY_HEADERS = (b"x-forwarded-for", b"forwarded", b"x-real-ip")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(host: str | None) -> Address | None:
    if not host:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # a unix socket's or a test client's name
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _within(address: Address | None, networks: Iterable[str]) -> bool:
    return address is not None and any(address in ipaddress.ip_network(n, strict=False) for n in networks)


def may_scrape(request: Request, *, allow: list[str], trusted_proxies: list[str]) -> str | None:
    """None when the caller may read the metrics, else why not (for the 403's detail)."""
    forwarded = any(name in _PROXY_HEADERS for name, _ in request.scope["headers"])
    peer = _address(getattr(request.state, "peer", None))
    if forwarded and not _within(peer, trusted_proxies):
        return "forwarded by a proxy that is not one of COMMANDPOST_TRUSTED_PROXIES"
    client = _address(request.client.host if request.client else None)
    if client is not None and (client.is_loopback or _within(client, allow)):
        return None
    return "the metrics are for loopback and the networks of COMMANDPOST_METRICS_ALLOW"


@router.get("/metrics", name="metrics")
async def scrape(request: Request, state: StateDep) -> Response:
    """Every worker's metrics, in the Prometheus text format."""
    refusal = may_scrape(request, allow=state.settings.metrics_allow, trusted_proxies=state.settings.trusted_proxies)
    if refusal is not None:
        raise Forbidden(refusal)
    try:
        await state.metrics.sample()  # this worker's own gauges, as of now
    except Exception as exc:  # the database is away: the rest still answers (the lag keeps its last sample)
        log.warning("metrics: could not sample this worker: %s", type(exc).__name__)
    return Response(await metrics.exposition(), media_type=metrics.CONTENT_TYPE)
