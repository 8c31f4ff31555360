"""Exercises (演练): an incident logged by a drill is marked as one.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-22

Marked records stay out of the real situation counters and duplicate checks, export as CAP ``Exercise``, and are
cleared together when the drill is over (``POST /api/v1/exercises/clear``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("incident", sa.Column("exercise", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("incident", "exercise")
