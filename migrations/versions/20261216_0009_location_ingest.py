"""Location ingest at scale: every fix kept in a table partitioned by day, and the units each gateway reports for.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-16

``unit_fix`` becomes a table partitioned by range of ``at`` (one partition per UTC day, created ahead and detached
after the retention by the ``command.fix_partitions`` sweep; ``commandpost db upgrade`` creates the first ones). A
default partition catches a fix whose day has no partition yet, so none is ever refused for want of one; the sweep
moves such rows into the day's partition when it creates it. The fixes already stored move into the new table with
their ids (the sequence carries on). The primary key must include the partition key: ``(id, at)``.

Units gain the time of their last ``unit.location`` event and the fix time it carried: the stream gets at most one
per unit per ``location_stream_seconds``, the positions sweep sending the newest when the interval is over.

A fix now also keeps what the device reported besides the position: speed (m/s), heading (degrees) and accuracy (m).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = "id, unit_id, at, location, speed_kmh, trusted, received_at"


def upgrade() -> None:
    op.execute("ALTER SEQUENCE unit_fix_id_seq OWNED BY NONE")
    op.execute("ALTER TABLE unit_fix RENAME TO unit_fix_old")
    op.execute("ALTER INDEX ix_unit_fix_unit_id_at RENAME TO ix_unit_fix_old_unit_id_at")
    op.execute("ALTER TABLE unit_fix_old RENAME CONSTRAINT pk_unit_fix TO pk_unit_fix_old")
    op.execute("ALTER TABLE unit_fix_old RENAME CONSTRAINT fk_unit_fix_unit_id_resource TO fk_unit_fix_old_unit")
    op.execute(
        """
        CREATE TABLE unit_fix (
            id bigint NOT NULL DEFAULT nextval('unit_fix_id_seq'),
            unit_id bigint NOT NULL,
            at timestamptz NOT NULL,
            location geometry(POINT, 4326) NOT NULL,
            speed_kmh double precision,
            reported_speed_ms real,
            heading_deg real,
            accuracy_m real,
            trusted boolean NOT NULL DEFAULT true,
            received_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_unit_fix PRIMARY KEY (id, at),
            CONSTRAINT fk_unit_fix_unit_id_resource FOREIGN KEY (unit_id) REFERENCES resource (id) ON DELETE CASCADE
        ) PARTITION BY RANGE (at)
        """
    )
    op.execute("ALTER SEQUENCE unit_fix_id_seq OWNED BY unit_fix.id")
    op.execute("CREATE INDEX ix_unit_fix_unit_id_at ON unit_fix (unit_id, at)")
    op.execute("CREATE TABLE unit_fix_default PARTITION OF unit_fix DEFAULT")
    op.execute(f"INSERT INTO unit_fix ({_COLUMNS}) SELECT {_COLUMNS} FROM unit_fix_old")
    op.execute("DROP TABLE unit_fix_old")

    op.add_column("resource", sa.Column("location_event_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("resource", sa.Column("location_event_fix_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE resource SET location_event_at = last_fix_at, location_event_fix_at = last_fix_at")
    op.create_index(
        "ix_resource_position_unsent",
        "resource",
        ["location_event_at"],
        postgresql_where=sa.text("last_fix_at IS DISTINCT FROM location_event_fix_at"),
    )
    op.create_table(
        "gateway_unit",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name="fk_gateway_unit_user_id", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["unit_id"], ["resource.id"], name="fk_gateway_unit_unit_id", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "unit_id", name="pk_gateway_unit"),
    )


def downgrade() -> None:
    op.drop_table("gateway_unit")
    op.drop_index("ix_resource_position_unsent", table_name="resource")
    op.drop_column("resource", "location_event_fix_at")
    op.drop_column("resource", "location_event_at")
    op.execute("ALTER SEQUENCE unit_fix_id_seq OWNED BY NONE")
    op.execute("ALTER TABLE unit_fix RENAME TO unit_fix_partitioned")
    op.execute("ALTER INDEX ix_unit_fix_unit_id_at RENAME TO ix_unit_fix_partitioned_unit_id_at")
    op.execute("ALTER TABLE unit_fix_partitioned RENAME CONSTRAINT pk_unit_fix TO pk_unit_fix_partitioned")
    op.execute(
        "ALTER TABLE unit_fix_partitioned RENAME CONSTRAINT fk_unit_fix_unit_id_resource TO fk_unit_fix_partitioned"
    )
    op.execute(
        """
        CREATE TABLE unit_fix (
            id bigint NOT NULL DEFAULT nextval('unit_fix_id_seq'),
            unit_id bigint NOT NULL,
            at timestamptz NOT NULL,
            location geometry(POINT, 4326) NOT NULL,
            speed_kmh double precision,
            trusted boolean NOT NULL DEFAULT true,
            received_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_unit_fix PRIMARY KEY (id),
            CONSTRAINT fk_unit_fix_unit_id_resource FOREIGN KEY (unit_id) REFERENCES resource (id) ON DELETE CASCADE
        )
        """
    )
    op.execute("ALTER SEQUENCE unit_fix_id_seq OWNED BY unit_fix.id")
    op.execute(f"INSERT INTO unit_fix ({_COLUMNS}) SELECT {_COLUMNS} FROM unit_fix_partitioned")
    op.execute("DROP TABLE unit_fix_partitioned")  # its partitions go with it
    op.execute("CREATE INDEX ix_unit_fix_unit_id_at ON unit_fix (unit_id, at)")
