"""Writing CAP 1.2: a ``CapAlert`` as a document valid against the OASIS schema (elements in the schema's order,
times in its pattern, enumerations kept within their values)."""

from __future__ import annotations

from datetime import UTC, datetime

from lxml import etree

from notify.cap.model import CAP_NS, CapAlert, CapArea, CapInfo

CATEGORIES = frozenset(
    ("Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra", "CBRNE", "Other")
)
RESPONSE_TYPES = frozenset(
    ("Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None")
)
_C = "{" + CAP_NS + "}"


def cap_time(value: datetime) -> str:
    """A date-time in CAP's pattern: seconds, and an explicit offset (``+00:00`` for UTC, never ``Z``)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.replace(microsecond=0).isoformat()


def _number(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"


def _add(parent: etree._Element, name: str, text: str | None) -> None:
    if text is not None and text != "":
        etree.SubElement(parent, _C + name).text = text


def _pair(parent: etree._Element, name: str, key: str, value: str) -> None:
    node = etree.SubElement(parent, _C + name)
    etree.SubElement(node, _C + "valueName").text = key
    etree.SubElement(node, _C + "value").text = value


def _area(parent: etree._Element, area: CapArea) -> None:
    node = etree.SubElement(parent, _C + "area")
    etree.SubElement(node, _C + "areaDesc").text = area.desc or "—"
    for ring in area.polygons:
        _add(node, "polygon", " ".join(f"{_number(lat)},{_number(lon)}" for lat, lon in ring))
    for circle in area.circles:
        _add(node, "circle", f"{_number(circle.lat)},{_number(circle.lon)} {_number(circle.radius_km)}")
    for key, value in area.geocodes:
        _pair(node, "geocode", key, value)
    if area.altitude is not None:
        _add(node, "altitude", _number(area.altitude))
        if area.ceiling is not None:
            _add(node, "ceiling", _number(area.ceiling))


def _info(parent: etree._Element, info: CapInfo) -> None:
    node = etree.SubElement(parent, _C + "info")
    _add(node, "language", info.language)
    categories = [c for c in info.categories if c in CATEGORIES] or ["Other"]
    for category in categories:
        _add(node, "category", category)
    etree.SubElement(node, _C + "event").text = info.event or "—"
    for response in info.response_types:
        if response in RESPONSE_TYPES:
            _add(node, "responseType", response)
    _add(node, "urgency", info.urgency)
    _add(node, "severity", info.severity)
    _add(node, "certainty", info.certainty)
    _add(node, "audience", info.audience)
    for key, value in info.event_codes:
        _pair(node, "eventCode", key, value)
    for name, when in (("effective", info.effective), ("onset", info.onset), ("expires", info.expires)):
        if when is not None:
            _add(node, name, cap_time(when))
    for name, text in (
        ("senderName", info.sender_name),
        ("headline", info.headline),
        ("description", info.description),
        ("instruction", info.instruction),
        ("web", info.web),
        ("contact", info.contact),
    ):
        _add(node, name, text)
    for key, value in info.parameters:
        _pair(node, "parameter", key, value)
    for resource in info.resources:
        r = etree.SubElement(node, _C + "resource")
        etree.SubElement(r, _C + "resourceDesc").text = resource.desc or "—"
        etree.SubElement(r, _C + "mimeType").text = resource.mime_type or "application/octet-stream"
        if resource.size is not None:
            _add(r, "size", str(resource.size))
        _add(r, "uri", resource.uri)
        _add(r, "digest", resource.digest)
    for area in info.areas:
        _area(node, area)


def to_xml(alert: CapAlert) -> bytes:
    """The alert as a CAP 1.2 document (UTF-8, with its XML declaration)."""
    root = etree.Element(_C + "alert", nsmap={None: CAP_NS})
    _add(root, "identifier", alert.identifier)
    _add(root, "sender", alert.sender)
    _add(root, "sent", cap_time(alert.sent))
    _add(root, "status", alert.status)
    _add(root, "msgType", alert.msg_type)
    _add(root, "source", alert.source)
    _add(root, "scope", alert.scope)
    _add(root, "restriction", alert.restriction)
    _add(root, "addresses", alert.addresses)
    for code in alert.codes:
        _add(root, "code", code)
    _add(root, "note", alert.note)
    if alert.references:
        _add(root, "references", " ".join(r.text() for r in alert.references))
    _add(root, "incidents", alert.incidents)
    for info in alert.infos:
        _info(root, info)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
