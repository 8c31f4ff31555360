"""Resources: a partial index of the available units in each station's quarters, by type (nearest by road).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_resource_quarters",
        "resource",
        ["home_station_id", "type"],
        postgresql_include=["last_fix_at"],
        postgresql_where=sa.text("status = 'available'"),
    )


def downgrade() -> None:
    op.drop_index("ix_resource_quarters", table_name="resource")
