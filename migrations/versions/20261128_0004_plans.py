"""Plans: stored plan versions, activations, and their tasks, resource requirements and notices.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEVELS = "('I', 'II', 'III', 'IV')"


def _now() -> sa.Column[Any]:
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False)


def _parent(name: str) -> list[Any]:
    """The activation and incident columns (with their foreign keys) every child of an activation has."""
    return [
        sa.Column("activation_id", sa.BigInteger(), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["activation_id"],
            ["plan_activation.id"],
            name=op.f(f"fk_{name}_activation_id_plan_activation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f(f"fk_{name}_incident_id_incident"), ondelete="CASCADE"
        ),
    ]


def upgrade() -> None:
    jsonb = postgresql.JSONB(astext_type=sa.Text())
    op.create_table(
        "plan",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("version_number", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("name_en", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("agency", sa.String(length=500), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("min_level", sa.String(length=3), nullable=False),
        sa.Column("categories", postgresql.ARRAY(sa.String(length=32)), server_default="{}", nullable=False),
        sa.Column("subtypes", postgresql.ARRAY(sa.String(length=48)), server_default="{}", nullable=False),
        sa.Column("jurisdictions", postgresql.ARRAY(sa.String(length=200)), server_default="{}", nullable=False),
        sa.Column("area", Geometry(geometry_type="MULTIPOLYGON", srid=4326, spatial_index=False), nullable=True),
        sa.Column("time_window", jsonb, nullable=True),
        sa.Column("document", jsonb, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=True),
        sa.Column("loaded_by", sa.String(length=64), nullable=True),
        sa.Column("current", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        _now(),
        sa.CheckConstraint(f"min_level IN {LEVELS}", name=op.f("ck_plan_min_level")),
        sa.CheckConstraint("kind IN ('special', 'departmental', 'local')", name=op.f("ck_plan_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan")),
        sa.UniqueConstraint("plan_id", "version", name=op.f("uq_plan_plan_id_version")),
    )
    op.create_index("ix_plan_current_plan_id", "plan", ["plan_id"], unique=True, postgresql_where=sa.text("current"))
    op.create_index("ix_plan_area", "plan", ["area"], postgresql_using="gist")

    op.create_table(
        "plan_activation",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("plan_pk", sa.BigInteger(), nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("plan_version", sa.String(length=32), nullable=False),
        sa.Column("level", sa.String(length=3), nullable=False),
        sa.Column("activated_by", sa.String(length=64), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("history", jsonb, server_default="[]", nullable=False),
        sa.CheckConstraint(f"level IN {LEVELS}", name=op.f("ck_plan_activation_level")),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_plan_activation_incident_id_incident"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["plan_pk"], ["plan.id"], name=op.f("fk_plan_activation_plan_pk_plan"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_activation")),
        sa.UniqueConstraint("incident_id", "plan_id", name=op.f("uq_plan_activation_incident_id_plan_id")),
    )

    op.create_table(
        "plan_task",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        *_parent("plan_task"),
        sa.Column("level", sa.String(length=3), nullable=False),
        sa.Column("phase", sa.String(length=500), nullable=False),
        sa.Column("phase_en", sa.String(length=500), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("title_en", sa.String(length=500), nullable=False),
        sa.Column("role", sa.String(length=48), nullable=False),
        sa.Column("due_minutes", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True),
        _now(),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint("status IN ('pending', 'started', 'done')", name=op.f("ck_plan_task_status")),
        sa.CheckConstraint(f"level IN {LEVELS}", name=op.f("ck_plan_task_level")),
        sa.CheckConstraint("due_minutes >= 0", name=op.f("ck_plan_task_due_minutes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_task")),
        sa.UniqueConstraint("activation_id", "title", name=op.f("uq_plan_task_activation_id_title")),
    )
    op.create_index("ix_plan_task_incident_id", "plan_task", ["incident_id"])
    op.create_index(
        "ix_plan_task_open_due_at",
        "plan_task",
        ["due_at"],
        postgresql_where=sa.text("status <> 'done' AND overdue_at IS NULL"),
    )

    op.create_table(
        "plan_requirement",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        *_parent("plan_requirement"),
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("filled", sa.Integer(), server_default="0", nullable=False),
        sa.Column("level", sa.String(length=3), nullable=False),
        _now(),
        sa.CheckConstraint("count > 0", name=op.f("ck_plan_requirement_count")),
        sa.CheckConstraint("filled >= 0", name=op.f("ck_plan_requirement_filled")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_requirement")),
        sa.UniqueConstraint(
            "activation_id",
            "resource_type",
            "level",
            name=op.f("uq_plan_requirement_activation_id_resource_type_level"),
        ),
    )
    op.create_index("ix_plan_requirement_incident_id", "plan_requirement", ["incident_id"])

    op.create_table(
        "plan_notice",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        *_parent("plan_notice"),
        sa.Column("key", sa.String(length=600), nullable=False),
        sa.Column("agency", sa.String(length=500), nullable=True),
        sa.Column("agency_en", sa.String(length=500), nullable=True),
        sa.Column("role", sa.String(length=48), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        _now(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_notice")),
        sa.UniqueConstraint("activation_id", "key", name=op.f("uq_plan_notice_activation_id_key")),
    )
    op.create_index("ix_plan_notice_incident_id", "plan_notice", ["incident_id"])
    op.create_index("ix_plan_notice_queued", "plan_notice", ["id"], postgresql_where=sa.text("status = 'queued'"))


def downgrade() -> None:
    op.drop_table("plan_notice")
    op.drop_table("plan_requirement")
    op.drop_table("plan_task")
    op.drop_table("plan_activation")
    op.drop_index("ix_plan_area", table_name="plan")
    op.drop_index("ix_plan_current_plan_id", table_name="plan")
    op.drop_table("plan")
