"""The field stream's timers: acknowledgement deadlines by grade, escalations a commander must handle, unit timers.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-18

A dispatch gains its acknowledgement deadline (``ack_due_at``: the dispatch's time plus the deadline of the
incident's grade; dispatches made before this revision get the old fixed 180 s), the state of its escalation (who
handled it, when and how), every alert sent to its unit (``alerts``), the route's ETA at dispatch and the time the
unit set off (``unit.overdue``), and the episodes of ``unit.overdue`` / ``unit.stale`` already raised, so that each
is raised once and a restart repeats nothing. The sweep's index follows the deadline instead of the creation time.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIMES = ("escalation_handled_at", "en_route_at", "overdue_at", "stale_at", "stale_fix_at")


def upgrade() -> None:
    op.add_column("dispatch", sa.Column("ack_due_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE dispatch SET ack_due_at = created_at + interval '180 seconds'")
    op.alter_column("dispatch", "ack_due_at", nullable=False)
    op.add_column("dispatch", sa.Column("escalation_handled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("dispatch", sa.Column("escalation_handled_by", sa.String(length=64), nullable=True))
    op.add_column("dispatch", sa.Column("escalation_handling", sa.String(length=16), nullable=True))
    op.add_column(
        "dispatch",
        sa.Column("alerts", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
    )
    op.add_column("dispatch", sa.Column("eta_s", sa.Float(), nullable=True))
    op.add_column("dispatch", sa.Column("eta_method", sa.String(length=16), nullable=True))
    for name in ("en_route_at", "overdue_at", "stale_at", "stale_fix_at"):
        op.add_column("dispatch", sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    op.drop_index("ix_dispatch_open_unacknowledged", table_name="dispatch")
    op.create_index(
        "ix_dispatch_open_unacknowledged",
        "dispatch",
        ["ack_due_at"],
        postgresql_where=sa.text("closed_at IS NULL AND acknowledged_at IS NULL AND escalated_at IS NULL"),
    )
    op.create_index(
        "ix_dispatch_escalation_open",
        "dispatch",
        ["incident_id"],
        postgresql_where=sa.text("escalated_at IS NOT NULL AND escalation_handled_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_dispatch_escalation_open", table_name="dispatch")
    op.drop_index("ix_dispatch_open_unacknowledged", table_name="dispatch")
    op.create_index(
        "ix_dispatch_open_unacknowledged",
        "dispatch",
        ["created_at"],
        postgresql_where=sa.text("closed_at IS NULL AND acknowledged_at IS NULL"),
    )
    for name in (*_TIMES, "escalation_handled_by", "escalation_handling", "alerts", "eta_s", "eta_method"):
        op.drop_column("dispatch", name)
    op.drop_column("dispatch", "ack_due_at")
