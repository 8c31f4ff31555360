"""A callback number in any format: kept as typed elsewhere, normalised here for display."""

from __future__ import annotations

import pytest

from incidents.phones import display_phone

CASES = [
    ("138-0013-8000", "+86 138 0013 8000"),
    ("+86 138 0013 8000", "+86 138 0013 8000"),
    ("008613800138000", "+86 138 0013 8000"),
    ("8613800138000", "+86 138 0013 8000"),
    ("１３８ ００１３ ８０００", "+86 138 0013 8000"),  # full-width digits from a Chinese input method
    ("(028) 8888 8888 转 12", "+86 28 8888 8888 ext. 12"),
    ("０２８－８５５５１２３４", "+86 28 8555 1234"),
    ("010-6552 9988", "+86 10 6552 9988"),
    ("0086 10 6552 9988", "+86 10 6552 9988"),
    ("0816-2345678", "+86 816 234 5678"),
    ("+44 20 7946 0958", "+442079460958"),
    ("110", "110"),
    ("12345", "12345"),
    ("不方便留", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("typed", "shown"), CASES)
def test_display_forms(typed: str | None, shown: str | None) -> None:
    assert display_phone(typed) == shown
