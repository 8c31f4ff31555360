"""The searchable map of an OSM extract: every named thing (streets, places, facilities, stations) and every address,
with all its ``name:*`` variants, folded into search terms (``gis.places.names``) and loaded into ``place``.

A street is the same-named ways that lie near each other (within STREET_GAP_M: one street, not every 人民路 of a
province), merged into one place; its ways and their node ids go to ``place_way`` for crossings. A pass of its own
over the file (the roads' pass keeps only drivable ways; 春熙路 is a pedestrian street).

Idempotent: an extract's places are keyed by (``osm:<file name>``, ``node/1`` | ``way/2`` | ``street/<first way>``);
a second import of the same file updates them in place, and drops those the file no longer has.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import osmium
import shapely
from shapely.geometry import LineString, MultiLineString, Point, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid
from gis.places import store
from gis.places.store import Named

# Same-named ways closer than this are one street.
STREET_GAP_M = 300.0
# Names kept as variants besides ``name`` and ``name:*``.
_NAME_KEYS = ("alt_name", "old_name", "official_name", "short_name", "loc_name", "int_name", "reg_name")
# Highway objects that are not streets (a stop is a station; a crossing node is nobody's name).
_NOT_STREET = {"bus_stop", "platform", "elevator", "street_lamp", "traffic_signals", "crossing", "stop"}
_FACILITY_KEYS = (
    "amenity", "healthcare", "emergency", "shop", "office", "tourism", "leisure", "historic", "craft", "man_made",
    "building",
)  # fmt: skip
_PLACE_KEYS = ("place", "natural", "waterway", "landuse", "railway", "bridge")


@dataclass
class StreetWay:
    osm_id: int
    name: str
    highway: str
    names: dict[str, str]
    node_ids: list[int]
    coords: list[tuple[float, float]]


@dataclass
class PlaceExtract:
    things: list[Named] = field(default_factory=list)
    ways: list[StreetWay] = field(default_factory=list)


def names_of(tags: dict[str, str]) -> dict[str, str]:
    """Every name tag: ``name``, ``name:*`` and the alternative names (``alt_name``, ``old_name:en`` ...)."""
    return {
        k: v.strip()
        for k, v in tags.items()
        if v.strip() and (k == "name" or k.startswith("name:") or k.split(":", 1)[0] in _NAME_KEYS)
    }


def kind_of(tags: dict[str, str]) -> tuple[str, str | None] | None:
    """(kind, type) of a named object that is not a street; None for one we leave out."""
    if tags.get("public_transport") == "stop_position":
        return None  # where a vehicle stops on the road: its station is kept
    if tags.get("public_transport") == "station" or tags.get("railway") in ("station", "halt", "tram_stop"):
        return "station", tags.get("station") or tags.get("railway") or "station"
    if tags.get("amenity") == "bus_station":
        return "station", "bus_station"
    if tags.get("highway") == "bus_stop" or tags.get("public_transport") == "platform":
        return "station", "bus_stop"
    for key in _FACILITY_KEYS:
        if key in tags:
            return "facility", tags[key] if tags[key] != "yes" else key
    for key in _PLACE_KEYS:
        if key in tags:
            return "place", tags[key] if tags[key] != "yes" else key
    return "place", None


def address_of(tags: dict[str, str]) -> str | None:
    """``addr:street`` + ``addr:housenumber`` as written on a Chinese envelope (解放西路8号), or None."""
    number = tags.get("addr:housenumber", "").strip()
    street = (tags.get("addr:street") or tags.get("addr:place") or "").strip()
    if not number or not street:
        return None
    if number[-1].isdigit() and any("\u4e00" <= c <= "\u9fff" for c in street):
        number += "号"
    return f"{street}{number}" if "\u4e00" <= street[-1] <= "\u9fff" else f"{number} {street}"


class _Handler(osmium.SimpleHandler):
    def __init__(self, extract: PlaceExtract) -> None:
        super().__init__()
        self.extract = extract

    def node(self, n: Any) -> None:
        if n.tags and n.location.valid():
            self._object(f"node/{n.id}", dict(n.tags), Point(n.location.lon, n.location.lat))

    def way(self, w: Any) -> None:
        if not w.tags:
            return
        tags = dict(w.tags)
        names = names_of(tags)
        if not names and "addr:housenumber" not in tags:
            return
        coords = [(n.lon, n.lat) for n in w.nodes if n.location.valid()]
        if len(coords) != len(w.nodes) or len(coords) < 2:
            return
        name = _main_name(tags, names)
        highway = tags.get("highway")
        if highway and highway not in _NOT_STREET and name and tags.get("area") != "yes":
            node_ids = [n.ref for n in w.nodes]
            self.extract.ways.append(StreetWay(w.id, name, highway, names, node_ids, coords))
            return
        closed = len(coords) >= 4 and coords[0] == coords[-1]
        shape: BaseGeometry = Polygon(coords) if closed else LineString(coords)
        self._object(f"way/{w.id}", tags, shape if shape.is_valid else LineString(coords))

    def _object(self, external_id: str, tags: dict[str, str], geom: BaseGeometry) -> None:
        names = names_of(tags)
        name = _main_name(tags, names)
        found = kind_of(tags) if name else None
        if name and found is not None:
            self.extract.things.append(Named(external_id, found[0], found[1], name, names, geom))
        address = address_of(tags)
        if address is not None:
            self.extract.things.append(Named(f"{external_id}#addr", "address", None, address, {}, geom))


def _main_name(tags: dict[str, str], names: dict[str, str]) -> str | None:
    return names.get("name") or names.get("name:zh") or names.get("name:en") or next(iter(names.values()), None)


def read_places(path: Path) -> PlaceExtract:
    """Every named thing and address of an OSM file. Invalid for a file libosmium cannot read."""
    extract = PlaceExtract()
    try:
        _Handler(extract).apply_file(str(path), locations=True)
    except RuntimeError as exc:
        raise Invalid(f"cannot read {path.name} as OpenStreetMap data: {exc}", field="file") from None
    return extract


# ------------------------------------------------------------------------------------------------------- streets
def _metric(lines: list[LineString]) -> list[BaseGeometry]:
    """The lines in local metres (an equirectangular projection at their mean latitude): enough to tell 300 m."""
    lat0 = math.radians(sum(line.centroid.y for line in lines) / len(lines))
    scale = (111_320.0 * math.cos(lat0), 110_574.0)
    return [shapely.transform(line, lambda xy: xy * scale) for line in lines]


def _root(parent: list[int], i: int) -> int:
    """Union-find: the representative of ``i``'s set (halving the path on the way)."""
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _groups(ways: list[StreetWay]) -> list[list[StreetWay]]:
    """Same-named ways in pieces: two ways are of one street when they lie within STREET_GAP_M of each other."""
    by_name: dict[str, list[StreetWay]] = defaultdict(list)
    for way in ways:
        by_name[way.name].append(way)
    pieces: list[list[StreetWay]] = []
    for group in by_name.values():
        metric = _metric([LineString(w.coords) for w in group])
        parent = list(range(len(group)))
        near = shapely.STRtree(metric).query(metric, predicate="dwithin", distance=STREET_GAP_M)
        for a, b in zip(near[0], near[1], strict=True):
            parent[_root(parent, int(a))] = _root(parent, int(b))
        joined: dict[int, list[StreetWay]] = defaultdict(list)
        for i, way in enumerate(group):
            joined[_root(parent, i)].append(way)
        pieces.extend(joined.values())
    return pieces


