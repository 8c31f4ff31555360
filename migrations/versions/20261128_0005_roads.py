"""Roads: each road way's OSM node ids, and the routing graph pgRouting reads (edges and vertices).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "road_way_node",
        sa.Column("osm_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("node_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.ForeignKeyConstraint(
            ["osm_id"], ["road_way.osm_id"], name=op.f("fk_road_way_node_osm_id_road_way"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("osm_id", name=op.f("pk_road_way_node")),
    )
    op.create_table(
        "road_edge",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("osm_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.BigInteger(), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.Column("cost_s", sa.Float(), nullable=False),
        sa.Column("reverse_cost_s", sa.Float(), nullable=False),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column("speed_kmh", sa.Float(), nullable=False),
        sa.Column("highway", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("component", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("routable", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("geom", Geometry(geometry_type="LINESTRING", srid=4326, spatial_index=False), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_road_edge")),
    )
    op.create_index("ix_road_edge_geom", "road_edge", ["geom"], postgresql_using="gist")
    op.create_index("ix_road_edge_source", "road_edge", ["source"])
    op.create_index("ix_road_edge_target", "road_edge", ["target"])
    op.create_table(
        "road_vertex",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("component", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("routable", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("geom", Geometry(geometry_type="POINT", srid=4326, spatial_index=False), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_road_vertex")),
    )
    op.create_index("ix_road_vertex_geom", "road_vertex", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_index("ix_road_vertex_geom", table_name="road_vertex")
    op.drop_table("road_vertex")
    op.drop_index("ix_road_edge_target", table_name="road_edge")
    op.drop_index("ix_road_edge_source", table_name="road_edge")
    op.drop_index("ix_road_edge_geom", table_name="road_edge")
    op.drop_table("road_edge")
    op.drop_table("road_way_node")
