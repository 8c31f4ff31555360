"""The incident record: incidents, their timeline, intake idempotency keys.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEVELS = "('I', 'II', 'III', 'IV')"


def upgrade() -> None:
    jsonb = postgresql.JSONB(astext_type=sa.Text())
    op.create_table(
        "incident",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "location",
            geoalchemy2.types.Geometry(
                geometry_type="POINT", srid=4326, spatial_index=False, from_text="ST_GeomFromEWKT", name="geometry"
            ),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("subtype", sa.String(length=48), nullable=True),
        sa.Column("classified_by", sa.String(length=16), server_default="auto", nullable=False),
        sa.Column("confidence", sa.Float(), server_default="0", nullable=False),
        sa.Column("matched", jsonb, server_default="[]", nullable=False),
        sa.Column("facts", jsonb, server_default="{}", nullable=False),
        sa.Column("fact_sources", jsonb, server_default="{}", nullable=False),
        sa.Column("given_facts", jsonb, server_default="{}", nullable=False),
        sa.Column("grade_level", sa.String(length=3), nullable=True),
        sa.Column("grade_rule_id", sa.String(length=64), nullable=True),
        sa.Column("grade_rule_version", sa.String(length=32), nullable=True),
        sa.Column("grade_basis", jsonb, server_default="[]", nullable=False),
        sa.Column("override_level", sa.String(length=3), nullable=True),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("override_by", sa.String(length=64), nullable=True),
        sa.Column("override_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="reported", nullable=False),
        sa.Column("jurisdiction_id", sa.BigInteger(), nullable=True),
        sa.Column("jurisdiction_name", sa.String(length=200), nullable=True),
        sa.Column("jurisdiction_name_en", sa.String(length=200), nullable=True),
        sa.Column("possible_duplicate_of", sa.BigInteger(), nullable=True),
        sa.Column("duplicate_status", sa.String(length=16), nullable=True),
        sa.Column("merged_into", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(f"grade_level IS NULL OR grade_level IN {LEVELS}", name=op.f("ck_incident_grade_level")),
        sa.CheckConstraint(
            f"override_level IS NULL OR override_level IN {LEVELS}", name=op.f("ck_incident_override_level")
        ),
        sa.CheckConstraint(
            "status IN ('reported', 'verified', 'responding', 'contained', 'closed', 'cancelled')",
            name=op.f("ck_incident_status"),
        ),
        sa.ForeignKeyConstraint(
            ["jurisdiction_id"],
            ["jurisdiction.id"],
            name=op.f("fk_incident_jurisdiction_id_jurisdiction"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["possible_duplicate_of"],
            ["incident.id"],
            name=op.f("fk_incident_possible_duplicate_of_incident"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["merged_into"], ["incident.id"], name=op.f("fk_incident_merged_into_incident"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident")),
    )
    op.create_index("ix_incident_location", "incident", ["location"], postgresql_using="gist")
    op.create_index("ix_incident_status_created_at", "incident", ["status", "created_at"])
    op.create_index("ix_incident_subtype_reported_at", "incident", ["subtype", "reported_at"])

    op.create_table(
        "incident_timeline",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("data", jsonb, server_default="{}", nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_incident_timeline_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_timeline")),
    )
    op.create_index("ix_incident_timeline_incident_id_id", "incident_timeline", ["incident_id", "id"])

    op.create_table(
        "incident_idempotency",
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_incident_idempotency_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("actor", "key", name=op.f("pk_incident_idempotency")),
    )


def downgrade() -> None:
    op.drop_table("incident_idempotency")
    op.drop_index("ix_incident_timeline_incident_id_id", table_name="incident_timeline")
    op.drop_table("incident_timeline")
    op.drop_index("ix_incident_subtype_reported_at", table_name="incident")
    op.drop_index("ix_incident_status_created_at", table_name="incident")
    op.drop_index("ix_incident_location", table_name="incident")
    op.drop_table("incident")
