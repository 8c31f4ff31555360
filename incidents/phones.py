"""A callback number as the caller gave it, normalised for display (pure).

The number is kept as typed, whatever its form (``138-0013-8000``, ``+86 138 0013 8000``, ``(028) 8888 8888 转 12``,
full-width digits from a Chinese input method); the display form is what an officer dials from: mainland China's
mobiles and landlines written ``+86 138 0013 8000`` / ``+86 28 8888 8888``, other international numbers ``+`` and their
digits, short service numbers (110, 12345) as they are, an extension after ``ext.``. Fewer than three digits give no
display form (the typed text is still kept).
"""

from __future__ import annotations

import re
import unicodedata

MAX_PHONE = 40
_EXTENSION = re.compile(r"(?:转|分机|ext\.?|x|#)\s*(\d{1,6})\s*$", re.IGNORECASE)
_MOBILE = re.compile(r"1[3-9]\d{9}")
# Landline area codes of two digits after the trunk 0: Beijing 10, and 20-29 (Guangzhou, Shanghai, ... Chengdu 28).
_TWO_DIGIT_AREA = re.compile(r"(10|2\d)")


def _group_mobile(digits: str) -> str:
    return f"{digits[:3]} {digits[3:7]} {digits[7:]}"


def _group_landline(national: str) -> str:
    """``national`` without the trunk 0: area code, then the local number in groups of four from the right."""
    area_len = 2 if _TWO_DIGIT_AREA.match(national) else 3
    area, local = national[:area_len], national[area_len:]
    if len(local) == 8:
        return f"{area} {local[:4]} {local[4:]}"
    return f"{area} {local[:3]} {local[3:]}" if len(local) == 7 else f"{area} {local}"


def _china(national: str) -> str | None:
    """A mainland number without country code or trunk prefix, as ``+86 …``; None when it is neither form."""
    if _MOBILE.fullmatch(national):
        return "+86 " + _group_mobile(national)
    if 9 <= len(national) <= 11 and (national[0] != "1" or national.startswith("10")):
        return "+86 " + _group_landline(national)
    return None


def display_phone(typed: str | None) -> str | None:
    """The display form of a typed number (see the module docstring), or None when there is nothing to dial."""
    if not typed:
        return None
    text = unicodedata.normalize("NFKC", typed).strip()  # full-width digits and plus signs become ASCII
    extension = None
    found = _EXTENSION.search(text)
    if found and re.search(r"\d{3}", text[: found.start()]):
        extension, text = found.group(1), text[: found.start()]
    international = text.lstrip().startswith("+") or re.sub(r"\D", "", text).startswith("00")
    digits = re.sub(r"\D", "", text)
    if len(digits) < 3:
        return None
    if international:
        digits = digits[2:] if digits.startswith("00") else digits
        shown = (_china(digits[2:]) if digits.startswith("86") else None) or "+" + digits
    elif digits.startswith("86") and len(digits) == 13 and _MOBILE.fullmatch(digits[2:]):
        shown = "+86 " + _group_mobile(digits[2:])
    elif digits.startswith("0") and (china := _china(digits[1:])) is not None:
        shown = china
    else:
        shown = (_china(digits) if _MOBILE.fullmatch(digits) else None) or digits
    return f"{shown} ext. {extension}" if extension else shown
