"""China's national warning format (GB/T 35965.1, the CAP-derived profile of the national early-warning release
system) into the same ``CapAlert`` as CAP 1.2.

Its differences: no namespace; ``senderCode`` beside ``sender`` (the name); ``sendTime`` with a space between date
and time; ``eventType`` codes such as ``11B06`` instead of ``event``/``category``; ``severity`` as a colour
(Red/Orange/Yellow/Blue); ``geocode`` as a bare list of administrative division codes; references as bare
identifiers. The event code table is data (``gbt35965_events.yaml``). The result meets the same rules as CAP 1.2
(``notify.cap.rules``), and exports as valid CAP 1.2.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from lxml import etree

from notify.cap import rules
from notify.cap.model import CAP_NS, CapAlert, CapArea, CapInfo, Circle, Profile, Reference
from notify.cap.parse import refuse

TABLE_PATH = Path(__file__).with_name("gbt35965_events.yaml")
CODE_NAME = "GB/T 35561"  # the eventCode valueName the adapter writes
GEOCODE_NAME = "GB/T 2260"  # administrative division codes
CHINA_TIME = timezone(timedelta(hours=8))
STATUSES = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPES = ("Alert", "Update", "Cancel", "Ack", "Error")
SCOPES = ("Public", "Restricted", "Private")
URGENCIES = ("Immediate", "Expected", "Future", "Past", "Unknown")
CERTAINTIES = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")


@dataclass(frozen=True, slots=True)
class ChinaEvent:
    code: str
    zh: str
    en: str
    subtype: str | None
    category: str | None
    cap_category: str


@lru_cache(maxsize=1)
def table() -> dict[str, Any]:
    with TABLE_PATH.open(encoding="utf-8") as f:
        loaded: dict[str, Any] = yaml.safe_load(f)
    return loaded


def event(code: str) -> ChinaEvent:
    """What an event type code stands for; an unlisted code is named by itself, its category from its prefix."""
    data = table()
    row = data["codes"].get(code)
    if row is not None:
        return ChinaEvent(code, row["zh"], row["en"], row.get("subtype"), None, row["cap_category"])
    for prefix in sorted(data["prefixes"], key=len, reverse=True):
        if code.startswith(prefix):
            p = data["prefixes"][prefix]
            return ChinaEvent(code, code, code, None, p.get("category"), p["cap_category"])
    return ChinaEvent(code, code, code, None, None, "Other")


def colour(severity: str | None) -> tuple[str | None, str]:
    """(colour, CAP severity) of a GB/T severity, which is a colour (or, in some senders' messages, a CAP word)."""
    if not severity:
        return None, "Unknown"
    if severity in SEVERITIES:
        return rules.COLOUR_OF_SEVERITY.get(severity), severity
    folded = severity.strip().lower()
    for name, row in table()["colours"].items():
        if any(folded == str(w).lower() for w in row["words"]):
            return name, row["severity"]
    found = rules.colour_word(severity)
    return found, rules.SEVERITY_OF_COLOUR.get(found or "", "Unknown")


def _text(element: etree._Element, name: str) -> str | None:
    child = element.find(name)
    if child is None or child.text is None:
        return None
    value = child.text.strip()
    return value or None


def _time(value: str | None, *, field: str) -> datetime | None:
    if value is None:
        return None
    text = value.strip().replace("/", "-")
    if len(text) > 10 and text[10] == " ":
        text = text[:10] + "T" + text[11:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise refuse("gbt", f"{field} {value!r} is not a date and time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA_TIME)  # the national system's own time


def _choice(value: str | None, allowed: tuple[str, ...], *, field: str, default: str | None = None) -> str:
    if value is None and default is not None:
        return default
    if value not in allowed:
        raise refuse("gbt", f"<{field}> is {value!r}; it must be one of {', '.join(allowed)}")
    return value


def _area(element: etree._Element, where: str) -> CapArea:
    desc = _text(element, "areaDesc") or ""
    label = f"{where} area {desc[:60]!r}"
    polygons = tuple(
        rules.polygon(t, where=label) for t in (c.text for c in element.iterfind("polygon")) if t and t.strip()
    )
    circles: tuple[Circle, ...] = tuple(
        rules.circle(t, where=label) for t in (c.text for c in element.iterfind("circle")) if t and t.strip()
    )
    codes: list[str] = []
    for geocode in element.iterfind("geocode"):
        value = _text(geocode, "value") if len(geocode) else (geocode.text or "")
        for code in (value or "").replace("，", ",").split(","):
            if code.strip() and code.strip() not in codes:
                codes.append(code.strip())
    # "河南省,河南省": the national system repeats a name per code.
    names = list(dict.fromkeys(n.strip() for n in desc.replace("，", ",").split(",") if n.strip()))
    return CapArea(
        desc="，".join(names) or desc or "—",
        polygons=polygons,
        circles=circles,
        geocodes=tuple((GEOCODE_NAME, c) for c in codes),
    )


def _info(element: etree._Element, index: int) -> CapInfo:
    where = f"info {index + 1}"
    code = _text(element, "eventType") or ""
    known = event(code) if code else None
    hue, severity = colour(_text(element, "severity"))
    categories = tuple(c.text.strip() for c in element.iterfind("category") if c.text and c.text.strip())
    return CapInfo(
        language=_text(element, "language") or "zh-CN",
        categories=categories or ((known.cap_category,) if known else ("Other",)),
        event=_text(element, "event") or (known.zh if known else "预警"),
        urgency=_choice(_text(element, "urgency"), URGENCIES, field="urgency", default="Unknown"),
        severity=severity,
        certainty=_choice(_text(element, "certainty"), CERTAINTIES, field="certainty", default="Unknown"),
        event_codes=((CODE_NAME, code),) if code else (),
        effective=_time(_text(element, "effective"), field=f"{where} effective"),
        onset=_time(_text(element, "onset"), field=f"{where} onset"),
        expires=_time(_text(element, "expires"), field=f"{where} expires"),
        sender_name=_text(element, "senderName"),
        headline=_text(element, "headline"),
        description=_text(element, "description"),
        instruction=_text(element, "instruction"),
        web=_text(element, "web"),
        contact=_text(element, "contact"),
        areas=tuple(_area(a, where) for a in element.iterfind("area")),
        colour=hue,
    )


def looks_like(root: etree._Element) -> bool:
    """An un-namespaced ``alert`` in the national style: it has an identifier and a send time."""
    return root.find("identifier") is not None and (root.find("sendTime") is not None or root.find("sent") is not None)


def read(root: etree._Element) -> CapAlert:
    """A GB/T 35965.1 message as a ``CapAlert`` (profile ``gb-t-35965.1``), or a refusal saying what is missing."""
    if not looks_like(root):
        raise refuse(
            "namespace",
            "the <alert> has no namespace and is not a GB/T 35965.1 message either (no identifier and sendTime); "
            f'CAP 1.2 messages carry xmlns="{CAP_NS}"',
        )
    identifier = _text(root, "identifier")
    sender = _text(root, "senderCode") or _text(root, "sender")
    sent = _time(_text(root, "sendTime") or _text(root, "sent"), field="sendTime")
    if not identifier or not sender or sent is None:
        raise refuse("gbt", "a GB/T 35965.1 message needs <identifier>, <senderCode> (or <sender>) and <sendTime>")
    sender = sender.replace(" ", "")
    refs = tuple(
        Reference(sender, token, None) if token.count(",") < 2 else Reference(*token.split(",", 2))
        for token in (_text(root, "references") or "").replace("，", " ").split()
    )
    sender_name = _text(root, "sender")
    infos = tuple(_info(info, i) for i, info in enumerate(root.iterfind("info")))
    if sender_name and infos and not infos[0].sender_name:
        from dataclasses import replace

        infos = (replace(infos[0], sender_name=sender_name), *infos[1:])
    alert = CapAlert(
        identifier=identifier,
        sender=sender,
        sent=sent,
        status=_choice(_text(root, "status"), STATUSES, field="status"),
        msg_type=_choice(_text(root, "msgType"), MSG_TYPES, field="msgType"),
        scope=_choice(_text(root, "scope"), SCOPES, field="scope", default="Public"),
        source=sender_name,
        note=_text(root, "note"),
        references=refs,
        infos=infos,
        profile=Profile.gbt35965,
    )
    rules.check(alert, references_given=root.find("references") is not None)
    return alert
