"""Loading an OSM extract: facilities into the registry, complete boundaries as jurisdictions, roads as road ways.

Idempotent: facilities are keyed by ("osm", "node/123"), boundaries by ("osm", relation id), roads by way id, so
importing the same file again updates rows in place. ``demo_units`` adds synthetic units in quarters at the stations.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from geoalchemy2.shape import to_shape
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import bulk_timeouts, driver_connection
from core.events import queue_event
from gis.io.load import CHUNK, bulk_upsert
from gis.io.osm import Extract, read_extract
from gis.io.osm_places import load_places
from gis.io.resource_rows import point_ewkb
from gis.io.schemas import LayerKind, OsmReport
from gis.models import Resource, ResourceType
from gis.places.store import index_jurisdictions
from gis.roads.graph import build_graph

_ROAD_STAGING = """CREATE TEMP TABLE gis_load_road (osm_id bigint, highway text, name text, name_en text,
    oneway smallint, maxspeed smallint, tags jsonb, wkb bytea, source text, node_ids bigint[]) ON COMMIT DROP"""
_ROAD_UPSERT = """
INSERT INTO road_way AS w (osm_id, highway, name, name_en, oneway, maxspeed, tags, geom, source)
SELECT osm_id, highway, name, name_en, oneway, maxspeed, tags, ST_SetSRID(ST_GeomFromWKB(wkb), 4326), source
FROM gis_load_road
ON CONFLICT (osm_id) DO UPDATE SET
    highway = EXCLUDED.highway, name = EXCLUDED.name, name_en = EXCLUDED.name_en, oneway = EXCLUDED.oneway,
    maxspeed = EXCLUDED.maxspeed, tags = EXCLUDED.tags, geom = EXCLUDED.geom, source = EXCLUDED.source,
    updated_at = now()
