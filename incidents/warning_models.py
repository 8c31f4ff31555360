"""Warnings (预警) received or issued, and the CAP feeds we subscribe to.

A warning is not an incident: it says what is forecast or under way and where, as a warning service put it. One
row per CAP message (idempotent on sender + identifier + sent): an Update supersedes the messages it references, a
Cancel ends them, and an expired warning leaves the active list on its own (the list compares ``expires`` with now)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class Warning(Base):
    """One CAP message as we keep it: its header, its mapped event, every ``info`` block, its area as geometry."""

    __tablename__ = "warning"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16), nullable=False)  # api | feed
    profile: Mapped[str] = mapped_column(String(16), nullable=False)  # cap-1.2 | gb-t-35965.1
    feed_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("cap_feed.id", ondelete="SET NULL"))
    identifier: Mapped[str] = mapped_column(Text, nullable=False)
    sender: Mapped[str] = mapped_column(Text, nullable=False)
    sent: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    msg_type: Mapped[str] = mapped_column(String(16), nullable=False)
    scope: Mapped[str] = mapped_column(String(16), nullable=False)
    event: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    event_codes: Mapped[list[dict[str, str]]] = mapped_column(JSONB, nullable=False, server_default="[]")
    category: Mapped[str | None] = mapped_column(String(32))
    subtype: Mapped[str | None] = mapped_column(String(48))
    colour: Mapped[str | None] = mapped_column(String(8))
    severity: Mapped[str] = mapped_column(String(16), nullable=False, server_default="Unknown")
    urgency: Mapped[str] = mapped_column(String(16), nullable=False, server_default="Unknown")
    certainty: Mapped[str] = mapped_column(String(16), nullable=False, server_default="Unknown")
    headline: Mapped[str | None] = mapped_column(Text)
    languages: Mapped[list[str]] = mapped_column(JSONB, nullable=False, server_default="[]")
    effective: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    onset: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    header: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")  # source, note, codes…
    infos: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default="[]")
    references: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default="[]")
    references_unknown: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    signature: Mapped[str] = mapped_column(String(16), nullable=False, server_default="unverified")
    signer: Mapped[str | None] = mapped_column(Text)
    area: Mapped[WKBElement | None] = mapped_column(Geometry("GEOMETRY", srid=4326, spatial_index=False))
    original: Mapped[bytes | None] = mapped_column(LargeBinary)  # the CAP 1.2 document as received
    superseded_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("warning.id", ondelete="SET NULL"))
    cancelled_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("warning.id", ondelete="SET NULL"))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    incident_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("incident.id", ondelete="SET NULL"))
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (
        UniqueConstraint("sender", "identifier", "sent", name="uq_warning_message"),
        Index("ix_warning_area", "area", postgresql_using="gist"),
        Index("ix_warning_sender_identifier", "sender", "identifier"),
        Index("ix_warning_open", "expires", postgresql_where=text("ended_at IS NULL")),
        Index(
            "ix_warning_references",
            "references",
            postgresql_using="gin",
            postgresql_ops={"references": "jsonb_path_ops"},
        ),
        Index("ix_warning_incident_id", "incident_id", postgresql_where=text("incident_id IS NOT NULL")),
    )


class CapFeed(Base):
    """A subscription: an Atom or RSS feed of CAP messages, or the URL of one message, polled by a sweep."""

    __tablename__ = "cap_feed"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    interval_s: Mapped[float] = mapped_column(Float, nullable=False)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    seen: Mapped[list[str]] = mapped_column(JSONB, nullable=False, server_default="[]")  # entry keys imported
    next_poll_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    last_polled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failures: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    imported: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (Index("ix_cap_feed_next_poll_at", "next_poll_at"),)
