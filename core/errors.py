"""The error tree. Domain code raises these; ``web`` maps each class to one HTTP status, once.

Every error carries a stable machine ``code`` and a ``detail`` written for a person.
"""

from __future__ import annotations

from typing import Any


class CommandpostError(Exception):
    """Base of every error a caller may see."""

    code = "error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class Invalid(CommandpostError):
    """The input breaks a rule (a field out of range, an unknown key, a malformed file)."""

    code = "invalid"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.field = field


class Unauthenticated(CommandpostError):
    """No credentials, or credentials that do not prove who the caller is."""

    code = "unauthenticated"


class TotpRequired(Unauthenticated):
    """The password was right, but this user signs in with a TOTP code too and sent none."""

    code = "totp_required"


class TotpInvalid(Unauthenticated):
    """The TOTP code is wrong, expired, or was used already."""

    code = "totp_invalid"


class TotpEnrolmentRequired(Unauthenticated):
    """The password was right, but the user's role must sign in with TOTP and the user has not enrolled yet."""

    code = "totp_enrolment_required"


class Forbidden(CommandpostError):
    """The caller is known but may not do this."""

    code = "forbidden"


class NotFound(CommandpostError):
    """The thing asked for does not exist (or the caller may not know it does)."""

    code = "not_found"


class Conflict(CommandpostError):
    """The request collides with the current state: a stale version, an illegal transition, a taken unit."""

    code = "conflict"


class TooLarge(CommandpostError):
    """The request or the file is larger than the configured limit."""

    code = "too_large"


class UnsupportedMedia(CommandpostError):
    """The file is not of a kind the endpoint takes (e.g. a photo that is not JPEG, PNG or WebP)."""

    code = "unsupported_media_type"


class Unavailable(CommandpostError):
    """A service we depend on (PostgreSQL, Redis) does not answer; retrying later may work."""

    code = "unavailable"


class TooManyRequests(CommandpostError):
    """The caller has tried too often (e.g. failed sign-ins); ``retry_after`` says in how many seconds to try again."""

    code = "too_many_requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after
