"""Dispatches (who was sent where, and what became of it) and the bounded track of each unit's location fixes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import REAL, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Sequence, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class Dispatch(Base):
    """One unit sent to one incident. A unit holds at most one open dispatch: the database says so (a partial
    unique index), so two commanders racing for the same unit cannot both win.

    It also holds the state of its timers (command/timers.py), so that a restart or a second scheduler loses and
    repeats nothing: the acknowledgement deadline by grade (``ack_due_at``), the re-alert (``warned_at``), the
    escalation and who handled it, every alert sent (``alerts``: when, why, by which channel), the route's ETA from
    dispatch (for ``unit.overdue``) and the episodes of ``unit.overdue`` and ``unit.stale`` already raised."""

    __tablename__ = "dispatch"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("incident.id", ondelete="CASCADE"), nullable=False)
    unit_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("resource.id", ondelete="CASCADE"), nullable=False)
    unit_type: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="dispatched")
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    ack_due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    warned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # the re-alert, once
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalation_handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalation_handled_by: Mapped[str | None] = mapped_column(String(64))
    escalation_handling: Mapped[str | None] = mapped_column(String(16))  # acknowledged, redispatched, recalled, ...
    alerts: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default="[]")
    eta_s: Mapped[float | None] = mapped_column(Float)  # the route's travel time at dispatch
    eta_method: Mapped[str | None] = mapped_column(String(16))  # road | straight_line
    en_route_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    overdue_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stale_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The unit's last fix time when unit.stale was raised (None: it had none): a newer fix ends the episode.
    stale_fix_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    close_reason: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        Index("uq_dispatch_open_unit", "unit_id", unique=True, postgresql_where=text("closed_at IS NULL")),
        Index("ix_dispatch_incident_id", "incident_id"),
        # The acknowledgement sweep's work: open, unanswered and not yet escalated, by deadline.
        Index(
            "ix_dispatch_open_unacknowledged",
            "ack_due_at",
            postgresql_where=text("closed_at IS NULL AND acknowledged_at IS NULL AND escalated_at IS NULL"),
        ),
        # Escalations a commander has not handled yet (the situation counts them; redispatch looks them up).
        Index(
            "ix_dispatch_escalation_open",
            "incident_id",
            postgresql_where=text("escalated_at IS NOT NULL AND escalation_handled_at IS NULL"),
        ),
    )


class UnitFix(Base):
    """A location fix as reported. Implausible ones (impossible speed from the last trusted fix) are kept, flagged
    and not trusted: they move nothing on the map and count for nothing in "nearest". Every fix is kept (for tracks
    and reports) in a table partitioned by day of ``at`` (migration 0009, command/fix_partitions.py), whose primary
    key must therefore include ``at``."""

    __tablename__ = "unit_fix"

    id: Mapped[int] = mapped_column(
        BigInteger, Sequence("unit_fix_id_seq"), primary_key=True, server_default=text("nextval('unit_fix_id_seq')")
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    unit_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("resource.id", ondelete="CASCADE"), nullable=False)
    location: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
    speed_kmh: Mapped[float | None] = mapped_column(Float)  # implied by the distance from the last trusted fix
    reported_speed_ms: Mapped[float | None] = mapped_column(REAL)
    heading_deg: Mapped[float | None] = mapped_column(REAL)
    accuracy_m: Mapped[float | None] = mapped_column(REAL)
    trusted: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (
        Index("ix_unit_fix_unit_id_at", "unit_id", "at"),
        {"postgresql_partition_by": "RANGE (at)"},
    )


class GatewayUnit(Base):
    """A unit a gateway account (a vehicle tracking system, AVL) may report locations for."""

    __tablename__ = "gateway_unit"

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("app_user.id", ondelete="CASCADE", name="fk_gateway_unit_user_id"), primary_key=True
    )
    unit_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("resource.id", ondelete="CASCADE", name="fk_gateway_unit_unit_id"), primary_key=True
    )
