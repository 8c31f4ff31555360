"""A CAP 1.2 message as plain data: what the codec reads out of a document and what the exporter writes back.

Pure data, no XML library: ``notify.service`` hands these to other packages without loading lxml in a web worker.
Coordinates are kept as CAP writes them on the wire (latitude first); ``CapArea.lon_lat_*`` give them in GeoJSON
order."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
# Namespaces of the CAP versions before 1.2: recognised so that they are refused by name.
OLDER_CAP_NS = {
    "urn:oasis:names:tc:emergency:cap:1.1": "1.1",
    "http://www.incident.com/cap/1.0": "1.0",
    "urn:oasis:names:tc:emergency:cap:1.0": "1.0",
}


class Profile(StrEnum):
    """Which format the message arrived in."""

    cap12 = "cap-1.2"
    gbt35965 = "gb-t-35965.1"  # China's national warning format (no namespace, colour as severity)


class SignatureState(StrEnum):
    verified = "verified"  # a valid XML-DSig signature by a certificate we trust
    unverified = "unverified"  # not signed, or signed by a key we do not trust (or cannot check)


@dataclass(frozen=True, slots=True)
class Reference:
    """One entry of ``<references>``: ``sender,identifier,sent``. ``sent`` is None when a sender wrote only part of
    the triple (seen in the wild); such a reference is matched on sender and identifier."""

    sender: str
    identifier: str
    sent: str | None

    def text(self) -> str:
        return ",".join(p for p in (self.sender, self.identifier, self.sent) if p is not None)


@dataclass(frozen=True, slots=True)
class Circle:
    lat: float
    lon: float
    radius_km: float


@dataclass(frozen=True, slots=True)
class CapArea:
    desc: str
    polygons: tuple[tuple[tuple[float, float], ...], ...] = ()  # each ring as (lat, lon) pairs, closed
    circles: tuple[Circle, ...] = ()
    geocodes: tuple[tuple[str, str], ...] = ()  # (valueName, value)
    altitude: float | None = None
    ceiling: float | None = None

    def as_json(self) -> dict[str, Any]:
        # Polygons as CAP writes them ("lat,lon lat,lon ..."): compact, and a national message's tens of thousands
        # of points cost no list per point (bench/cap_import.py).
        return {
            "desc": self.desc,
            "polygons": [" ".join(f"{lat!r},{lon!r}" for lat, lon in ring) for ring in self.polygons],
            "circles": [{"lat": c.lat, "lon": c.lon, "radius_km": c.radius_km} for c in self.circles],
            "geocodes": [{"name": n, "value": v} for n, v in self.geocodes],
            "altitude": self.altitude,
            "ceiling": self.ceiling,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CapArea:
        return cls(
            desc=data.get("desc") or "",
            polygons=tuple(_ring(ring) for ring in data.get("polygons") or ()),
            circles=tuple(Circle(c["lat"], c["lon"], c["radius_km"]) for c in data.get("circles") or ()),
            geocodes=tuple((g["name"], g["value"]) for g in data.get("geocodes") or ()),
            altitude=data.get("altitude"),
            ceiling=data.get("ceiling"),
        )


def _ring(value: str | list[list[float]]) -> tuple[tuple[float, float], ...]:
    if isinstance(value, str):
        return tuple((float(a), float(b)) for a, b in (pair.split(",") for pair in value.split()))
    return tuple((float(a), float(b)) for a, b in value)


@dataclass(frozen=True, slots=True)
class CapResource:
    desc: str
    mime_type: str | None = None
    size: int | None = None
    uri: str | None = None
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class CapInfo:
    """One ``<info>`` block: the message in one language."""

    language: str
    categories: tuple[str, ...]
    event: str
    urgency: str
    severity: str
    certainty: str
    response_types: tuple[str, ...] = ()
    audience: str | None = None
    event_codes: tuple[tuple[str, str], ...] = ()
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    sender_name: str | None = None
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    web: str | None = None
    contact: str | None = None
    parameters: tuple[tuple[str, str], ...] = ()
    resources: tuple[CapResource, ...] = ()
    areas: tuple[CapArea, ...] = ()
    colour: str | None = None  # red/orange/yellow/blue when the message says so (China's format, parameters)

    def as_json(self) -> dict[str, Any]:
        def when(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "language": self.language,
            "categories": list(self.categories),
            "event": self.event,
            "response_types": list(self.response_types),
            "urgency": self.urgency,
            "severity": self.severity,
            "certainty": self.certainty,
            "audience": self.audience,
            "event_codes": [{"name": n, "value": v} for n, v in self.event_codes],
            "effective": when(self.effective),
            "onset": when(self.onset),
            "expires": when(self.expires),
            "sender_name": self.sender_name,
            "headline": self.headline,
            "description": self.description,
            "instruction": self.instruction,
            "web": self.web,
            "contact": self.contact,
            "parameters": [{"name": n, "value": v} for n, v in self.parameters],
            "resources": [
                {"desc": r.desc, "mime_type": r.mime_type, "size": r.size, "uri": r.uri, "digest": r.digest}
                for r in self.resources
            ],
            "areas": [a.as_json() for a in self.areas],
            "colour": self.colour,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CapInfo:
        def when(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        return cls(
            language=data.get("language") or "en-US",
            categories=tuple(data.get("categories") or ()),
            event=data.get("event") or "",
            response_types=tuple(data.get("response_types") or ()),
            urgency=data.get("urgency") or "Unknown",
            severity=data.get("severity") or "Unknown",
            certainty=data.get("certainty") or "Unknown",
            audience=data.get("audience"),
            event_codes=tuple((c["name"], c["value"]) for c in data.get("event_codes") or ()),
            effective=when(data.get("effective")),
            onset=when(data.get("onset")),
            expires=when(data.get("expires")),
            sender_name=data.get("sender_name"),
            headline=data.get("headline"),
            description=data.get("description"),
            instruction=data.get("instruction"),
            web=data.get("web"),
            contact=data.get("contact"),
            parameters=tuple((p["name"], p["value"]) for p in data.get("parameters") or ()),
            resources=tuple(
                CapResource(r["desc"], r.get("mime_type"), r.get("size"), r.get("uri"), r.get("digest"))
                for r in data.get("resources") or ()
            ),
            areas=tuple(CapArea.from_json(a) for a in data.get("areas") or ()),
            colour=data.get("colour"),
        )


@dataclass(frozen=True, slots=True)
class CapAlert:
    """One alert message, checked against the schema and the rules the schema cannot express."""

    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str
    source: str | None = None
    restriction: str | None = None
    addresses: str | None = None
    codes: tuple[str, ...] = ()
    note: str | None = None
    references: tuple[Reference, ...] = ()
    incidents: str | None = None
    infos: tuple[CapInfo, ...] = ()
    profile: Profile = Profile.cap12
    signature: SignatureState = SignatureState.unverified
    signer: str | None = None  # the trusted certificate's subject, or why the message is unverified
    original: bytes | None = field(default=None, repr=False)  # the document as received (CAP 1.2 only)
    signed: bool = False  # it carries an XML-DSig <Signature> (judged by notify.cap.signature)
