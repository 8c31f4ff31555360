"""Warnings as the API shows them: the summary (lists, events, the import's answer) and the full record."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from core.clock import utcnow
from incidents.warning_models import Warning
from incidents.warning_schemas import WarningDetail, WarningOut, WarningState

IN_FORCE_STATUSES = ("Actual", "Exercise")
IN_FORCE_TYPES = ("Alert", "Update")


def state_of(warning: Warning, *, now: datetime | None = None) -> WarningState:
    """Where the warning stands now (see ``WarningState``)."""
    if warning.cancelled_by is not None:
        return WarningState.cancelled
    if warning.superseded_by is not None:
        return WarningState.superseded
    if warning.msg_type not in IN_FORCE_TYPES:
        return WarningState.message
    if warning.status not in IN_FORCE_STATUSES:
        return WarningState.not_public
    if warning.ended_at is not None or (warning.expires is not None and warning.expires <= (now or utcnow())):
        return WarningState.expired  # ended by the expiry sweep, or past its expiry before the sweep came
    return WarningState.active


def summary(warning: Warning, *, now: datetime | None = None) -> WarningOut:
    state = state_of(warning, now=now)
    return WarningOut(
        id=warning.id,
        identifier=warning.identifier,
        sender=warning.sender,
        sent=warning.sent,
        status=warning.status,
        msg_type=warning.msg_type,
        scope=warning.scope,
        source=warning.source,
        profile=warning.profile,
        event=warning.event,
        event_codes=warning.event_codes,
        category=warning.category,
        subtype=warning.subtype,
        colour=warning.colour,
        severity=warning.severity,
        urgency=warning.urgency,
        certainty=warning.certainty,
        headline=warning.headline,
        languages=warning.languages,
        effective=warning.effective,
        onset=warning.onset,
        expires=warning.expires,
        state=state,
        active=state is WarningState.active,
        superseded_by=warning.superseded_by,
        cancelled_by=warning.cancelled_by,
        references_unknown=warning.references_unknown,
        signature=warning.signature,
        signer=warning.signer,
        incident_id=warning.incident_id,
        feed_id=warning.feed_id,
        created_at=warning.created_at,
    )


def detail(warning: Warning, *, area_geojson: str | None) -> WarningDetail:
    """The full record; ``area_geojson``: the area as PostGIS wrote it (ST_AsGeoJSON)."""
    base = summary(warning).model_dump()
    area: dict[str, Any] | None = json.loads(area_geojson) if area_geojson else None
    return WarningDetail(**base, references=warning.references, infos=warning.infos, area=area, header=warning.header)
