"""The record grows what every dispatch desk records: the address as typed, the callback flag, when the incident
closed (for the caller's retention), and the caller in a table of its own (personal data, never in the incident's
shape).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("incident", sa.Column("address_text", sa.String(length=500), nullable=True))
    op.add_column("incident", sa.Column("callback_requested", sa.Boolean(), server_default="false", nullable=False))
    op.add_column("incident", sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
    # Incidents already closed: their last change is the best record of when.
    op.execute("UPDATE incident SET closed_at = updated_at WHERE status IN ('closed', 'cancelled')")
    op.create_index(
        "ix_incident_closed_at",
        "incident",
        ["closed_at"],
        unique=False,
        postgresql_where=sa.text("closed_at IS NOT NULL"),
    )
    op.create_table(
        "incident_caller",
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("phone_display", sa.String(length=64), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("incident_id"),
    )


def downgrade() -> None:
    op.drop_table("incident_caller")
    op.drop_index("ix_incident_closed_at", table_name="incident", postgresql_where=sa.text("closed_at IS NOT NULL"))
    op.drop_column("incident", "closed_at")
    op.drop_column("incident", "callback_requested")
    op.drop_column("incident", "address_text")
