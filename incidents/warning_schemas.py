"""The shapes of warnings and CAP feed subscriptions at the door (re-exported by ``incidents.schemas``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class WarningState(StrEnum):
    active = "active"  # in force: an Alert or Update, Actual or Exercise, not superseded, cancelled or expired
    superseded = "superseded"  # an Update referenced it
    cancelled = "cancelled"  # a Cancel referenced it (or what superseded it)
    expired = "expired"  # its expiry time has passed
    message = "message"  # a Cancel, Ack or Error: it acts on other warnings, never in force itself
    not_public = "not_public"  # status System, Test or Draft: kept, never shown as in force


class WarningOut(BaseModel):
    """A warning as lists, events and the import's answer show it."""

    id: int
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str
    source: str
    profile: str
    event: str
    event_codes: list[dict[str, str]]
    category: str | None
    subtype: str | None
    colour: str | None = Field(description="red, orange, yellow or blue (预警 level), when known")
    severity: str
    urgency: str
    certainty: str
    headline: str | None
    languages: list[str]
    effective: datetime | None
    onset: datetime | None
    expires: datetime | None
    state: WarningState
    active: bool
    superseded_by: int | None
    cancelled_by: int | None
    references_unknown: bool
    signature: str = Field(description="verified (a trusted XML signature) or unverified")
    signer: str | None
    incident_id: int | None
    feed_id: int | None
    created_at: datetime


class WarningDetail(WarningOut):
    """One warning in full: every info block by language, its area (GeoJSON) and the messages it references."""

    references: list[dict[str, Any]]
    infos: list[dict[str, Any]]
    area: dict[str, Any] | None
    header: dict[str, Any]


class OpenIncidentIn(BaseModel):
    """Where the incident opened from a warning is (default: a point inside the warning's area)."""

    model_config = ConfigDict(extra="forbid")

    location: dict[str, Any] | None = None
    description: str | None = Field(default=None, max_length=20_000)


class CapFeedIn(BaseModel):
    """A subscription to an Atom or RSS feed of CAP messages, or to the URL of one message."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048)
    name: str | None = Field(default=None, max_length=200)
    interval_s: float | None = Field(default=None, ge=10, le=86_400, description="seconds between polls")

    @field_validator("url")
    @classmethod
    def _stripped(cls, value: str) -> str:
        return value.strip()


class CapFeedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    name: str | None
    interval_s: float
    next_poll_at: datetime
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_status: int | None
    last_error: str | None
    last_error_at: datetime | None
    failures: int
    imported: int
    created_by: str | None
    created_at: datetime
