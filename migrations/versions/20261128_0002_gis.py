"""GIS: the resource registry (units and facilities), jurisdictions, hazard zones and OSM road ways.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# DOMAIN.md section 4. Types are data: more may be inserted later without a migration.
RESOURCE_TYPES = [
    ("ambulance", "救护车", "Ambulance", "unit"),
    ("fire_engine", "消防车", "Fire engine", "unit"),
    ("ladder_truck", "云梯车", "Ladder truck", "unit"),
    ("rescue_team", "救援队", "Rescue team", "unit"),
    ("hazmat_team", "危化品处置队", "Hazmat team", "unit"),
    ("police_unit", "警车", "Police unit", "unit"),
    ("swat_team", "特警队", "SWAT team", "unit"),
    ("medical_team", "医疗队", "Medical team", "unit"),
    ("epidemic_team", "防疫队", "Epidemic team", "unit"),
    ("boat", "救生艇", "Boat", "unit"),
    ("helicopter", "直升机", "Helicopter", "unit"),
    ("excavator", "挖掘机", "Excavator", "unit"),
    ("command_vehicle", "指挥车", "Command vehicle", "unit"),
    ("hospital", "医院", "Hospital", "facility"),
    ("fire_station", "消防站", "Fire station", "facility"),
    ("police_station", "派出所", "Police station", "facility"),
    ("shelter", "避难场所", "Shelter", "facility"),
    ("supply_depot", "物资储备库", "Supply depot", "facility"),
    ("school", "学校", "School", "facility"),
]

UNIT_STATUSES = ("available", "dispatched", "en_route", "on_scene", "transporting", "at_hospital", "out_of_service")


def upgrade() -> None:
    resource_type = op.create_table(
        "resource_type",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.CheckConstraint("kind IN ('unit', 'facility')", name=op.f("ck_resource_type_kind")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_resource_type")),
    )
    op.bulk_insert(
        resource_type,
        [{"key": k, "name_zh": zh, "name_en": en, "kind": kind} for k, zh, en, kind in RESOURCE_TYPES],
    )

    statuses = ", ".join(f"'{s}'" for s in UNIT_STATUSES)
    op.create_table(
        "resource",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=True),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("capacity", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("home_station_id", sa.BigInteger(), nullable=True),
        sa.Column("agency", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column(
            "location",
            Geometry(geometry_type="POINT", srid=4326, spatial_index=False),
            nullable=False,
        ),
        sa.Column("last_fix_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=200), server_default="api", nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(f"status IS NULL OR status IN ({statuses})", name=op.f("ck_resource_status")),
        sa.ForeignKeyConstraint(
            ["type"], ["resource_type.key"], name=op.f("fk_resource_type_resource_type"), onupdate="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["home_station_id"], ["resource.id"], name=op.f("fk_resource_home_station_id_resource"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource")),
        sa.UniqueConstraint("source", "external_id", name=op.f("uq_resource_source_external_id")),
    )
    op.create_index("ix_resource_location", "resource", ["location"], postgresql_using="gist")
    op.create_index("ix_resource_type_status", "resource", ["type", "status"])
    op.create_index("ix_resource_home_station_id", "resource", ["home_station_id"])

    op.create_table(
        "jurisdiction",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("admin_level", sa.SmallInteger(), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column(
            "geom",
            Geometry(geometry_type="MULTIPOLYGON", srid=4326, spatial_index=False),
            nullable=False,
        ),
        # Nested jurisdictions: the smallest one containing a point is the one that answers.
        sa.Column("area_m2", sa.Float(), sa.Computed("ST_Area(geom::geography)", persisted=True), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jurisdiction")),
        sa.UniqueConstraint("source", "external_id", name=op.f("uq_jurisdiction_source_external_id")),
    )
    op.create_index("ix_jurisdiction_geom", "jurisdiction", ["geom"], postgresql_using="gist")

    op.create_table(
        "hazard_zone",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("geom", Geometry(geometry_type="GEOMETRY", srid=4326, spatial_index=False), nullable=False),
        sa.Column("buffer_m", sa.Float(), server_default="0", nullable=False),
        # The area the zone covers: the geometry widened by buffer_m metres on the sphere (a fault line becomes a band).
        sa.Column(
            "area",
            Geometry(geometry_type="GEOMETRY", srid=4326, spatial_index=False),
            sa.Computed(
                "CASE WHEN buffer_m > 0 THEN ST_Buffer(geom::geography, buffer_m)::geometry ELSE geom END",
                persisted=True,
            ),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("buffer_m >= 0", name=op.f("ck_hazard_zone_buffer_m")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazard_zone")),
        sa.UniqueConstraint("source", "external_id", name=op.f("uq_hazard_zone_source_external_id")),
    )
    op.create_index("ix_hazard_zone_area", "hazard_zone", ["area"], postgresql_using="gist")

    op.create_table(
        "road_way",
        sa.Column("osm_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("highway", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        # 1: only along the digitised direction, -1: only against it, 0: both ways.
        sa.Column("oneway", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("maxspeed", sa.SmallInteger(), nullable=True),
        sa.Column("tags", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("geom", Geometry(geometry_type="LINESTRING", srid=4326, spatial_index=False), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("oneway IN (-1, 0, 1)", name=op.f("ck_road_way_oneway")),
        sa.PrimaryKeyConstraint("osm_id", name=op.f("pk_road_way")),
    )
    op.create_index("ix_road_way_geom", "road_way", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_index("ix_road_way_geom", table_name="road_way")
    op.drop_table("road_way")
    op.drop_index("ix_hazard_zone_area", table_name="hazard_zone")
    op.drop_table("hazard_zone")
    op.drop_index("ix_jurisdiction_geom", table_name="jurisdiction")
    op.drop_table("jurisdiction")
    op.drop_index("ix_resource_home_station_id", table_name="resource")
    op.drop_index("ix_resource_type_status", table_name="resource")
    op.drop_index("ix_resource_location", table_name="resource")
    op.drop_table("resource")
    op.drop_table("resource_type")
