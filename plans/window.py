"""A plan's time window: a yearly season (``"06-01"`` to ``"09-30"``, may wrap past New Year) or a one-off period
(dates or times, e.g. a festival). Pure: used when a plan is validated and each time it is matched."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTH_DAY = re.compile(r"^(\d{2})-(\d{2})$")
DEFAULT_TZ = "Asia/Shanghai"


@dataclass(frozen=True, slots=True)
class Window:
    """When a plan applies. ``yearly`` windows compare month and day in the plan's time zone; others compare
    instants (an end given as a date includes that whole day)."""

    yearly: bool
    start_md: tuple[int, int] | None
    end_md: tuple[int, int] | None
    start_at: datetime | None
    end_at: datetime | None
    tz: ZoneInfo
    text: str

    def contains(self, at: datetime) -> bool:
        """Whether the aware instant ``at`` falls in the window."""
        if self.yearly:
            assert self.start_md is not None and self.end_md is not None
            local = at.astimezone(self.tz)
            md = (local.month, local.day)
            if self.start_md <= self.end_md:
                return self.start_md <= md <= self.end_md
            return md >= self.start_md or md <= self.end_md  # wraps past New Year
        assert self.start_at is not None and self.end_at is not None
        return self.start_at <= at < self.end_at


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as 'Asia/Shanghai')") from None


def _month_day(text: str) -> tuple[int, int] | None:
    found = _MONTH_DAY.fullmatch(text)
    if found is None:
        return None
    month, day = int(found[1]), int(found[2])
    try:
        date(2000, month, day)  # a leap year: 02-29 is a real day
    except ValueError:
        raise ValueError(f"{text!r} is not a real month-day") from None
    return month, day


def _instant(value: str | date | datetime, tz: ZoneInfo, *, end: bool) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is neither 'MM-DD' (every year) nor an ISO date or date-time (once)") from None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=tz)
    day = value + timedelta(days=1) if end else value  # an end date includes its whole day
    return datetime.combine(day, time(0), tzinfo=tz)


def text_of(value: str | date | datetime) -> str:
    return value.isoformat() if isinstance(value, date | datetime) else str(value)


def parse_window(start: str | date | datetime, end: str | date | datetime, timezone: str = DEFAULT_TZ) -> Window:
    """A window from its two ends; ValueError (a sentence for a person) when they are malformed or inverted."""
    tz = _zone(timezone)
    start_text, end_text = text_of(start), text_of(end)
    start_md, end_md = _month_day(start_text), _month_day(end_text)
    label = f"{start_text} – {end_text} ({timezone})"
    if start_md is not None and end_md is not None:
        return Window(True, start_md, end_md, None, None, tz, f"every year {label}")
    if (start_md is None) != (end_md is None):
        raise ValueError("start and end must both be 'MM-DD' (every year) or both dates/date-times (once)")
    start_at, end_at = _instant(start, tz, end=False), _instant(end, tz, end=True)
    if end_at <= start_at:
        raise ValueError(f"the window ends ({end_text}) before it starts ({start_text})")
    return Window(False, None, None, start_at, end_at, tz, label)
