"""The incident record, its timeline and the idempotency keys of intake."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base

LEVELS_SQL = "('I', 'II', 'III', 'IV')"


class Incident(Base):
    """A sudden public event as logged by a duty officer, classified, graded and placed on the map."""

    __tablename__ = "incident"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    location: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
    source: Mapped[str | None] = mapped_column(String(64))
    # Logged by a drill (演练): kept out of the real counters and duplicate checks, exported as CAP Exercise.
    exercise: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    # A drill's expectations of the room for this report (incidents.schemas.DrillIn), scored in its after-action report.
    drill: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Where the caller said it is, as the officer typed it (a place search or a map click sets ``location``; this
    # text is never rewritten by them).
    address_text: Mapped[str | None] = mapped_column(String(500))
    # The caller asked to be called back (their number is in ``incident_caller``, not here).
    callback_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    category: Mapped[str | None] = mapped_column(String(32))
    subtype: Mapped[str | None] = mapped_column(String(48))
    # "auto" when the classifier chose, "officer" when the duty officer said so (then edits do not reclassify).
    classified_by: Mapped[str] = mapped_column(String(16), nullable=False, server_default="auto")
    confidence: Mapped[float] = mapped_column(Float, nullable=False, server_default="0")
    matched: Mapped[list[str]] = mapped_column(JSONB, nullable=False, server_default="[]")

    facts: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    fact_sources: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, server_default="{}")
    # Facts the officer gave (they win over extraction when the description changes).
    given_facts: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")

    grade_level: Mapped[str | None] = mapped_column(String(3))
    grade_rule_id: Mapped[str | None] = mapped_column(String(64))
    grade_rule_version: Mapped[str | None] = mapped_column(String(32))
    grade_basis: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default="[]")
    override_level: Mapped[str | None] = mapped_column(String(3))
    override_reason: Mapped[str | None] = mapped_column(Text)
    override_by: Mapped[str | None] = mapped_column(String(64))
    override_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="reported")
    # When it was closed or cancelled (both final): the caller's details are erased a retention period after it.
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    jurisdiction_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("jurisdiction.id", ondelete="SET NULL"))
    # The district's names as they were when the report came in: the record keeps what the officer saw.
    jurisdiction_name: Mapped[str | None] = mapped_column(String(200))
    jurisdiction_name_en: Mapped[str | None] = mapped_column(String(200))
    possible_duplicate_of: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("incident.id", ondelete="SET NULL")
    )
    duplicate_status: Mapped[str | None] = mapped_column(String(16))
    merged_into: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("incident.id", ondelete="SET NULL"))
    # The plans that match, most specific first, as plans computed them when the incident or the library last
    # changed (command.intake, plans.service.rematch_open): read with the incident, not recomputed on every read.
    plan_matches: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default="[]")

    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")

    __table_args__ = (
        Index("ix_incident_location", "location", postgresql_using="gist"),
        Index("ix_incident_status_created_at", "status", "created_at"),
        Index("ix_incident_subtype_reported_at", "subtype", "reported_at"),
        # The caller retention sweep's search: closed incidents by when they closed.
        Index("ix_incident_closed_at", "closed_at", postgresql_where=text("closed_at IS NOT NULL")),
        # A user scoped to jurisdictions reads the incidents of those (command.visibility).
        Index("ix_incident_jurisdiction_id", "jurisdiction_id", postgresql_where=text("jurisdiction_id IS NOT NULL")),
        CheckConstraint(f"grade_level IS NULL OR grade_level IN {LEVELS_SQL}", name="grade_level"),
        CheckConstraint(f"override_level IS NULL OR override_level IN {LEVELS_SQL}", name="override_level"),
        CheckConstraint(
            "status IN ('reported', 'verified', 'responding', 'contained', 'closed', 'cancelled')", name="status"
        ),
    )

    @property
    def level(self) -> str | None:
        """The grade in force: the commander's override when there is one, else the computed grade."""
        return self.override_level or self.grade_level

    @property
    def grade(self) -> dict[str, Any]:
        """The grade in force as one value (``IncidentOut.grade``): the computed one, or a commander's override with
        who, why and when, and the computed grade kept beside it."""
        computed = {
            "level": self.grade_level,
            "rule_id": self.grade_rule_id,
            "rule_version": self.grade_rule_version,
            "basis": self.grade_basis,
        }
        if not self.override_level:
            return computed
        override = {
            "level": self.override_level,
            "reason": self.override_reason,
            "by": self.override_by,
            "at": self.override_at.isoformat() if self.override_at else None,
        }
        return {
            "level": self.override_level,
            "rule_id": "override",
            "basis": [],
            "computed": computed,
            "override": override,
        }

    @property
    def jurisdiction(self) -> dict[str, Any] | None:
        """The district the report came in from, with its names as they were then (``IncidentOut.jurisdiction``)."""
        if self.jurisdiction_id is None:
            return None
        return {"id": self.jurisdiction_id, "name": self.jurisdiction_name or "", "name_en": self.jurisdiction_name_en}


class TimelineEntry(Base):
    """One thing that happened to an incident, in order: who, what, when."""

    __tablename__ = "incident_timeline"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("incident.id", ondelete="CASCADE"), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    kind: Mapped[str] = mapped_column(String(48), nullable=False)
    actor: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")

    __table_args__ = (Index("ix_incident_timeline_incident_id_id", "incident_id", "id"),)


class IncidentCaller(Base):
    """Who called it in: personal data, kept in a table of its own so that nothing that reads the incident (its
    shape, events, exports, CAP, tiles, the situation) can carry it; read only by ``GET /incidents/{id}/caller``,
    and erased a retention period after the incident closes (``erased_at``)."""

    __tablename__ = "incident_caller"

    incident_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("incident.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))  # as typed
    phone_display: Mapped[str | None] = mapped_column(String(64))  # normalised (incidents.phones)
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class IdempotencyKey(Base):
    """A caller's ``Idempotency-Key``: the same key and body return the same incident, never a second one."""

    __tablename__ = "incident_idempotency"

    actor: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    incident_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("incident.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
