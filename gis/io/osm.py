"""Reading an OpenStreetMap extract (.osm, .osm.bz2, .osm.pbf) with pyosmium: facilities, boundaries and roads.

Why pyosmium and not GDAL's OSM driver: GDAL silently drops a boundary relation it cannot close, and we must name
each incomplete boundary we skip; libosmium also reads all three formats itself, streaming, with a node-location
index for way geometry. Two passes: relations first (to learn which ways the boundaries need), then nodes and ways.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import osmium
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon
from shapely.ops import polygonize_full, unary_union

from core.bounds import PG_INT_MAX, ascii_whole_number
from core.errors import Invalid

DRIVABLE = {
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary", "secondary_link",
    "tertiary", "tertiary_link", "unclassified", "residential", "living_street", "service", "road",
}  # fmt: skip
NOT_EMERGENCY_SHELTER = {"public_transport", "picnic_shelter", "weather_shelter", "gazebo", "lean_to", "sun_shelter"}
_SPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*$")


@dataclass
class Facility:
    """A hospital, station, school or shelter found in the extract (a node, or a closed way at its centroid)."""

    type: str
    osm_id: str  # "node/123", "way/456"
    name: str | None
    name_zh: str | None
    name_en: str | None
    lon: float
    lat: float
    capacity: dict[str, Any]
    tags: dict[str, str]


@dataclass
class Boundary:
    osm_id: int
    name: str
    name_en: str | None
    admin_level: int | None
    geometry: MultiPolygon


@dataclass
class Road:
    osm_id: int
    highway: str
    name: str | None
    name_en: str | None
    oneway: int
    maxspeed: int | None
    tags: dict[str, str]
    coords: list[tuple[float, float]]
    # The OSM node ids behind ``coords``, one each: ways meet where they share a node (the routing graph's
    # junctions), not where their lines cross (a bridge crosses the river and the road under it).
    node_ids: list[int] = field(default_factory=list)


@dataclass
class Extract:
    facilities: list[Facility] = field(default_factory=list)
    boundaries: list[Boundary] = field(default_factory=list)
    roads: list[Road] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)


def facility_type(tags: dict[str, str]) -> str | None:
    """Which resource type an OSM object is, if it is one we keep."""
    amenity = tags.get("amenity")
    if amenity == "hospital" or tags.get("healthcare") == "hospital":
        return "hospital"
    if amenity == "fire_station":
        return "fire_station"
    if amenity == "police":
        return "police_station"
    if amenity == "school":
        return "school"
    if tags.get("emergency") == "assembly_point" or tags.get("social_facility") == "shelter":
        return "shelter"
    if amenity == "shelter" and tags.get("shelter_type") not in NOT_EMERGENCY_SHELTER:
        return "shelter"
    return None


def _names(tags: dict[str, str]) -> tuple[str | None, str | None, str | None]:
    zh = tags.get("name:zh") or tags.get("name:zh-Hans") or tags.get("name:zh-CN")
    en = tags.get("name:en")
    return tags.get("name") or zh or en, zh, en


def _capacity(type_key: str, tags: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, tag in (("beds", "beds"), ("places", "capacity")):
        value = ascii_whole_number(tags.get(tag, "").strip(), maximum=PG_INT_MAX)
        if value is not None:
            out[key] = value
    return out


def oneway(tags: dict[str, str]) -> int:
    """1 along the way, -1 against it, 0 both (roundabouts and motorways are one-way unless tagged otherwise)."""
    value = tags.get("oneway", "").lower()
    if value in ("yes", "true", "1"):
        return 1
    if value in ("-1", "reverse"):
        return -1
    if value in ("no", "false", "0", "reversible", "alternating"):
        return 0
    if tags.get("junction") in ("roundabout", "circular") or tags.get("highway") in ("motorway", "motorway_link"):
        return 1
    return 0


def maxspeed_kmh(value: str | None) -> int | None:
    """A ``maxspeed`` tag in km/h ("50", "50 km/h", "30 mph"); None for values like "signals" or "none"."""
    match = _SPEED.match(value or "")
    if not match:
        return None
    speed = float(match.group(1)) * (1.609344 if match.group(2) == "mph" else 1.0)
    return int(round(speed)) if 0 < speed < 400 else None


class _Relations(osmium.SimpleHandler):
    def __init__(self) -> None:
        super().__init__()
        self.boundaries: dict[int, tuple[dict[str, str], list[tuple[int, str]]]] = {}

    def relation(self, r: Any) -> None:
        if r.tags.get("boundary") != "administrative" or r.tags.get("type") not in ("boundary", "multipolygon"):
            return
        ways = [(m.ref, m.role) for m in r.members if m.type == "w" and m.role in ("outer", "inner", "")]
        self.boundaries[r.id] = (dict(r.tags), ways)


class _Features(osmium.SimpleHandler):
    def __init__(self, boundary_ways: set[int], extract: Extract) -> None:
        super().__init__()
        self.boundary_ways = boundary_ways
        self.way_coords: dict[int, list[tuple[float, float]] | None] = {}
        self.extract = extract

    def node(self, n: Any) -> None:
        if not n.tags:
            return
        tags = dict(n.tags)
        kind = facility_type(tags)
        if kind is None or not n.location.valid():
            return
        self._facility(kind, f"node/{n.id}", tags, n.location.lon, n.location.lat)

    def way(self, w: Any) -> None:
        tags = dict(w.tags)
        wanted = w.id in self.boundary_ways or "highway" in tags or facility_type(tags) is not None
        if not wanted:
            return
        coords = [(n.lon, n.lat) for n in w.nodes if n.location.valid()]
        complete = len(coords) == len(w.nodes) and len(coords) >= 2
        if w.id in self.boundary_ways:
            self.way_coords[w.id] = coords if complete else None
        if not complete:
            return
        highway = tags.get("highway")
        if highway in DRIVABLE:
            name, _, name_en = _names(tags)
            rest = {k: v for k, v in tags.items() if k not in ("highway", "name", "name:en", "oneway", "maxspeed")}
            speed = maxspeed_kmh(tags.get("maxspeed"))
            node_ids = [n.ref for n in w.nodes]
            self.extract.roads.append(Road(w.id, highway, name, name_en, oneway(tags), speed, rest, coords, node_ids))
        kind = facility_type(tags)
        if kind is not None:
            shape = Polygon(coords) if len(coords) >= 4 and coords[0] == coords[-1] else LineString(coords)
            centre = shape.centroid if shape.is_valid else shapely.centroid(LineString(coords))
            self._facility(kind, f"way/{w.id}", tags, centre.x, centre.y)

    def _facility(self, kind: str, osm_id: str, tags: dict[str, str], lon: float, lat: float) -> None:
        name, zh, en = _names(tags)
        self.extract.facilities.append(Facility(kind, osm_id, name, zh, en, lon, lat, _capacity(kind, tags), tags))


def _assemble(
    relation_id: int, tags: dict[str, str], members: list[tuple[int, str]], coords: dict[int, Any]
) -> Boundary | str:
    """The boundary's area, or why it cannot be built (a missing way, rings that do not close)."""
    label = f"{tags.get('name') or '(unnamed)'} (relation {relation_id}, admin_level {tags.get('admin_level', '?')})"
    missing = [ref for ref, _ in members if coords.get(ref) is None]
    if not members or missing:
        return f"{label}: {len(missing)} of {len(members)} member ways missing from the extract"
    outer = [LineString(coords[ref]) for ref, role in members if role != "inner"]
    inner = [LineString(coords[ref]) for ref, role in members if role == "inner"]
    polygons, dangles, cuts, invalid = polygonize_full(unary_union(outer))
    if dangles.geoms or cuts.geoms or invalid.geoms or not polygons.geoms:
        return f"{label}: its outer ways do not close into rings"
    area = unary_union(list(polygons.geoms))
    if inner:
        holes, *_ = polygonize_full(unary_union(inner))
        area = area.difference(unary_union(list(holes.geoms)))
    area = shapely.make_valid(area)
    parts = [g for g in getattr(area, "geoms", [area]) if isinstance(g, Polygon) and not g.is_empty]
    if not parts:
        return f"{label}: its rings enclose no area"
    level = tags.get("admin_level", "")
    return Boundary(
        osm_id=relation_id,
        name=tags.get("name") or tags.get("name:zh") or tags.get("name:en") or f"relation {relation_id}",
        name_en=tags.get("name:en"),
        admin_level=ascii_whole_number(level, maximum=32_767),  # a smallint column
        geometry=MultiPolygon(parts),
    )


def read_extract(path: Path) -> Extract:
    """Everything we keep from an OSM file. Raises Invalid for a file libosmium cannot read (truncated, not OSM)."""
    if not path.is_file():
        raise Invalid(f"no such file: {path}", field="file")
    relations = _Relations()
    extract = Extract()
    try:
        relations.apply_file(str(path))
        ways = {ref for _, members in relations.boundaries.values() for ref, _ in members}
        features = _Features(ways, extract)
        features.apply_file(str(path), locations=True)
    except RuntimeError as exc:
        raise Invalid(f"cannot read {path.name} as OpenStreetMap data: {exc}", field="file") from None
    for relation_id, (tags, members) in sorted(relations.boundaries.items()):
        built = _assemble(relation_id, tags, members, features.way_coords)
        if isinstance(built, Boundary):
            extract.boundaries.append(built)
        else:
            extract.incomplete.append(built)
    return extract
