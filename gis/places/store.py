"""Storing places: a source's places (an OSM extract's, the jurisdictions') replaced by a new set, with their search
terms and street ways, through COPY into staging tables and a few statements. Shapely and the standard library
only (no osmium): the jurisdictions are indexed again from a request (a layer import).

Idempotent: places are keyed by (``source``, ``external_id``); the same set stored again changes no place's id or
content, and places of the source the new set lacks are deleted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import bulk_timeouts, driver_connection
from gis.places.names import terms_of

CHUNK = 10_000  # rows per COPY
JURISDICTIONS = "jurisdictions"  # the source of the places made from the jurisdiction table


@dataclass
class Named:
    """A named thing to find: what it is, its names (``name`` and every variant, by tag) and where it lies."""

    external_id: str
    kind: str
    type: str | None
    name: str
    names: dict[str, str]
    geom: BaseGeometry
    # Other names it is found by, not shown (a street's ways that spell a variant differently from the most).
    also: list[str] = field(default_factory=list)


def _where(geom: BaseGeometry) -> Point:
    """One point to show: the point itself, a polygon's centroid (or a point inside it), the line's point nearest
    its middle."""
    if isinstance(geom, Point):
        return geom
    if isinstance(geom, Polygon):
        centre = geom.centroid
        return centre if geom.contains(centre) else geom.representative_point()
    return nearest_points(geom, geom.centroid)[0]


def rows_of(thing: Named) -> tuple[tuple[Any, ...], list[tuple[str, str, float]]]:
    """A place's staging row and its search terms' rows."""
    variants = [thing.name, *thing.names.values(), *thing.also]
    place = (
        thing.external_id, thing.kind, thing.type, thing.name, thing.names.get("name:en"),
        json.dumps(thing.names, ensure_ascii=False), shapely.to_wkb(thing.geom), shapely.to_wkb(_where(thing.geom)),
    )  # fmt: skip
    return place, [(thing.external_id, term, worth) for term, worth in terms_of(variants).items()]


_STAGING = (
    "DROP TABLE IF EXISTS gis_load_place, gis_load_place_term, gis_load_place_way",
    """CREATE TEMP TABLE gis_load_place (external_id text, kind text, type text, name text, name_en text,
       names jsonb, wkb bytea, loc bytea) ON COMMIT DROP""",
    "CREATE TEMP TABLE gis_load_place_term (external_id text, term text, worth float8) ON COMMIT DROP",
    """CREATE TEMP TABLE gis_load_place_way (external_id text, osm_id bigint, node_ids bigint[], wkb bytea)
       ON COMMIT DROP""",
)
_UPSERT = (
    """INSERT INTO place AS p (kind, type, name, name_en, names, geom, location, source, external_id)
    SELECT DISTINCT ON (external_id) kind, type, left(name, 200), left(name_en, 200), names,
           ST_SetSRID(ST_GeomFromWKB(wkb), 4326), ST_SetSRID(ST_GeomFromWKB(loc), 4326), :source, external_id
    FROM gis_load_place ORDER BY external_id
    ON CONFLICT (source, external_id) DO UPDATE SET kind = EXCLUDED.kind, type = EXCLUDED.type,
        name = EXCLUDED.name, name_en = EXCLUDED.name_en, names = EXCLUDED.names, geom = EXCLUDED.geom,
        location = EXCLUDED.location, updated_at = now()""",
    """DELETE FROM place p WHERE p.source = :source
       AND NOT EXISTS (SELECT 1 FROM gis_load_place l WHERE l.external_id = p.external_id)""",
    "DELETE FROM place_term t USING place p WHERE t.place_id = p.id AND p.source = :source",
    """INSERT INTO place_term (place_id, term, worth)
    SELECT p.id, l.term, max(l.worth) FROM gis_load_place_term l
    JOIN place p ON p.source = :source AND p.external_id = l.external_id GROUP BY p.id, l.term""",
    "DELETE FROM place_way w USING place p WHERE w.place_id = p.id AND p.source = :source",
    """INSERT INTO place_way AS w (osm_id, place_id, node_ids, geom)
    SELECT l.osm_id, p.id, l.node_ids, ST_SetSRID(ST_GeomFromWKB(l.wkb), 4326) FROM gis_load_place_way l
    JOIN place p ON p.source = :source AND p.external_id = l.external_id
    ON CONFLICT (osm_id) DO UPDATE SET place_id = EXCLUDED.place_id, node_ids = EXCLUDED.node_ids,
        geom = EXCLUDED.geom""",
    "DROP TABLE gis_load_place, gis_load_place_term, gis_load_place_way",
)


async def replace(
    session: AsyncSession,
    *,
    source: str,
    places: Sequence[tuple[Any, ...]],
    terms: Sequence[tuple[Any, ...]],
    ways: Sequence[tuple[Any, ...]] = (),
) -> None:
    """Make ``source``'s places exactly ``places`` (rows of ``rows_of``), with their terms and street ways."""
    async with bulk_timeouts(session):
        for statement in _STAGING:
            await session.execute(text(statement))
        conn = await driver_connection(session)
        for table, rows in (("gis_load_place", places), ("gis_load_place_term", terms), ("gis_load_place_way", ways)):
            for start in range(0, len(rows), CHUNK):
                await conn.copy_records_to_table(table, records=rows[start : start + CHUNK])
        for statement in _UPSERT:
            await session.execute(text(statement), {"source": source} if ":source" in statement else {})


_JURISDICTION_ROWS = text("""
SELECT id, name, name_en, admin_level, ST_AsBinary(ST_PointOnSurface(geom)) AS point FROM jurisdiction ORDER BY id
""")


async def index_jurisdictions(session: AsyncSession) -> int:
    """Make every jurisdiction a place to find (by its name, English name, pinyin), at a point inside it; run after
    jurisdictions are imported. How many there are."""
    places, terms = [], []
    for row in (await session.execute(_JURISDICTION_ROWS)).mappings():
        names = {"name": row["name"], **({"name:en": row["name_en"]} if row["name_en"] else {})}
        level = f"admin_level={row['admin_level']}" if row["admin_level"] is not None else None
        where = shapely.from_wkb(bytes(row["point"]))
        place, its_terms = rows_of(Named(f"jurisdiction/{row['id']}", "jurisdiction", level, row["name"], names, where))
        places.append(place)
        terms.extend(its_terms)
    await replace(session, source=JURISDICTIONS, places=places, terms=terms)
    return len(places)
