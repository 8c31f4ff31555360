"""Incidents: the plans that match each incident, stored when they change instead of computed on every read.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-15

Incidents already stored start with no matches; ``commandpost plans load`` (which ``scripts/setup`` runs after
``db upgrade``) matches every open incident again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "incident",
        sa.Column("plan_matches", postgresql.JSONB(), server_default="[]", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("incident", "plan_matches")
