"""Limits on failed sign-ins, per user name and per client address, checked before any password is.

``signin_max_failures_per_name`` failures for one name within ``signin_window_seconds`` block that name for
``signin_lockout_seconds``: every sign-in with it is then refused with 429 and ``Retry-After``, the right password
included (checking it is the work being refused). Each further failure in the same window blocks it again. The same
holds, at a higher threshold, for one client address; a name's block does not touch other names from that address.
Names that do not exist are counted like names that do, so a 429 tells nothing about who has an account.
A successful sign-in clears its name's count, never its address's.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import TooManyRequests
from core.settings import Settings
from web.counters import Counters


@dataclass(frozen=True)
class Trip:
    """A limit reached: the first time in a window that a name or an address is blocked (worth an audit row)."""

    per: str  # "user name" or "address"
    failures: int
    window_s: float
    locked_s: float


class SignInGuard:
    """Counts failed sign-ins and refuses names and addresses that failed too often."""

    def __init__(self, counters: Counters, settings: Settings) -> None:
        self.counters = counters
        self.window_s = settings.signin_window_seconds
        self.lockout_s = settings.signin_lockout_seconds
        self.per_name = settings.signin_max_failures_per_name
        self.per_address = settings.signin_max_failures_per_address

    async def check(self, *, username: str, address: str) -> None:
        """Raise TooManyRequests when the name or the address is blocked (no password has been checked yet)."""
        name_wait = await self.counters.blocked_for(_name(username))
        if name_wait:
            raise TooManyRequests(
                f"too many failed sign-ins for this user name; try again in {name_wait} s", retry_after=name_wait
            )
        address_wait = await self.counters.blocked_for(_address(address))
        if address_wait:
            raise TooManyRequests(
                f"too many failed sign-ins from this address; try again in {address_wait} s", retry_after=address_wait
            )

    async def failed(self, *, username: str, address: str) -> list[Trip]:
        """Count a failed sign-in; block what reached its limit. Returns the limits reached for the first time."""
        trips = []
        for per, key, limit in (
            ("user name", _name(username), self.per_name),
            ("address", _address(address), self.per_address),
        ):
            failures = await self.counters.hit(key, window_s=self.window_s)
            if failures >= limit:
                await self.counters.block(key, seconds=self.lockout_s)
                if failures == limit:
                    trips.append(Trip(per=per, failures=failures, window_s=self.window_s, locked_s=self.lockout_s))
        return trips

    async def succeeded(self, *, username: str) -> None:
        """The name's owner got in: its earlier failures no longer count."""
        await self.counters.forget(_name(username))


def _name(username: str) -> str:
    return f"signin:name:{username}"


def _address(address: str) -> str:
    return f"signin:address:{address}"
