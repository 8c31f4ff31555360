"""A dead delivery handled by a person: who and when, so it leaves the command room's escalation list.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("delivery", sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("delivery", sa.Column("handled_by", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("delivery", "handled_by")
    op.drop_column("delivery", "handled_at")
