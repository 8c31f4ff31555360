"""The CAP 1.2 rules the XML schema cannot express (OASIS CAP 1.2, section 3), and the colour a message carries.

Pure functions over text and ``notify.cap.model``: no XML library here, so the exporter and China's adapter share
them."""

from __future__ import annotations

import re

from core.errors import Invalid
from notify.cap.model import CapAlert, CapInfo, Circle

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PAIR = re.compile(rf"\s*({_NUMBER})\s*,\s*({_NUMBER})\s*")
_CIRCLE = re.compile(rf"^\s*({_NUMBER})\s*,\s*({_NUMBER})\s+({_NUMBER})\s*$")
# Characters CAP 1.2 forbids in identifier and sender (3.2.1: "MUST NOT include spaces, commas or restricted
# characters (< and &)").
_FORBIDDEN = re.compile(r"[\s,<&]")
NEEDS_REFERENCES = ("Update", "Cancel", "Ack", "Error")
COLOURS = ("red", "orange", "yellow", "blue")
# Colour words in the languages warnings reach us in (simplified and traditional Chinese too).
_COLOUR_WORDS = {
    "red": ("red", "红色", "紅色", "红", "紅"),
    "orange": ("orange", "amber", "橙色", "橙"),
    "yellow": ("yellow", "黄色", "黃色", "黄", "黃"),
    "blue": ("blue", "蓝色", "藍色", "蓝", "藍"),
}
_HEADLINE_COLOUR = re.compile(
    r"(红|紅|橙|黄|黃|蓝|藍)色(?:预警|預警|警报|警報|警戒)|\b(red|orange|yellow|blue)\s+(?:warning|alert|level)\b",
    re.IGNORECASE,
)
SEVERITY_OF_COLOUR = {"red": "Extreme", "orange": "Severe", "yellow": "Moderate", "blue": "Minor"}
COLOUR_OF_SEVERITY = {v: k for k, v in SEVERITY_OF_COLOUR.items()}


def refuse(detail: str) -> Invalid:
    return Invalid(detail, field="body", reason="rule")


def _lat_lon(lat: float, lon: float, where: str) -> None:
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise refuse(f"{where}: point {lat},{lon} is not a latitude,longitude (CAP writes latitude first)")


def polygon(text: str, *, where: str) -> tuple[tuple[float, float], ...]:
    """A ``<polygon>``: at least four ``lat,lon`` pairs, the first and the last the same (CAP 1.2, 3.3.2)."""
    points = _fast_pairs(text)
    if points is None:  # written loosely (a space after a comma): the careful reading
        points = _loose_pairs(text, where)
    if len(points) < 4:
        raise refuse(f"{where}: polygon has {len(points)} point(s); CAP 1.2 needs at least 4, the first repeated last")
    if points[0] != points[-1]:
        raise refuse(f"{where}: polygon is not closed (its first point {points[0]} is not repeated as the last)")
    for lat, lon in points:
        _lat_lon(lat, lon, where)
    return tuple(points)


def _fast_pairs(text: str) -> list[tuple[float, float]] | None:
    """``lat,lon lat,lon ...`` as CAP writes it; None when the text is written any other way."""
    points = []
    try:
        for token in text.split():
            lat, lon = token.split(",")
            points.append((float(lat), float(lon)))
    except ValueError:
        return None
    return points


def _loose_pairs(text: str, where: str) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    position = 0
    for match in _PAIR.finditer(text):
        if text[position : match.start()].strip():
            break
        points.append((float(match.group(1)), float(match.group(2))))
        position = match.end()
    if text[position:].strip():
        raise refuse(f"{where}: polygon is not a list of space-separated latitude,longitude pairs")
    return points


def circle(text: str, *, where: str) -> Circle:
    """A ``<circle>``: ``lat,lon radius`` with the radius in kilometres, not negative."""
    match = _CIRCLE.match(text)
    if match is None:
        raise refuse(f"{where}: circle {text.strip()[:60]!r} is not 'latitude,longitude radius'")
    lat, lon, radius = (float(g) for g in match.groups())
    _lat_lon(lat, lon, where)
    if radius < 0:
        raise refuse(f"{where}: circle radius {radius} km is negative")
    return Circle(lat=lat, lon=lon, radius_km=radius)


def colour_word(text: str | None) -> str | None:
    """The warning colour a short value names (``Red``, ``红色``, ``3; orange; Severe``), or None."""
    if not text:
        return None
    folded = text.strip().lower()
    for colour, words in _COLOUR_WORDS.items():
        if any(re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", folded) for w in words):
            return colour
    return None


def colour_of(info: CapInfo) -> str | None:
    """The colour level an ``info`` states: a colour-like parameter (MeteoAlarm's ``awareness_level``, Taiwan's
    ``alert_color``, ...), else, when its severity is Unknown, a "<colour> warning" in its headline or event; None
    when it says none (the severity then stands for a colour: ``COLOUR_OF_SEVERITY``)."""
    for name, value in info.parameters:
        lowered = name.lower()
        if any(k in lowered for k in ("colour", "color", "awareness_level", "预警级别", "預警級別")):
            found = colour_word(value)
            if found:
                return found
    if info.severity in COLOUR_OF_SEVERITY:  # a stated severity beats words in a headline ("红色预警降为橙色")
        return None
    for text in (info.headline, info.event):
        match = _HEADLINE_COLOUR.search(text or "")
        if match:
            return colour_word(match.group(0))
    return None


def check(alert: CapAlert, *, references_given: bool) -> None:
    """Refuse a message that breaks a rule of CAP 1.2 the schema leaves open."""
    for name, value in (("identifier", alert.identifier), ("sender", alert.sender)):
        if not value:
            raise refuse(f"<{name}> is empty")
        if _FORBIDDEN.search(value):
            raise refuse(f"<{name}> {value[:80]!r} contains a space, a comma, '<' or '&', which CAP 1.2 forbids")
    if alert.msg_type in NEEDS_REFERENCES and not alert.references:
        said = "an empty <references>" if references_given else "no <references>"
        raise refuse(
            f"a {alert.msg_type} message must name the earlier message(s) it concerns in <references> "
            f"(sender,identifier,sent); this one has {said}"
        )
    if alert.scope == "Restricted" and not alert.restriction:
        raise refuse("a message with scope Restricted needs a <restriction>")
    if alert.scope == "Private" and not alert.addresses:
        raise refuse("a message with scope Private needs <addresses>")
    for index, info in enumerate(alert.infos):
        # A Cancel often repeats the info of what it cancels, expiry included: only messages that warn must not
        # expire before they are sent.
        if alert.msg_type != "Cancel" and info.expires is not None and info.expires < alert.sent:
            raise refuse(
                f"info {index + 1}: expires ({info.expires.isoformat()}) is before the message was sent "
                f"({alert.sent.isoformat()})"
            )
