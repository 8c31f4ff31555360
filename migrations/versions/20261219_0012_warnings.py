"""Warnings (预警) and CAP feed subscriptions (issue 18).

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-19

``warning``: one row per CAP message received or issued (unique on sender, identifier and sent), its mapped event,
every ``info`` block, its area as geometry (circles buffered to polygons), the messages it references, who supersedes
or cancels it, and the incident opened from it. ``cap_feed``: the feeds polled for new messages, with the state of
their conditional GET and their last error.
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    jsonb = postgresql.JSONB(astext_type=sa.Text())
    op.create_table(
        "cap_feed",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("interval_s", sa.Float(), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("seen", jsonb, server_default="[]", nullable=False),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("imported", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("url"),
    )
    op.create_index("ix_cap_feed_next_poll_at", "cap_feed", ["next_poll_at"])
    op.create_table(
        "warning",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("profile", sa.String(length=16), nullable=False),
        sa.Column("feed_id", sa.BigInteger(), nullable=True),
        sa.Column("identifier", sa.Text(), nullable=False),
        sa.Column("sender", sa.Text(), nullable=False),
        sa.Column("sent", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("msg_type", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("event", sa.Text(), server_default="", nullable=False),
        sa.Column("event_codes", jsonb, server_default="[]", nullable=False),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("subtype", sa.String(length=48), nullable=True),
        sa.Column("colour", sa.String(length=8), nullable=True),
        sa.Column("severity", sa.String(length=16), server_default="Unknown", nullable=False),
        sa.Column("urgency", sa.String(length=16), server_default="Unknown", nullable=False),
        sa.Column("certainty", sa.String(length=16), server_default="Unknown", nullable=False),
        sa.Column("headline", sa.Text(), nullable=True),
        sa.Column("languages", jsonb, server_default="[]", nullable=False),
        sa.Column("effective", sa.DateTime(timezone=True), nullable=True),
        sa.Column("onset", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=True),
        sa.Column("header", jsonb, server_default="{}", nullable=False),
        sa.Column("infos", jsonb, server_default="[]", nullable=False),
        sa.Column("references", jsonb, server_default="[]", nullable=False),
        sa.Column("references_unknown", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("signature", sa.String(length=16), server_default="unverified", nullable=False),
        sa.Column("signer", sa.Text(), nullable=True),
        sa.Column(
            "area",
            geoalchemy2.types.Geometry(
                geometry_type="GEOMETRY", srid=4326, spatial_index=False, from_text="ST_GeomFromEWKT", name="geometry"
            ),
            nullable=True,
        ),
        sa.Column("original", sa.LargeBinary(), nullable=True),
        sa.Column("superseded_by", sa.BigInteger(), nullable=True),
        sa.Column("cancelled_by", sa.BigInteger(), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("incident_id", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["feed_id"], ["cap_feed.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["superseded_by"], ["warning.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["cancelled_by"], ["warning.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sender", "identifier", "sent", name="uq_warning_message"),
    )
    op.create_index("ix_warning_area", "warning", ["area"], postgresql_using="gist")
    op.create_index("ix_warning_sender_identifier", "warning", ["sender", "identifier"])
    op.create_index("ix_warning_open", "warning", ["expires"], postgresql_where=sa.text("ended_at IS NULL"))
    op.create_index(
        "ix_warning_references",
        "warning",
        ["references"],
        postgresql_using="gin",
        postgresql_ops={"references": "jsonb_path_ops"},
    )
    op.create_index(
        "ix_warning_incident_id", "warning", ["incident_id"], postgresql_where=sa.text("incident_id IS NOT NULL")
    )


def downgrade() -> None:
    op.drop_table("warning")
    op.drop_table("cap_feed")
