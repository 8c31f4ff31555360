"""The searchable map: places read from an OSM extract, their search terms, and the ways of each street (where two
streets share a node they cross).

Derived data: ``import-osm`` replaces an extract's places (those whose ``source`` names its file) on every import.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import BigInteger, DateTime, Float, ForeignKey, Identity, Index, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class Place(Base):
    """A named thing on the map: a street (its same-named ways near each other, merged), a named place, a facility,
    an address or a station. ``names`` holds every ``name:*`` tag as read; ``geom`` is the point, line or lines;
    ``location`` one point on it to show."""

    __tablename__ = "place"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # street, place, facility, address, station
    type: Mapped[str | None] = mapped_column(String(64))  # what OSM says it is: "primary", "hospital", "bus_stop"
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    name_en: Mapped[str | None] = mapped_column(String(200))
    names: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    geom: Mapped[WKBElement] = mapped_column(Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False)
    location: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
    source: Mapped[str] = mapped_column(String(200), nullable=False)  # "osm:<file name>"
    external_id: Mapped[str] = mapped_column(String(200), nullable=False)  # "node/1", "way/2", "street/<way id>"
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_place_geom", "geom", postgresql_using="gist"),
    )


class PlaceTerm(Base):
    """One folded search term of a place (its name, a name variant, its street, pinyin, initials) and its worth.

    Searched by trigram similarity (a GIN index of pg_trgm) and by prefix (a btree in pattern order, which also
    answers one-character queries the trigram index cannot)."""

    __tablename__ = "place_term"

    place_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("place.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    term: Mapped[str] = mapped_column(Text, primary_key=True)
    worth: Mapped[float] = mapped_column(Float, nullable=False)

    __table_args__ = (
        Index("ix_place_term_trgm", "term", postgresql_using="gin", postgresql_ops={"term": "gin_trgm_ops"}),
        Index("ix_place_term_prefix", "term", postgresql_ops={"term": "text_pattern_ops"}),
    )


class PlaceWay(Base):
    """An OSM way of a street place, with its node ids in order (one per vertex of ``geom``)."""

    __tablename__ = "place_way"

    osm_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    place_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("place.id", ondelete="CASCADE"), nullable=False)
    node_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), nullable=False)
    geom: Mapped[WKBElement] = mapped_column(Geometry("LINESTRING", srid=4326, spatial_index=False), nullable=False)

    __table_args__ = (Index("ix_place_way_place_id", "place_id"),)
