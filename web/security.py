"""Bearer tokens: signed JWTs (HS256) that carry the user's name and role and live TOKEN_MINUTES."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from core.clock import utcnow
from core.errors import Unauthenticated, Unavailable
from core.settings import Settings
from core.users import Signer

ALGORITHM = "HS256"
ISSUER = "commandpost"


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says about its bearer."""

    username: str
    role: str
    password_stamp: int
    issued_at: datetime
    expires_at: datetime


def password_stamp(changed_at: datetime) -> int:
    """The user's password version as carried in a token: a new password makes every older token invalid."""
    return int(changed_at.timestamp() * 1_000_000)


def _secret(settings: Settings) -> str:
    if settings.secret_key is None:
        raise Unavailable("COMMANDPOST_SECRET_KEY is not set, so no token can be issued or checked; run scripts/setup")
    return settings.secret_key.get_secret_value()


def issue_token(
    *, username: str, role: str, password_changed_at: datetime, settings: Settings, now: datetime | None = None
) -> tuple[str, datetime]:
    """A signed token for ``username`` and the moment it expires."""
    issued = now or utcnow()
    expires = issued + timedelta(minutes=settings.token_minutes)
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": username,
        "role": role,
        "pwd": password_stamp(password_changed_at),
        "iat": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
    }
    return jwt.encode(claims, _secret(settings), algorithm=ALGORITHM), expires


def verify_token(token: str, *, settings: Settings) -> TokenClaims:
    """Check signature, issuer and expiry; any failure is Unauthenticated without saying more than needed."""
    try:
        claims = jwt.decode(
            token,
            _secret(settings),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss", "pwd"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("the token has expired; sign in again") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthenticated("the token is not valid") from exc
    role = claims.get("role")
    if not isinstance(claims["sub"], str) or not isinstance(role, str) or not isinstance(claims["pwd"], int):
        raise Unauthenticated("the token is not valid")
    return TokenClaims(
        username=claims["sub"],
        role=role,
        password_stamp=claims["pwd"],
        issued_at=datetime.fromtimestamp(claims["iat"], tz=UTC),
        expires_at=datetime.fromtimestamp(claims["exp"], tz=UTC),
    )


class AuthCache:
    """What the token check learnt recently, per app: verified tokens, and the users they named.

    A verified token stays verified (its signature does not change); it is still refused once it expires.
    A token's user (still active? same password? which role?) is read at most once per ``seconds``: deactivating
    a user or resetting a password reaches every worker within ``seconds`` instead of at once (a signed token alone,
    with no lookup, would stay good until it expires). Both maps are bounded; the oldest entries go first.
    """

    def __init__(self, seconds: float, *, size: int = 10_000, clock: Any = time.monotonic) -> None:
        self.seconds = seconds
        self.size = size
        self._clock = clock
        self._tokens: OrderedDict[str, TokenClaims] = OrderedDict()
        self._signers: OrderedDict[str, tuple[float, Signer]] = OrderedDict()
        self._reading: dict[str, asyncio.Future[Signer | None]] = {}

    def claims(self, token: str, *, settings: Settings) -> TokenClaims:
        """``verify_token``, remembering tokens that passed."""
        claims = self._tokens.get(token)
        if claims is None:
            claims = verify_token(token, settings=settings)
            self._keep(self._tokens, token, claims)
        elif claims.expires_at <= utcnow():
            del self._tokens[token]
            raise Unauthenticated("the token has expired; sign in again")
        return claims

    def signer(self, username: str) -> Signer | None:
        entry = self._signers.get(username)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._signers[username]
            return None
        return entry[1]

    def forget(self, username: str) -> None:
        """Read the user again on their next request (an admin changed them; other workers within ``seconds``)."""
        self._signers.pop(username, None)

    def holds(self, signer: Signer) -> bool:
        """True while this very reading of a user is the one the cache holds and trusts (no newer one, not expired):
        whatever was proven with it still is. Cheap enough for every message of an open websocket."""
        entry = self._signers.get(signer.username)
        return entry is not None and entry[1] is signer and entry[0] > self._clock()

    async def read_signer(self, username: str, load: Callable[[], Awaitable[Signer | None]]) -> Signer | None:
        """Read a user with ``load`` once for all who miss at the same moment, and keep it: the first reads, the
        others wait for its answer. Without this, every open websocket of a user re-reads it from the database at
        the same instant its entry expires (a thousand SELECTs per worker every ``seconds``, measured by
        bench/live.py). Should the reader be cancelled, a waiter reads for itself; its error reaches them all."""
        pending = self._reading.get(username)
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # this caller was cancelled, not the read it waited for
            return await self.read_signer(username, load)
        future: asyncio.Future[Signer | None] = asyncio.get_running_loop().create_future()
        self._reading[username] = future
        try:
            user = await load()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so a read no one waited for is not reported as lost
            raise
        finally:
            if self._reading.get(username) is future:
                del self._reading[username]
        if user is not None:
            self.keep_signer(user)
        future.set_result(user)
        return user

    def keep_signer(self, signer: Signer) -> None:
        if self.seconds > 0:
            self._keep(self._signers, signer.username, (self._clock() + self.seconds, signer))

    def _keep(self, entries: OrderedDict[str, Any], key: str, value: Any) -> None:
        entries[key] = value
        entries.move_to_end(key)
        while len(entries) > self.size:
            entries.popitem(last=False)
