"""TOTP (RFC 6238) as a second factor: secrets, the otpauth:// URI an authenticator app scans, checking a code once.

A code is six digits for a 30-second time step; the step before and the step after are accepted too (a phone's
clock a little off, a code typed as it turned over). ``matching_step`` says which step a code matched, so the
caller can refuse a step already used (a code read over someone's shoulder, or replayed from a log, is good once).

The secret is sealed (AES-256-GCM, a key derived from SECRET_KEY by HKDF) before it is stored: a database dump or
backup alone does not give the second factor away. A new SECRET_KEY therefore voids every enrolment (``unseal``
fails); an admin resets the users' TOTP and they enrol again.

pyotp and cryptography are imported on first use: only the sign-in and enrolment of users with TOTP load them, so a
web worker stays lean (tests/test_lean_worker.py).
"""

from __future__ import annotations

import base64
import hmac
import os
import re
from datetime import datetime
from typing import TYPE_CHECKING

from core.errors import Unavailable

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

STEP_S = 30
DIGITS = 6
DRIFT_STEPS = 1  # steps either side of now that are accepted
CODE_PATTERN = re.compile(r"^[0-9]{6}$")
_SEALED_PREFIX = "v1:"
_HKDF_INFO = b"commandpost totp secret v1"


def new_secret() -> str:
    """A fresh random secret (160 bits, base32, as authenticator apps take it)."""
    import pyotp

    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, *, username: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI for an authenticator app (usually shown as a QR code)."""
    import pyotp

    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S).provisioning_uri(name=username, issuer_name=issuer)


def step_at(moment: datetime) -> int:
    """The time step a moment falls in."""
    return int(moment.timestamp()) // STEP_S


def code_at(secret: str, step: int) -> str:
    """The code of ``step`` (tests and the check below)."""
    import pyotp

    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S).generate_otp(step)


def matching_step(secret: str, code: str, *, now: datetime) -> int | None:
    """The time step near ``now`` whose code ``code`` is, or None. Every candidate is compared in constant time."""
    if not CODE_PATTERN.fullmatch(code):
        return None
    current = step_at(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(code_at(secret, step), code) and found is None:
            found = step
    return found


def _cipher(key: str) -> AESGCM:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(key.encode())
    return AESGCM(derived)


def seal(secret: str, *, key: str, username: str) -> str:
    """``secret`` encrypted for storage; bound to ``username`` (a sealed secret copied to another row fails)."""
    nonce = os.urandom(12)
    sealed = _cipher(key).encrypt(nonce, secret.encode(), username.encode())
    return _SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(stored: str, *, key: str, username: str) -> str:
    """The secret ``seal`` stored; Unavailable when it cannot be read (SECRET_KEY changed since, or tampered)."""
    from cryptography.exceptions import InvalidTag

    if not stored.startswith(_SEALED_PREFIX):
        raise Unavailable("the stored TOTP secret is not readable; an admin must reset this user's TOTP")
    raw = base64.urlsafe_b64decode(stored[len(_SEALED_PREFIX) :])
    try:
        return _cipher(key).decrypt(raw[:12], raw[12:], username.encode()).decode()
    except (InvalidTag, ValueError) as exc:
        raise Unavailable(
            "the stored TOTP secret cannot be decrypted (was SECRET_KEY changed?); an admin must reset this user's TOTP"
        ) from exc