"""
_ROAD_NODES_UPSERT = """
INSERT INTO road_way_node AS n (osm_id, node_ids)
SELECT osm_id, node_ids FROM gis_load_road
ON CONFLICT (osm_id) DO UPDATE SET node_ids = EXCLUDED.node_ids WHERE n.node_ids IS DISTINCT FROM EXCLUDED.node_ids
"""

# Synthetic units placed in quarters: (station type, unit type, how many per station, at how many stations).
DEMO_QUARTERS: list[tuple[str, str, int, int | None]] = [
    ("fire_station", "fire_engine", 2, None),
    ("fire_station", "ladder_truck", 1, None),
    ("fire_station", "rescue_team", 1, 2),
    ("fire_station", "hazmat_team", 1, 1),
    ("hospital", "ambulance", 2, None),
    ("hospital", "medical_team", 1, 2),
    ("police_station", "police_unit", 2, None),
    ("police_station", "swat_team", 1, 1),
]


def _facility_rows(extract: Extract) -> list[tuple[Any, ...]]:
    rows = []
    places = point_ewkb(shapely.points([f.lon for f in extract.facilities], [f.lat for f in extract.facilities]))
    for i, (f, wkb) in enumerate(zip(extract.facilities, places, strict=True), start=1):
        name = f.name or f"{f.type.replace('_', ' ')} (OSM {f.osm_id})"
        props = json.dumps({"osm_tags": f.tags}, ensure_ascii=False)
        rows.append(
            (
                i,
                f.type,
                name[:200],
                f.name_zh,
                f.name_en,
                json.dumps(f.capacity),
                None,
                None,
                None,
                "osm",
                f.osm_id,
                props,
                wkb,
            )
        )
    return rows


def _boundary_rows(extract: Extract) -> list[tuple[Any, ...]]:
    return [
        (i, b.name, b.name_en, b.admin_level, None, "osm", f"relation/{b.osm_id}", "{}", shapely.to_wkb(b.geometry))
        for i, b in enumerate(extract.boundaries, start=1)
    ]


async def _load_roads(session: AsyncSession, extract: Extract, *, source: str) -> int:
    async with bulk_timeouts(session):  # a city's road ways take longer than a request may
        return await _copy_roads(session, extract, source=source)


async def _copy_roads(session: AsyncSession, extract: Extract, *, source: str) -> int:
    await session.execute(text("DROP TABLE IF EXISTS gis_load_road"))
    await session.execute(text(_ROAD_STAGING))
    rows = [
        (r.osm_id, r.highway, r.name, r.name_en, r.oneway, r.maxspeed, json.dumps(r.tags, ensure_ascii=False),
         shapely.to_wkb(shapely.LineString(r.coords)), source, r.node_ids)
        for r in extract.roads
    ]  # fmt: skip
    conn = await driver_connection(session)
    for start in range(0, len(rows), CHUNK):
        await conn.copy_records_to_table("gis_load_road", records=rows[start : start + CHUNK])
    await session.execute(text(_ROAD_UPSERT))
    await session.execute(text(_ROAD_NODES_UPSERT))
    await session.execute(text("DROP TABLE gis_load_road"))
    return len(rows)


async def import_osm(
    session: AsyncSession, *, path: Path, demo_units: bool = False, speeds: Mapping[str, float] | None = None
) -> OsmReport:
    """Import an OSM extract (.osm, .osm.bz2, .osm.pbf) into the registry and the reference layers, and rebuild the
    routing graph from every stored road way (``speeds``: km/h by highway class, see
    ``gis.roads.graph.build_graph``)."""
    extract = read_extract(path)
    report = OsmReport(file=path.name, incomplete_boundaries=extract.incomplete)
    for f in extract.facilities:
        report.facilities[f.type] = report.facilities.get(f.type, 0) + 1
    if extract.facilities:
        await bulk_upsert(session, LayerKind.resources, _facility_rows(extract))
    if extract.boundaries:
        await bulk_upsert(session, LayerKind.jurisdictions, _boundary_rows(extract))
    report.jurisdictions = len(extract.boundaries)
    if extract.boundaries:
        await index_jurisdictions(session)
    report.roads = await _load_roads(session, extract, source=f"osm:{path.name}")
    report.places = await load_places(session, path=path, source=f"osm:{path.name}")
    report.graph = await build_graph(session, speeds=speeds)
    if demo_units:
        report.demo_units = await place_demo_units(session)
    queue_event(
        session,
        type="layer.imported",
        data={
            "kind": "osm",
            "file": path.name,
            "facilities": report.facilities,
            "jurisdictions": report.jurisdictions,
            "roads": report.roads,
            "places": report.places,
            "demo_units": report.demo_units,
            "incomplete_boundaries": len(report.incomplete_boundaries),
            "graph": {
                "edges": report.graph.edges,
                "vertices": report.graph.vertices,
                "components": report.graph.components,
                "routable_edges": report.graph.routable_edges,
            },
        },
    )
    return report


async def place_demo_units(session: AsyncSession) -> int:
    """Synthetic units at every fire station, hospital and police station (a few special teams at the first ones).

    Labelled as demo in both languages; keyed by station and slot, so a second run changes nothing.
    """
    type_names = await session.execute(select(ResourceType.key, ResourceType.name_zh, ResourceType.name_en))
    names = {key: (zh, en) for key, zh, en in type_names.all()}
    stations = list(
        await session.scalars(
            select(Resource).where(Resource.type.in_({q[0] for q in DEMO_QUARTERS})).order_by(Resource.id)
        )
    )
    rows: list[tuple[Any, ...]] = []
    for station_type, unit_type, per_station, at_most in DEMO_QUARTERS:
        here = [s for s in stations if s.type == station_type][:at_most]
        for station in here:
            for slot in range(1, per_station + 1):
                zh, en = names[unit_type]
                station_zh = station.name_zh or station.name
                station_en = station.name_en or station.name
                rows.append(
                    (
                        len(rows) + 1,
                        unit_type,
                        f"[DEMO] {en} {slot} · {station_en}"[:200],
                        f"【演示】{station_zh}{zh}{slot}号"[:200],
                        f"[DEMO] {en} {slot} · {station_en}"[:200],
                        "{}",
                        station.id,
                        station.agency,
                        "available",
                        "demo",
                        f"{station.source}:{station.external_id or station.id}:{unit_type}:{slot}",
                        json.dumps({"synthetic": True}),
                        point_ewkb(np.array([to_shape(station.location)], dtype=object))[0],
                    )
                )
    if not rows:
        return 0
    await bulk_upsert(session, LayerKind.resources, rows)
    return len(rows)
