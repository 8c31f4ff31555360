"""Where a request that leaves the building may go: the one policy for every URL we call on someone's say-so (a
contact's webhook, an SMS gateway, a CAP feed), checked when the URL is saved and again, on the resolved address, for
every connection and every redirect (a name that resolved to a public address yesterday may resolve to the metadata
service today).

Refused, always: schemes other than http and https; user:password in the URL; addresses that are link-local (the
cloud metadata services of AWS, Azure, GCP, Tencent Cloud sit there), unspecified, multicast or reserved; the metadata
addresses that are not link-local (Alibaba Cloud's 100.100.100.200, AWS's IPv6 fd00:ec2::254) and metadata host
names. Private and loopback addresses are allowed unless ``outbound_allow_private`` is off: an agency's SMS gateway
or warning server usually sits on its own network."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

MAX_URL_LENGTH = 2048
SCHEMES = frozenset({"http", "https"})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, Azure, GCP, OpenStack, DigitalOcean, Oracle (also link-local)
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.0.23",  # Tencent Cloud
        "100.100.100.200",  # Alibaba Cloud (in the carrier-grade NAT range, not link-local)
        "fd00:ec2::254",  # AWS over IPv6
    )
)
METADATA_NAMES = frozenset({"metadata", "metadata.google.internal", "metadata.tencentyun.com", "instance-data"})


class RefusedURL(ValueError):
    """A URL the policy refuses; the message says why, in words a user can act on."""


@dataclass(frozen=True)
class CheckedURL:
    url: str
    host: str
    port: int
    https: bool


def _port(parts: SplitResult) -> int:
    try:
        port = parts.port
    except ValueError as exc:
        raise RefusedURL("the port is not a number from 1 to 65535") from exc
    return port or (443 if parts.scheme == "https" else 80)


def check_url(url: str) -> CheckedURL:
    """The URL's form and, when its host is an address literal, that address (no DNS here: ``check_address`` runs on
    each resolved address when a connection is made). Raises ``RefusedURL``."""
    if not isinstance(url, str) or not url:
        raise RefusedURL("a URL is required")
    if len(url) > MAX_URL_LENGTH:
        raise RefusedURL(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise RefusedURL("the URL contains spaces or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise RefusedURL("only http and https URLs are allowed")
    if parts.username is not None or parts.password is not None:
        raise RefusedURL("credentials in the URL are not allowed (use the channel's auth header)")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise RefusedURL("the URL has no host")
    port = _port(parts)
    if host in METADATA_NAMES:
        raise RefusedURL(f"{host} is a cloud metadata service")
    literal = _literal_address(host)
    if literal is not None:
        check_address(literal)
    return CheckedURL(url=url, host=host, port=port, https=scheme == "https")


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    # Forms that resolvers accept as IPv4 though they are not dotted quads: 2852039166, 0xa9fea9fe, 0251.0376.0251.0376.
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def check_address(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | str, *, allow_private: bool | None = None
) -> None:
    """Raises ``RefusedURL`` when a connection must not be made to ``address``."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        raise RefusedURL(f"{ip} is a cloud metadata address")
    if ip.is_link_local:
        raise RefusedURL(f"{ip} is a link-local address")
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        raise RefusedURL(f"{ip} is not an address a request may go to")
    if allow_private is None:
        from core.settings import get_settings

        allow_private = get_settings().outbound_allow_private
    if not allow_private and (ip.is_private or ip.is_loopback):
        raise RefusedURL(f"{ip} is a private address and this service only calls public ones")


async def resolve_checked(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to now, each checked; refused when any one is refused (a name that mixes a
    public and a metadata address is a rebinding attempt). Connect to one of these, not to the name again."""
    literal = _literal_address(host)
    if literal is not None:
        check_address(literal)
        return [str(literal)]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise RefusedURL(f"{host} does not resolve") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        check_address(address)
    return addresses
