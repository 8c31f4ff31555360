"""notify's shapes, part of its door (with ``notify.service``): what a live client asks to receive."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PydanticField

from core.events import EventEnvelope
from notify.urls import RefusedURL, check_url
from notify.view import inside, position_of


class StreamFilter(Protocol):
    """What the hub asks of a client's filter: whether an event goes into the client's queue. The hub asks in id
    order, once per event."""

    def accepts(self, envelope: EventEnvelope) -> bool: ...


@dataclass(frozen=True)
class EventFilter:
    """What a client wants: all events, or those of one incident, of some type prefixes, inside a bbox."""

    incident_id: int | None = None
    type_prefixes: tuple[str, ...] = ()
    bbox: tuple[float, float, float, float] | None = None

    def accepts(self, envelope: EventEnvelope) -> bool:
        if self.type_prefixes and not envelope.type.startswith(self.type_prefixes):
            return False
        data = envelope.data
        if self.incident_id is not None and _incident_of(envelope) != self.incident_id:
            return False
        # A unit event's place in the bbox is the client's UnitView's to judge (notify/view.py): it may be news
        # that the unit left.
        if self.bbox is not None and not envelope.type.startswith("unit."):
            position = position_of(data)
            if position is not None and not inside(position, self.bbox):
                return False
        return True


def _incident_of(envelope: EventEnvelope) -> object:
    """``incident.*`` events carry the incident itself; others name it in ``incident_id`` when they concern one."""
    if envelope.type.startswith("incident."):
        return envelope.data.get("id")
    return envelope.data.get("incident_id")


@dataclass
class UnitFilter:
    """A field unit's stream: the events scoped to its unit (of ``unit_types``, but ``excluded``), and the events of
    ``incident_types`` scoped to an incident it has joined and to no unit. An event of type ``joins`` scoped to the
    unit joins its incident (a dispatch): asked in id order, it lets through exactly the incident's events that
    follow the dispatch. Until the caller knows the unit's incidents it may let through ``every_incident``'s events
    (a superset, for the hub while the stream starts; the stream's own filter then decides exactly).

    The rule of who sees what is command's (``command.visibility.field_filter`` builds this); notify applies it.
    """

    unit_id: int
    unit_types: tuple[str, ...]
    incident_types: tuple[str, ...]
    joins: str
    excluded: frozenset[str] = frozenset()
    incidents: set[int] = field(default_factory=set)
    every_incident: bool = False

    def accepts(self, envelope: EventEnvelope) -> bool:
        if envelope.unit_id == self.unit_id:
            if envelope.type == self.joins and envelope.incident_id is not None:
                self.incidents.add(envelope.incident_id)
            return envelope.type.startswith(self.unit_types) and envelope.type not in self.excluded
        if envelope.unit_id is not None or envelope.incident_id is None:
            return False  # another unit's, or no incident's: never
        if not envelope.type.startswith(self.incident_types):
            return False
        return self.every_incident or envelope.incident_id in self.incidents


@dataclass
class JurisdictionFilter:
    """A command-room client scoped to jurisdictions: what ``inner`` accepts, less what lies outside
    ``jurisdictions`` (ids, nested ones included). An ``incident.*`` event carries its incident's jurisdiction: it
    decides, and records in ``incidents``, whether that incident is inside. Another event that names an incident
    (a dispatch, a plan activated, a delivery) passes only when that incident is known to be inside: ``incidents``
    starts as those inside when the stream starts (the caller reads them) and follows the incident events. Events of
    no incident pass, but the whole-picture ones in ``excluded`` (counts over every incident) never do. Asked in id
    order, once per event (the state it keeps depends on it).

    The rule of who sees what is command's (``command.visibility.jurisdiction_filter`` builds this); notify applies
    it."""

    inner: EventFilter
    jurisdictions: frozenset[int]
    incidents: set[int] = field(default_factory=set)
    excluded: frozenset[str] = frozenset()

    def accepts(self, envelope: EventEnvelope) -> bool:
        if envelope.type in self.excluded:
            return False
        if envelope.incident_id is not None:
            if envelope.type.startswith("incident.") and "jurisdiction" in envelope.data:
                place = envelope.data.get("jurisdiction")
                if isinstance(place, dict) and place.get("id") in self.jurisdictions:
                    self.incidents.add(envelope.incident_id)
                else:
                    self.incidents.discard(envelope.incident_id)
            if envelope.incident_id not in self.incidents:
                return False
        return self.inner.accepts(envelope)


@dataclass(frozen=True)
class WithIncidentEvents:
    """What ``inner`` accepts and every ``incident.*`` event: the hub's filter for a scoped client, whose
    JurisdictionFilter must see each incident's events to know which incidents are inside, even those the client
    did not ask for."""

    inner: EventFilter

    def accepts(self, envelope: EventEnvelope) -> bool:
        return envelope.type.startswith("incident.") or self.inner.accepts(envelope)


# ------------------------------------------------------------------------------ deliveries, contacts, push (issue 17)

ChannelType = Literal["webhook", "email", "sms", "voice", "push"]
MAX_CHANNELS = 20
MAX_ROLES = 20


class ChannelIn(BaseModel):
    """One way to reach a contact. ``address``: a URL (webhook), an email address, a phone number (sms, voice:
    digits, optionally a leading +), or a user name whose Web Push subscriptions are used (push)."""

    model_config = ConfigDict(extra="forbid")

    type: ChannelType
    address: str = PydanticField(min_length=1, max_length=2048)

    @model_validator(mode="after")
    def _address_fits_type(self) -> ChannelIn:
        self.address = self.address.strip()
        check_channel(self.type, self.address)
        return self


def check_channel(kind: str, address: str) -> None:
    """Raises ValueError when ``address`` is not one a channel of ``kind`` can use (a webhook URL is checked
    against notify.urls' policy: no link-local or metadata addresses, http(s) only)."""
    if kind == "webhook":
        try:
            check_url(address)
        except RefusedURL as exc:
            raise ValueError(f"webhook URL refused: {exc}") from exc
    elif kind == "email":
        if len(address) > 254 or not EMAIL.fullmatch(address):
            raise ValueError(f"{address!r} is not an email address")
    elif kind in ("sms", "voice"):
        if not PHONE.fullmatch(address):
            raise ValueError(f"{address!r} is not a phone number (digits, optionally a leading +, 5 to 20)")
    elif kind == "push" and not USERNAME.fullmatch(address):
        raise ValueError("a push channel's address is the user name whose subscriptions receive it")


EMAIL = re.compile(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+")
PHONE = re.compile(r"\+?[0-9]{5,20}")
USERNAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


class ContactIn(BaseModel):
    """A person or an agency (API.md "Delivery and contacts")."""

    model_config = ConfigDict(extra="forbid")

    name: str = PydanticField(min_length=1, max_length=200)
    agency: str | None = PydanticField(default=None, max_length=500)
    unit_id: int | None = PydanticField(default=None, ge=1, le=2**63 - 1)
    roles: list[Annotated[str, PydanticField(min_length=1, max_length=48)]] = PydanticField(
        default_factory=list, max_length=MAX_ROLES
    )
    channels: list[ChannelIn] = PydanticField(min_length=1, max_length=MAX_CHANNELS)
    on_duty: bool = True


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    agency: str | None
    unit_id: int | None
    roles: list[str]
    channels: list[dict[str, str]]
    on_duty: bool
    created_at: datetime


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None


class DeliveryOut(BaseModel):
    """A delivery and where it stands; with its tries when listed (``attempts``)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    channel: str
    address: str
    contact_id: int | None
    incident_id: int | None
    unit_id: int | None
    dispatch_id: int | None
    source: str | None
    subject: str
    state: str
    tries: int
    max_tries: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    handled_at: datetime | None = None
    handled_by: str | None = None
    attempts: list[AttemptOut] = PydanticField(default_factory=list)

    @classmethod
    def brief(cls, delivery: Any) -> DeliveryOut:
        """Without attempts (the data of ``delivery.failed`` and ``delivery.dead``)."""
        values = {name: getattr(delivery, name) for name in cls.model_fields if name != "attempts"}
        if values["state"] not in ("queued", "failed"):
            values["next_attempt_at"] = None
        return cls(**values)


class PushKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")

    p256dh: str = PydanticField(min_length=1, max_length=128)
    auth: str = PydanticField(min_length=1, max_length=64)


class PushSubscriptionIn(BaseModel):
    """A browser's ``PushSubscription.toJSON()``: the push service's endpoint (https) and the keys."""

    model_config = ConfigDict(extra="ignore")  # browsers add expirationTime

    endpoint: str = PydanticField(min_length=1, max_length=2048)
    keys: PushKeys

    @model_validator(mode="after")
    def _valid(self) -> PushSubscriptionIn:
        try:
            checked = check_url(self.endpoint)
        except RefusedURL as exc:
            raise ValueError(f"endpoint refused: {exc}") from exc
        if not checked.https and not checked.host.startswith(("127.", "localhost")):
            raise ValueError("a push endpoint must be https")
        from notify.push import check_keys

        check_keys(self.keys.p256dh, self.keys.auth)
        return self


class PushSubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    endpoint: str
    created_at: datetime


class PushKeyOut(BaseModel):
    """The application server key (VAPID public key, base64url) a browser subscribes with; null when none is set."""

    public_key: str | None
