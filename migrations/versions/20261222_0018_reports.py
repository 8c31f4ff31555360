"""Reports: the event log indexed for after-action reports and the response-time percentiles.

``ix_event_incident_reported``: the incidents logged in a period (their ``incident.created`` events by time), where
``GET /reports/response-times`` starts; without it the query reads the whole log, location events and all.
``ix_event_unit_location``: a unit's ``unit.location`` events in a time window (the tracks on a report's map).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Built CONCURRENTLY, outside the migration's transaction: the event log takes every write of the service, and a
    # plain CREATE INDEX would hold them all for as long as it reads a log of millions of rows.
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_event_incident_reported",
            "event",
            ["created_at"],
            postgresql_include=["incident_id"],
            postgresql_where=sa.text("type = 'incident.created'"),
            postgresql_concurrently=True,
        )
        op.create_index(
            "ix_event_unit_location",
            "event",
            ["unit_id", "created_at"],
            postgresql_where=sa.text("type = 'unit.location'"),
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_event_unit_location", table_name="event", postgresql_concurrently=True)
        op.drop_index("ix_event_incident_reported", table_name="event", postgresql_concurrently=True)
