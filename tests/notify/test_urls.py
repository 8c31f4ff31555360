"""The outbound URL policy (notify/urls.py): what a webhook, SMS gateway or CAP feed URL may point at."""

from __future__ import annotations

import pytest

from notify.urls import RefusedURL, check_address, check_url, resolve_checked


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.org/commandpost",
        "http://10.1.2.3:8080/sms",
        "http://127.0.0.1:9000/hook",
        "https://[2001:db8::1]/x",
        "http://gateway.sc.gov.cn/send?to=1",
    ],
)
def test_allowed(url: str) -> None:
    assert check_url(url).url == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.org/x", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[::ffff:169.254.169.254]/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://100.100.100.200/latest/meta-data", "metadata"),
        ("http://169.254.0.23/", "metadata"),
        ("http://169.254.1.1/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://2852039166/", "metadata"),  # 169.254.169.254 as one number
        ("http://0xa9fea9fe/", "metadata"),
        ("http://0.0.0.0:8000/", "not an address"),
        ("http://224.0.0.1/", "not an address"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata service"),
        ("http://user:pw@example.org/", "credentials"),
        ("http://example.org:99999/", "port"),
        ("http:///nohost", "no host"),
        ("http://exa mple.org/", "spaces"),
        ("", "required"),
        ("https://example.org/" + "a" * 2100, "longer"),
    ],
)
def test_refused(url: str, why: str) -> None:
    with pytest.raises(RefusedURL, match=why):
        check_url(url)


def test_private_addresses_can_be_forbidden() -> None:
    check_address("10.0.0.1", allow_private=True)
    with pytest.raises(RefusedURL, match="private"):
        check_address("10.0.0.1", allow_private=False)
    with pytest.raises(RefusedURL, match="private"):
        check_address("127.0.0.1", allow_private=False)
    check_address("8.8.8.8", allow_private=False)


async def test_resolution_is_checked_address_by_address() -> None:
    assert await resolve_checked("127.0.0.1", 80) == ["127.0.0.1"]
    assert "127.0.0.1" in await resolve_checked("localhost", 80)
    with pytest.raises(RefusedURL, match="metadata"):
        await resolve_checked("169.254.169.254", 80)
    with pytest.raises(RefusedURL, match="does not resolve"):
        await resolve_checked("no-such-host.invalid", 80)
