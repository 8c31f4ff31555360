"""Where things are: the resource registry (units and facilities), jurisdictions, hazard zones and road ways.

One table, one id space for units and fixed resources: a unit's ``resource.id`` is its ``unit_id`` everywhere.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class UnitStatus(StrEnum):
    """A unit's status (DOMAIN.md section 4). Facilities have none."""

    available = "available"
    dispatched = "dispatched"
    en_route = "en_route"
    on_scene = "on_scene"
    transporting = "transporting"
    at_hospital = "at_hospital"
    out_of_service = "out_of_service"


class ResourceKind(StrEnum):
    """Dispatchable units move and have a status; facilities stay put and have capacity."""

    unit = "unit"
    facility = "facility"


# The CHECK constraint's list, written from our own enum (fixed text, no input).
_STATUSES_SQL = ", ".join(f"'{s.value}'" for s in UnitStatus)


class ResourceType(Base):
    """A resource type key (``ambulance``, ``hospital``...): data, seeded by the migration, extendable."""

    __tablename__ = "resource_type"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64), nullable=False)
    name_en: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)

    __table_args__ = (CheckConstraint("kind IN ('unit', 'facility')", name="kind"),)


class Resource(Base):
    """A unit or a fixed resource, with its place on the map."""

    __tablename__ = "resource"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    type: Mapped[str] = mapped_column(String(32), ForeignKey("resource_type.key", onupdate="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    name_zh: Mapped[str | None] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    # e.g. {"beds": 800}, {"places": 2000}, {"stock": {...}}
    capacity: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    home_station_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("resource.id", ondelete="SET NULL"))
    agency: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str | None] = mapped_column(String(32))
    location: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
    last_fix_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The last unit.location event written for this unit: when, and the fix time it carried. The live stream gets at
    # most one such event per unit per location_stream_seconds (gis/units.py): a fix within the interval moves the
    # unit without one, and the positions sweep writes the newest when the interval is over.
    location_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    location_event_fix_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Where the row came from ('api', 'osm', 'demo', 'import:<file>'); with external_id, what makes a re-import
    # update the row instead of adding a second one.
    source: Mapped[str] = mapped_column(String(200), nullable=False, server_default="api")
    external_id: Mapped[str | None] = mapped_column(String(200))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")

    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        CheckConstraint(f"status IS NULL OR status IN ({_STATUSES_SQL})", name="status"),
        UniqueConstraint("source", "external_id"),
        Index("ix_resource_location", "location", postgresql_using="gist"),
        Index("ix_resource_type_status", "type", "status"),
        Index("ix_resource_home_station_id", "home_station_id"),
        # The available units in each station's quarters, by type (nearest-by-road's station step, gis.roads.reach).
        Index(
            "ix_resource_quarters",
            "home_station_id",
            "type",
            postgresql_include=["last_fix_at"],
            postgresql_where=text("status = 'available'"),
        ),
        # Only the units whose newest position has not been sent yet: the positions sweep's work, kept small.
        Index(
            "ix_resource_position_unsent",
            "location_event_at",
            postgresql_where=text("last_fix_at IS DISTINCT FROM location_event_fix_at"),
        ),
    )


class Jurisdiction(Base):
    """An administrative area (a district, a city): answers "whose ground is this point on"."""

    __tablename__ = "jurisdiction"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    name_en: Mapped[str | None] = mapped_column(String(200))
    admin_level: Mapped[int | None] = mapped_column(SmallInteger)
    code: Mapped[str | None] = mapped_column(String(64))
    geom: Mapped[WKBElement] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)
    area_m2: Mapped[float] = mapped_column(Float, Computed("ST_Area(geom::geography)", persisted=True))
    source: Mapped[str] = mapped_column(String(200), nullable=False)
    external_id: Mapped[str] = mapped_column(String(200), nullable=False)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_jurisdiction_geom", "geom", postgresql_using="gist"),
    )


class HazardZone(Base):
    """A hazard area: a polygon, or a line (an active fault) widened by ``buffer_m`` metres into ``area``."""

    __tablename__ = "hazard_zone"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    geom: Mapped[WKBElement] = mapped_column(Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False)
    buffer_m: Mapped[float] = mapped_column(Float, nullable=False, server_default="0")
    area: Mapped[WKBElement] = mapped_column(
        Geometry("GEOMETRY", srid=4326, spatial_index=False),
        Computed(
            "CASE WHEN buffer_m > 0 THEN ST_Buffer(geom::geography, buffer_m)::geometry ELSE geom END", persisted=True
        ),
    )
    source: Mapped[str] = mapped_column(String(200), nullable=False)
    external_id: Mapped[str] = mapped_column(String(200), nullable=False)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (
        CheckConstraint("buffer_m >= 0", name="buffer_m"),
        UniqueConstraint("source", "external_id"),
        Index("ix_hazard_zone_area", "area", postgresql_using="gist"),
    )


class RoadWay(Base):
    """An OSM way with a ``highway`` tag, kept as read for the routing graph (split at intersections later)."""

    __tablename__ = "road_way"

    osm_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    highway: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str | None] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    # 1: only along the digitised direction, -1: only against it, 0: both ways.
    oneway: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default="0")
    maxspeed: Mapped[int | None] = mapped_column(SmallInteger)  # km/h, when tagged
    tags: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    geom: Mapped[WKBElement] = mapped_column(Geometry("LINESTRING", srid=4326, spatial_index=False), nullable=False)
    source: Mapped[str] = mapped_column(String(200), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (
        CheckConstraint("oneway IN (-1, 0, 1)", name="oneway"),
        Index("ix_road_way_geom", "geom", postgresql_using="gist"),
    )
