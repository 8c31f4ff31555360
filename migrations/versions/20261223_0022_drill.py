"""Drills (演练): what a drill expects of the room for one of its reports, scored in the after-action report.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-23

A nullable JSONB on the incident (incidents.schemas.DrillIn): the drill's name, the plan expected, by when the first
decision is due, and whether its alerts go out for real.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("incident", sa.Column("drill", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("incident", "drill")
