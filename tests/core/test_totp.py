"""TOTP codes and sealed secrets (core/totp.py): a code matches its step and the steps beside it, nothing else; a
sealed secret opens only with the same key and for the same user."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import totp
from core.errors import Unavailable

pytest.importorskip("pyotp")

KEY = "k" * 48


def test_a_code_matches_its_step_and_the_drift_allowed_and_nothing_else() -> None:
    secret = totp.new_secret()
    now = datetime(2026, 12, 8, 2, 0, 15, tzinfo=UTC)
    step = totp.step_at(now)
    assert totp.matching_step(secret, totp.code_at(secret, step), now=now) == step
    assert totp.matching_step(secret, totp.code_at(secret, step - 1), now=now) == step - 1
    assert totp.matching_step(secret, totp.code_at(secret, step + 1), now=now) == step + 1
    assert totp.matching_step(secret, totp.code_at(secret, step + 2), now=now) is None
    assert totp.matching_step(secret, totp.code_at(secret, step), now=now + timedelta(minutes=2)) is None
    for hostile in ("", "12345", "1234567", "１２３４５６", " 123456", "12345\n", "abcdef"):
        assert totp.matching_step(secret, hostile, now=now) is None
    # RFC 6238's own test vector (SHA-1, 59 s): 94287082 in 8 digits, so 287082 in six.
    rfc = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert totp.code_at(rfc, totp.step_at(datetime.fromtimestamp(59, tz=UTC))) == "287082"


def test_a_sealed_secret_opens_only_with_its_key_and_for_its_user() -> None:
    secret = totp.new_secret()
    sealed = totp.seal(secret, key=KEY, username="li")
    assert secret not in sealed and sealed != totp.seal(secret, key=KEY, username="li")  # a fresh nonce each time
    assert totp.unseal(sealed, key=KEY, username="li") == secret
    for key, user in ((KEY + "x", "li"), (KEY, "wang")):
        with pytest.raises(Unavailable):
            totp.unseal(sealed, key=key, username=user)
    with pytest.raises(Unavailable):
        totp.unseal(secret, key=KEY, username="li")  # a secret stored in the clear is not taken as one
