"""Command: dispatches (one open dispatch per unit, enforced by a partial unique index) and units' location tracks.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dispatch",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=False),
        sa.Column("unit_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="dispatched", nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_dispatch_incident_id_incident"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["resource.id"], name=op.f("fk_dispatch_unit_id_resource"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch")),
    )
    op.create_index(
        "uq_dispatch_open_unit", "dispatch", ["unit_id"], unique=True, postgresql_where=sa.text("closed_at IS NULL")
    )
    op.create_index("ix_dispatch_incident_id", "dispatch", ["incident_id"])
    op.create_index(
        "ix_dispatch_open_unacknowledged",
        "dispatch",
        ["created_at"],
        postgresql_where=sa.text("closed_at IS NULL AND acknowledged_at IS NULL"),
    )
    op.create_table(
        "unit_fix",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "location",
            geoalchemy2.types.Geometry(
                geometry_type="POINT", srid=4326, spatial_index=False, from_text="ST_GeomFromEWKT", name="geometry"
            ),
            nullable=False,
        ),
        sa.Column("speed_kmh", sa.Float(), nullable=True),
        sa.Column("trusted", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["resource.id"], name=op.f("fk_unit_fix_unit_id_resource"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit_fix")),
    )
    op.create_index("ix_unit_fix_unit_id_at", "unit_fix", ["unit_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_unit_fix_unit_id_at", table_name="unit_fix")
    op.drop_table("unit_fix")
    op.drop_index("ix_dispatch_open_unacknowledged", table_name="dispatch")
    op.drop_index("ix_dispatch_incident_id", table_name="dispatch")
    op.drop_index("uq_dispatch_open_unit", table_name="dispatch")
    op.drop_table("dispatch")
