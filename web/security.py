"""Bearer tokens: signed JWTs (HS256) that carry the user's name and role and live TOKEN_MINUTES."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from core.clock import utcnow
from core.errors import Unauthenticated, Unavailable
from core.settings import Settings

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
