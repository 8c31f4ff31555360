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
    issued_at: datetime
    expires_at: datetime


def _secret(settings: Settings) -> str:
    if settings.secret_key is None:
        raise Unavailable("COMMANDPOST_SECRET_KEY is not set, so no token can be issued or checked; run scripts/setup")
    return settings.secret_key.get_secret_value()


def issue_token(*, username: str, role: str, settings: Settings, now: datetime | None = None) -> tuple[str, datetime]:
    """A signed token for ``username`` and the moment it expires."""
    issued = now or utcnow()
    expires = issued + timedelta(minutes=settings.token_minutes)
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": username,
        "role": role,
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
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("the token has expired; sign in again") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthenticated("the token is not valid") from exc
    role = claims.get("role")
    if not isinstance(claims["sub"], str) or not isinstance(role, str):
        raise Unauthenticated("the token is not valid")
    return TokenClaims(
        username=claims["sub"],
        role=role,
        issued_at=datetime.fromtimestamp(claims["iat"], tz=UTC),
        expires_at=datetime.fromtimestamp(claims["exp"], tz=UTC),
    )