def _most_common(values: list[str]) -> str | None:
    return Counter(values).most_common(1)[0][0] if values else None


def street_places(ways: list[StreetWay]) -> list[tuple[Named, list[StreetWay]]]:
    """One place per street (its ways near each other), with the ways it is made of. Each name tag shows the value
    most of its ways have; the others are kept to be found by."""
    out = []
    for piece in _groups(ways):
        keys = {k for way in piece for k in way.names}
        names = {k: v for k in sorted(keys) if (v := _most_common([w.names[k] for w in piece if k in w.names]))}
        lines = MultiLineString([w.coords for w in piece])
        highway = _most_common([w.highway for w in piece])
        first = min(w.osm_id for w in piece)
        also = sorted({v for way in piece for v in way.names.values()} - set(names.values()))
        out.append((Named(f"street/{first}", "street", highway, piece[0].name, names, lines, also), piece))
    return out


def _rows(extract: PlaceExtract) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    places: list[tuple[Any, ...]] = []
    terms: list[tuple[Any, ...]] = []
    ways: list[tuple[Any, ...]] = []
    streets = street_places(extract.ways)
    for thing in [*extract.things, *(street for street, _ in streets)]:
        place, its_terms = store.rows_of(thing)
        places.append(place)
        terms.extend(its_terms)
    for street, piece in streets:
        ways.extend((street.external_id, w.osm_id, w.node_ids, shapely.to_wkb(LineString(w.coords))) for w in piece)
    return places, terms, ways


async def load_places(session: AsyncSession, *, path: Path, source: str) -> int:
    """Read the file's places and replace those of ``source`` with them; how many places it has."""
    places, terms, ways = _rows(read_places(path))
    await store.replace(session, source=source, places=places, terms=terms, ways=ways)
    return len(places)
