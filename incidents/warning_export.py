"""CAP 1.2 out: a warning as we received it (or rebuilt from its record), and an incident as a warning message.

An incident's message (DOMAIN.md section 2's scales): grade I–IV → severity Extreme…Minor; its status → urgency and
certainty; ``info`` in zh-CN and en; its impact area as a ``circle`` (gis's default impact radius for its subtype
and grade); ``Exercise`` for a drill (source ``drill`` or ``exercise``); ``Alert`` first, ``Update`` (referencing
the first message) after any change, ``Cancel`` once it is closed or cancelled."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from incidents.models import Incident
from incidents.taxonomy import CATEGORIES, SUBTYPES
from incidents.warning_models import Warning
from notify.service import (
    CapAlert,
    CapArea,
    CapCircle,
    CapInfo,
    CapProfile,
    CapReference,
    SignatureState,
    cap_xml,
)

SEVERITY_OF_LEVEL = {"I": "Extreme", "II": "Severe", "III": "Moderate", "IV": "Minor"}
# (urgency, certainty) by incident status.
URGENCY_CERTAINTY = {
    "reported": ("Immediate", "Likely"),
    "verified": ("Immediate", "Observed"),
    "responding": ("Immediate", "Observed"),
    "contained": ("Expected", "Observed"),
    "closed": ("Past", "Observed"),
    "cancelled": ("Past", "Unlikely"),
}
CAP_CATEGORY_OF_CATEGORY = {
    "natural_disaster": "Met",
    "accident_disaster": "Safety",
    "public_health": "Health",
    "social_security": "Security",
}
CAP_CATEGORY_OF_SUBTYPE = {
    "earthquake": "Geo", "landslide": "Geo", "debris_flow": "Geo", "land_subsidence": "Geo", "tsunami": "Geo",
    "forest_fire": "Fire", "biological_disaster": "Env", "building_fire": "Fire", "hazardous_chemicals": "CBRNE",
    "nuclear_radiation": "CBRNE", "explosion": "Safety", "road_traffic": "Transport", "rail": "Transport",
    "aviation": "Transport", "waterway": "Transport", "utility_outage": "Infra", "public_facility": "Infra",
    "environmental_pollution": "Env", "gas_leak": "Safety",
}  # fmt: skip
DRILL_SOURCES = ("drill", "exercise")


def warning_cap(warning: Warning) -> bytes:
    """The warning's CAP 1.2 document: the message itself when it came to us as CAP 1.2 (a signature stays
    intact), else rebuilt from the record (China's format, translated)."""
    if warning.original is not None and warning.profile == CapProfile.cap12.value:
        return bytes(warning.original)
    return cap_xml(alert_of(warning))


def alert_of(warning: Warning) -> CapAlert:
    """The record as a CAP message."""
    header = warning.header or {}
    return CapAlert(
        identifier=warning.identifier,
        sender=warning.sender,
        sent=warning.sent,
        status=warning.status,
        msg_type=warning.msg_type,
        scope=warning.scope,
        source=header.get("source"),
        restriction=header.get("restriction"),
        addresses=header.get("addresses"),
        codes=tuple(header.get("codes") or ()),
        note=header.get("note"),
        references=tuple(CapReference(r["sender"], r["identifier"], r.get("sent")) for r in warning.references),
        incidents=header.get("incidents"),
        infos=tuple(_info_for_export(CapInfo.from_json(i)) for i in warning.infos),
        profile=CapProfile.cap12,
        signature=SignatureState(warning.signature),
    )


def _info_for_export(info: CapInfo) -> CapInfo:
    if info.colour and info.severity == "Unknown":
        return replace(
            info, severity={"red": "Extreme", "orange": "Severe", "yellow": "Moderate"}.get(info.colour, "Minor")
        )
    return info


def _identifier(incident: Incident, msg_type: str) -> str:
    base = f"commandpost-incident-{incident.id}"
    return base if msg_type == "Alert" else f"{base}-v{incident.version}"


def incident_alert(incident: Incident, *, sender: str, lon: float, lat: float, radius_m: float) -> CapAlert:
    """The incident as a CAP message (see the module docstring)."""
    closed = incident.status in ("closed", "cancelled")
    msg_type = "Cancel" if closed else ("Update" if incident.version > 1 else "Alert")
    sent: datetime = incident.created_at if msg_type == "Alert" else incident.updated_at
    references: tuple[CapReference, ...] = ()
    if msg_type != "Alert":
        references = (
            CapReference(
                sender, _identifier(incident, "Alert"), incident.created_at.replace(microsecond=0).isoformat()
            ),
        )
    urgency, certainty = URGENCY_CERTAINTY.get(incident.status, ("Unknown", "Unknown"))
    severity = SEVERITY_OF_LEVEL.get(incident.level or "", "Unknown")
    subtype = SUBTYPES.get(incident.subtype or "")
    category = CATEGORIES.get(incident.category or "")
    cap_category = CAP_CATEGORY_OF_SUBTYPE.get(incident.subtype or "") or CAP_CATEGORY_OF_CATEGORY.get(
        incident.category or "", "Other"
    )
    area = CapArea(
        desc=incident.jurisdiction_name or "事发地点",
        circles=(CapCircle(lat=lat, lon=lon, radius_km=round(radius_m / 1000.0, 3)),),
    )
    area_en = replace(area, desc=incident.jurisdiction_name_en or incident.jurisdiction_name or "Incident location")
    parameters = (("commandpost:incident_id", str(incident.id)), ("commandpost:grade", incident.level or "none"))

    def info(language: str, event: str, the_area: CapArea) -> CapInfo:
        return CapInfo(
            language=language,
            categories=(cap_category,),
            event=event,
            urgency=urgency,
            severity=severity,
            certainty=certainty,
            effective=incident.reported_at,
            sender_name="Commandpost",
            headline=incident.title,
            description=incident.description,
            parameters=parameters,
            areas=(the_area,),
        )

    zh = subtype.zh if subtype else (category.zh if category else "突发事件")
    en = subtype.en if subtype else (category.en if category else "Emergency")
    return CapAlert(
        identifier=_identifier(incident, msg_type),
        sender=sender,
        sent=sent,
        status="Exercise" if incident.exercise or (incident.source or "").lower() in DRILL_SOURCES else "Actual",
        msg_type=msg_type,
        scope="Public",
        references=references,
        infos=(info("zh-CN", zh, area), info("en", en, area_en)),
    )


def incident_cap(incident: Incident, *, sender: str, lon: float, lat: float, radius_m: float) -> bytes:
    return cap_xml(incident_alert(incident, sender=sender, lon=lon, lat=lat, radius_m=radius_m))
