"""Fetching CAP from feeds we subscribe to: one GET under the URL policy (``notify.urls``), and the entries of an
Atom or RSS feed (or a URL that serves a single CAP message).

Every connection goes to an address checked when it is made (``resolve_checked``), every redirect is checked again
before it is followed (at most ``MAX_REDIRECTS``), no proxy from the environment is used (it would go around the
checks), and a body larger than the limit is cut off while it streams. Conditional GET: the ETag and Last-Modified
of the last answer go back as If-None-Match / If-Modified-Since, and a 304 says nothing changed."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

import httpcore
import httpx
from lxml import etree

from core.errors import Invalid
from notify.cap.model import CAP_NS
from notify.cap.parse import load
from notify.urls import RefusedURL, check_url, resolve_checked

MAX_REDIRECTS = 5
ATOM = "http://www.w3.org/2005/Atom"
USER_AGENT = "Commandpost CAP feed reader"
CAP_TYPES = ("application/cap+xml", "application/common-alerting-protocol+xml")


class FetchError(Exception):
    """A fetch that failed: the message is recorded on the subscription."""


@dataclass(frozen=True)
class Fetched:
    status: int  # 200 or 304
    body: bytes
    etag: str | None
    last_modified: str | None
    url: str  # after redirects


@dataclass(frozen=True)
class Entry:
    """One message a feed points at: its CAP document inline, or the URL to fetch it from."""

    key: str  # the entry's id and its updated time: a changed entry is a new key
    url: str | None
    document: bytes | None


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the URL policy allows, resolved now (a rebinding name is caught here)."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolve_checked(host, port)
        except RefusedURL as exc:
            raise httpcore.ConnectError(f"refused: {exc}") from exc
        return await self._inner.connect_tcp(
            addresses[0], port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def client(*, timeout_s: float) -> httpx.AsyncClient:
    """An HTTP client for calls the URL policy governs (no redirects followed by itself, no environment proxies)."""
    transport = httpx.AsyncHTTPTransport(retries=0, trust_env=False)
    # httpx has no public way to choose the network backend: its pool is rebuilt with ours (same TLS context).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=transport._pool._ssl_context, network_backend=_CheckedBackend(), max_connections=10
    )
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(timeout_s),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
    )


async def fetch(
    http: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Fetched:
    """GET ``url`` under the policy, conditionally; raises ``FetchError`` with a sentence for the subscription."""
    headers = {"Accept": "application/atom+xml, application/rss+xml, application/cap+xml, application/xml;q=0.9"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        try:
            check_url(current)
        except RefusedURL as exc:
            raise FetchError(f"{current[:200]} refused: {exc}") from None
        try:
            async with http.stream("GET", current, headers=headers) as response:
                if response.status_code in (301, 302, 303, 307, 308) and "location" in response.headers:
                    current = urljoin(current, response.headers["location"])
                    continue
                if response.status_code == 304:
                    return Fetched(304, b"", etag, last_modified, current)
                if response.status_code != 200:
                    raise FetchError(f"{current[:200]} answered HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise FetchError(f"{current[:200]} sent more than {max_bytes // 1024} KiB")
                return Fetched(
                    200,
                    bytes(body),
                    response.headers.get("etag"),
                    response.headers.get("last-modified"),
                    current,
                )
        except httpx.HTTPError as exc:
            raise FetchError(f"{current[:200]}: {type(exc).__name__}: {exc}") from None
    raise FetchError(f"{url[:200]}: more than {MAX_REDIRECTS} redirects")


def _entry_link(entry: etree._Element, base: str) -> str | None:
    links = entry.findall(f"{{{ATOM}}}link")
    for link in links:  # the CAP document itself first
        if (link.get("type") or "").lower() in CAP_TYPES and link.get("href"):
            return urljoin(base, link.get("href") or "")
    for link in links:
        if link.get("rel") in (None, "alternate", "enclosure", "related") and link.get("href"):
            return urljoin(base, link.get("href") or "")
    return None


def _inline_alert(content: etree._Element | None) -> bytes | None:
    if content is None:
        return None
    for child in content:
        if etree.QName(child).localname == "alert":
            return bytes(etree.tostring(child, encoding="UTF-8", xml_declaration=True))
    return None


def entries(document: bytes, *, base: str, max_bytes: int) -> list[Entry] | None:
    """The messages an Atom or RSS feed lists, oldest first; None when the document is a CAP message itself.
    Raises ``Invalid`` for a document that is neither."""
    root = load(document, max_bytes=max_bytes)
    name = etree.QName(root)
    if name.localname == "alert":
        return None
    found: list[Entry] = []
    if name.namespace == ATOM and name.localname == "feed":
        for entry in root.iterfind(f"{{{ATOM}}}entry"):
            ident = (entry.findtext(f"{{{ATOM}}}id") or "").strip()
            updated = (entry.findtext(f"{{{ATOM}}}updated") or "").strip()
            inline = _inline_alert(entry.find(f"{{{ATOM}}}content"))
            link = _entry_link(entry, base)
            found.append(Entry(key=f"{ident or link}|{updated}", url=None if inline else link, document=inline))
    elif name.localname == "rss" or name.localname == "RDF":
        for item in root.iter("item", "{http://purl.org/rss/1.0/}item"):
            guid = (item.findtext("guid") or "").strip()
            link = (item.findtext("link") or item.findtext("{http://purl.org/rss/1.0/}link") or "").strip()
            enclosure = item.find("enclosure")
            if enclosure is not None and enclosure.get("url"):
                link = enclosure.get("url") or link
            stamp = (item.findtext("pubDate") or "").strip()
            found.append(Entry(key=f"{guid or link}|{stamp}", url=urljoin(base, link) if link else None, document=None))
    else:
        raise Invalid(f"the feed is neither Atom, RSS nor a CAP message (root <{name.localname}>)", reason="feed")
    found.reverse()  # feeds list the newest first; import in the order they were issued
    return found


def http_date(value: datetime) -> str:
    return email.utils.format_datetime(value, usegmt=True)


__all__ = ["CAP_NS", "Entry", "FetchError", "Fetched", "client", "entries", "fetch", "http_date"]
