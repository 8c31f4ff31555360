"""Place search: the named things of imported OSM extracts, their folded search terms (pg_trgm trigram and prefix
indexes) and the ways of each street (for crossings).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-22

pg_trgm ships with PostgreSQL (Debian's postgresql-15 package carries the contrib extensions).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # pg_trgm declares its similarity operator (``%``) as cheap as comparing two integers (COST 1), so on a few
    # thousand terms the planner prefers a sequential scan computing every term's trigrams (36-55 ms for a
    # 16-letter pinyin query, bench/places.py) to the GIN index (under 1 ms). Its true cost makes the index win.
    # (pg_dump does not keep this on an extension's function: a restored database needs this line again.)
    op.execute("ALTER FUNCTION similarity_op(text, text) COST 100")
    op.create_table(
        "place",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("names", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("geom", Geometry(geometry_type="GEOMETRY", srid=4326, spatial_index=False), nullable=False),
        sa.Column("location", Geometry(geometry_type="POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_place")),
        sa.UniqueConstraint("source", "external_id", name=op.f("uq_place_source_external_id")),
    )
    op.create_index("ix_place_geom", "place", ["geom"], postgresql_using="gist")
    op.create_table(
        "place_term",
        sa.Column("place_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("term", sa.Text(), nullable=False),
        sa.Column("worth", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["place_id"], ["place.id"], name=op.f("fk_place_term_place_id_place"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("place_id", "term", name=op.f("pk_place_term")),
    )
    op.create_index(
        "ix_place_term_trgm", "place_term", ["term"], postgresql_using="gin", postgresql_ops={"term": "gin_trgm_ops"}
    )
    op.create_index("ix_place_term_prefix", "place_term", ["term"], postgresql_ops={"term": "text_pattern_ops"})
    op.create_table(
        "place_way",
        sa.Column("osm_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("place_id", sa.BigInteger(), nullable=False),
        sa.Column("node_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("geom", Geometry(geometry_type="LINESTRING", srid=4326, spatial_index=False), nullable=False),
        sa.ForeignKeyConstraint(
            ["place_id"], ["place.id"], name=op.f("fk_place_way_place_id_place"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("osm_id", name=op.f("pk_place_way")),
    )
    op.create_index("ix_place_way_place_id", "place_way", ["place_id"])


def downgrade() -> None:
    op.drop_index("ix_place_way_place_id", table_name="place_way")
    op.drop_table("place_way")
    op.drop_index("ix_place_term_prefix", table_name="place_term")
    op.drop_index("ix_place_term_trgm", table_name="place_term")
    op.drop_table("place_term")
    op.drop_index("ix_place_geom", table_name="place")
    op.drop_table("place")
    op.execute("DROP EXTENSION IF EXISTS pg_trgm")
