"""People management: a user's jurisdictions (the ground a district's duty officer sees) and TOTP two-factor sign-in.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-23

``jurisdiction_ids`` NULL means unscoped (sees everything the role sees). An id array rather than a join table: a
jurisdiction deleted later leaves its id behind, so the user sees less (nothing there), never more (a join row
cascading away would have unscoped them). The TOTP secret is stored encrypted (core/totp.py), never returned after
enrolment; ``totp_last_step`` is the last time step a code was accepted for, so a code is good once. A scoped user's
reads select incidents by jurisdiction: an index on it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("app_user", sa.Column("jurisdiction_ids", postgresql.ARRAY(sa.BigInteger()), nullable=True))
    op.add_column("app_user", sa.Column("totp_secret", sa.String(512), nullable=True))
    op.add_column("app_user", sa.Column("totp_pending", sa.String(512), nullable=True))
    op.add_column("app_user", sa.Column("totp_enabled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("app_user", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_incident_jurisdiction_id",
        "incident",
        ["jurisdiction_id"],
        postgresql_where=sa.text("jurisdiction_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_incident_jurisdiction_id", table_name="incident")
    for column in ("totp_last_step", "totp_enabled_at", "totp_pending", "totp_secret", "jurisdiction_ids"):
        op.drop_column("app_user", column)
