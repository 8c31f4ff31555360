"""The routing graph's tables: each road way's OSM node ids, and the graph pgRouting reads (edges and vertices).

``road_edge`` and ``road_vertex`` are derived data: ``gis.roads.graph.build_graph`` rebuilds them from ``road_way`` and
``road_way_node`` (at the end of ``import-osm``, or ``commandpost roads build``). Vertex ids are OSM node ids.
"""

from __future__ import annotations

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, String
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class RoadWayNodes(Base):
    """The OSM node ids of a road way, in order, one per vertex of its line: where ways share a node they meet."""

    __tablename__ = "road_way_node"

    osm_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("road_way.osm_id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    node_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), nullable=False)


class RoadEdge(Base):
    """A piece of a road way between two junctions, with travel times in seconds.

    A negative cost means the edge may not be driven that way (a one-way street), as pgRouting reads it.
    ``routable`` marks the edges of the largest strongly connected piece: points are snapped only to those, so any
    two snapped points have a path between them both ways.
    """

    __tablename__ = "road_edge"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    osm_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    source: Mapped[int] = mapped_column(BigInteger, nullable=False)
    target: Mapped[int] = mapped_column(BigInteger, nullable=False)
    cost_s: Mapped[float] = mapped_column(Float, nullable=False)
    reverse_cost_s: Mapped[float] = mapped_column(Float, nullable=False)
    length_m: Mapped[float] = mapped_column(Float, nullable=False)
    speed_kmh: Mapped[float] = mapped_column(Float, nullable=False)
    highway: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str | None] = mapped_column(String(200))
    component: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    routable: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    geom: Mapped[WKBElement] = mapped_column(Geometry("LINESTRING", srid=4326, spatial_index=False), nullable=False)

    __table_args__ = (
        Index("ix_road_edge_geom", "geom", postgresql_using="gist"),
        Index("ix_road_edge_source", "source"),
        Index("ix_road_edge_target", "target"),
    )


class RoadVertex(Base):
    """A junction or a dead end of the graph (an OSM node), with its connected piece."""

    __tablename__ = "road_vertex"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    component: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    routable: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)

    __table_args__ = (Index("ix_road_vertex_geom", "geom", postgresql_using="gist"),)
