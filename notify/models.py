"""notify's tables: the outbox of outbound messages (``delivery``) and every try at sending one
(``delivery_attempt``), the people and agencies they go to (``contact``), and the Web Push subscriptions of users
(``push_subscription``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base

# Waiting to be sent: never tried (queued) or tried and failed with tries left (failed). The sweep's index.
PENDING_SQL = "state IN ('queued', 'failed')"
STATES_SQL = "('queued', 'sent', 'failed', 'dead', 'cancelled')"


class Contact(Base):
    """A person or an agency we may tell something: its channels (``[{"type", "address"}]``), the unit it belongs
    to (its members are alerted when the unit is dispatched), its roles (``commander``: told of escalations while
    ``on_duty``)."""

    __tablename__ = "contact"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    agency: Mapped[str | None] = mapped_column(String(500))
    unit_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("resource.id", ondelete="SET NULL"))
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(48)), nullable=False, server_default="{}")
    channels: Mapped[list[dict[str, str]]] = mapped_column(JSONB, nullable=False, server_default="[]")
    on_duty: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        Index("ix_contact_unit_id", "unit_id", postgresql_where=text("unit_id IS NOT NULL")),
        Index("ix_contact_agency", "agency", postgresql_where=text("agency IS NOT NULL")),
        Index("ix_contact_roles", "roles", postgresql_using="gin"),
    )


class PushSubscription(Base):
    """A browser's Web Push subscription (its push service endpoint and its keys), held for the user who made it."""

    __tablename__ = "push_subscription"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("app_user.id", ondelete="CASCADE"), nullable=False)
    endpoint: Mapped[str] = mapped_column(String(2048), nullable=False)
    p256dh: Mapped[str] = mapped_column(String(128), nullable=False)
    auth: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        UniqueConstraint("endpoint"),
        Index("ix_push_subscription_user_id", "user_id"),
    )


class Delivery(Base):
    """One message to one address by one channel, written in the unit of work of what caused it and sent by the
    sweep. Its id travels with every try (``X-Commandpost-Delivery``), so a receiver drops repeats.

    ``state``: queued (not tried yet), sent, failed (tried, will try again at ``next_attempt_at``), dead (no tries
    left, refused for good, or nobody to send it to: ``channel`` none), cancelled (no longer needed: the SMS
    fallback of a dispatch acknowledged in time)."""

    __tablename__ = "delivery"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(48), nullable=False)  # plan.notice, dispatch.alert, ...
    channel: Mapped[str] = mapped_column(String(16), nullable=False)  # webhook, email, sms, push, none
    address: Mapped[str] = mapped_column(String(2048), nullable=False)
    contact_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("contact.id", ondelete="SET NULL"))
    push_subscription_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("push_subscription.id", ondelete="SET NULL")
    )
    incident_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("incident.id", ondelete="CASCADE"))
    unit_id: Mapped[int | None] = mapped_column(BigInteger)
    dispatch_id: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str | None] = mapped_column(String(64))  # what asked for it, e.g. plan_notice:12
    subject: Mapped[str] = mapped_column(String(500), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    state: Mapped[str] = mapped_column(String(16), nullable=False, server_default="queued")
    tries: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    max_tries: Mapped[int] = mapped_column(Integer, nullable=False)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A dead delivery is on the command room's escalation list until someone says it was dealt with (called by
    # phone instead, the contact fixed): who and when.
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    handled_by: Mapped[str | None] = mapped_column(String(64))

    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        CheckConstraint(f"state IN {STATES_SQL}", name="state"),
        Index("ix_delivery_due", "next_attempt_at", postgresql_where=text(PENDING_SQL)),
        Index("ix_delivery_incident_id", "incident_id", postgresql_where=text("incident_id IS NOT NULL")),
        Index("ix_delivery_dispatch_id", "dispatch_id", postgresql_where=text("dispatch_id IS NOT NULL")),
        Index("ix_delivery_source", "source", postgresql_where=text("source IS NOT NULL")),
    )


class DeliveryAttempt(Base):
    """One try at sending a delivery: when, how long it took, and what went wrong (None: it was sent)."""

    __tablename__ = "delivery_attempt"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("delivery.id", ondelete="CASCADE"), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("delivery_id", "number"),)
