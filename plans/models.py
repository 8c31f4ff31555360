"""Stored plans (every version), their activations on incidents, and what an activation commits: tasks,
resource requirements and notices."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
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

LEVELS_SQL = "('I', 'II', 'III', 'IV')"


class Plan(Base):
    """One version of a plan. The document is kept whole; the triggers are copied into columns so matching reads
    a few small columns and PostGIS tests the area. ``current`` marks the newest version of each plan id."""

    __tablename__ = "plan"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[str] = mapped_column(String(32), nullable=False)
    version_number: Mapped[int] = mapped_column(BigInteger, nullable=False)
    name: Mapped[str] = mapped_column(String(500), nullable=False)
    name_en: Mapped[str] = mapped_column(String(500), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    agency: Mapped[str] = mapped_column(String(500), nullable=False)
    effective_from: Mapped[date] = mapped_column(Date, nullable=False)
    min_level: Mapped[str] = mapped_column(String(3), nullable=False)
    categories: Mapped[list[str]] = mapped_column(ARRAY(String(32)), nullable=False, server_default="{}")
    subtypes: Mapped[list[str]] = mapped_column(ARRAY(String(48)), nullable=False, server_default="{}")
    jurisdictions: Mapped[list[str]] = mapped_column(ARRAY(String(200)), nullable=False, server_default="{}")
    area: Mapped[WKBElement | None] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False))
    time_window: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    document: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    # sha256 of the canonical document: the same id and version loaded again is a no-op only if this matches.
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    source: Mapped[str | None] = mapped_column(String(300))
    loaded_by: Mapped[str | None] = mapped_column(String(64))
    current: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    superseded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        UniqueConstraint("plan_id", "version"),
        Index("ix_plan_current_plan_id", "plan_id", unique=True, postgresql_where=text("current")),
        Index("ix_plan_area", "area", postgresql_using="gist"),
        CheckConstraint(f"min_level IN {LEVELS_SQL}", name="min_level"),
        CheckConstraint("kind IN ('special', 'departmental', 'local')", name="kind"),
    )


class Activation(Base):
    """A plan put into effect for an incident, at a response level. It keeps the plan version it activated;
    ``history`` records each change of level (escalations add only the higher level's delta)."""

    __tablename__ = "plan_activation"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("incident.id", ondelete="CASCADE"), nullable=False)
    plan_pk: Mapped[int] = mapped_column(BigInteger, ForeignKey("plan.id", ondelete="RESTRICT"), nullable=False)
    plan_id: Mapped[str] = mapped_column(String(64), nullable=False)
    plan_version: Mapped[str] = mapped_column(String(32), nullable=False)
    level: Mapped[str] = mapped_column(String(3), nullable=False)
    activated_by: Mapped[str | None] = mapped_column(String(64))
    activated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default="[]")

    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        UniqueConstraint("incident_id", "plan_id"),
        CheckConstraint(f"level IN {LEVELS_SQL}", name="level"),
    )


class PlanTask(Base):
    """One checklist item of an activation: due at activation time plus the plan's minutes."""

    __tablename__ = "plan_task"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    activation_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("plan_activation.id", ondelete="CASCADE"), nullable=False
    )
    incident_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("incident.id", ondelete="CASCADE"), nullable=False)
    level: Mapped[str] = mapped_column(String(3), nullable=False)
    phase: Mapped[str] = mapped_column(String(500), nullable=False)
    phase_en: Mapped[str] = mapped_column(String(500), nullable=False)
    title: Mapped[str] = mapped_column(String(500), nullable=False)
    title_en: Mapped[str] = mapped_column(String(500), nullable=False)
    role: Mapped[str] = mapped_column(String(48), nullable=False)
    due_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="pending")
    assignee: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set once by the overdue sweep (the task stays marked even when it is done later).
    overdue_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")

    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        UniqueConstraint("activation_id", "title"),
        Index("ix_plan_task_incident_id", "incident_id"),
        # The sweep's work list: open tasks not yet marked overdue, by deadline.
        Index("ix_plan_task_open_due_at", "due_at", postgresql_where=text("status <> 'done' AND overdue_at IS NULL")),
        CheckConstraint("status IN ('pending', 'started', 'done')", name="status"),
        CheckConstraint(f"level IN {LEVELS_SQL}", name="level"),
        CheckConstraint("due_minutes >= 0", name="due_minutes"),
    )


class Requirement(Base):
    """Resources an activation asks for: one row per type and per level that added it (escalation adds a row
    with the difference). ``filled`` is kept by dispatch."""

    __tablename__ = "plan_requirement"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    activation_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("plan_activation.id", ondelete="CASCADE"), nullable=False
    )
    incident_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("incident.id", ondelete="CASCADE"), nullable=False)
    resource_type: Mapped[str] = mapped_column(String(32), nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    filled: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    level: Mapped[str] = mapped_column(String(3), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        UniqueConstraint("activation_id", "resource_type", "level"),
        Index("ix_plan_requirement_incident_id", "incident_id"),
        CheckConstraint("count > 0", name="count"),
        CheckConstraint("filled >= 0", name="filled"),
    )


class PlanNotice(Base):
    """An agency or role to tell about the activation; queued here, sent by ``notify``. One per key per
    activation, so an escalation never notifies twice."""

    __tablename__ = "plan_notice"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    activation_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("plan_activation.id", ondelete="CASCADE"), nullable=False
    )
    incident_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("incident.id", ondelete="CASCADE"), nullable=False)
    key: Mapped[str] = mapped_column(String(600), nullable=False)
    agency: Mapped[str | None] = mapped_column(String(500))
    agency_en: Mapped[str | None] = mapped_column(String(500))
    role: Mapped[str | None] = mapped_column(String(48))
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    level: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="queued")
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        UniqueConstraint("activation_id", "key"),
        Index("ix_plan_notice_incident_id", "incident_id"),
        Index("ix_plan_notice_queued", "id", postgresql_where=text("status = 'queued'")),
    )
