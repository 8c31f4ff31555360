"""A small OSM town written by the tests, for place search with exact expectations.

春熙路 (ways 1, 2) meets 总府路 (way 3) at node 2; 红星路四段 is two ways (4, 5), 红星路三段 one (6); 解放路 (way 7)
meets none of them; two 人民路 lie 5 km apart (ways 8, 9); a station, a hospital, an address, and the same bus stop
on each side of a road (nodes 40..45).
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

LON, LAT = 104.06, 30.66
STEP = 0.001  # ~100 m

NODES: dict[int, tuple[float, float]] = {
    1: (LON, LAT), 2: (LON + STEP, LAT), 3: (LON + 2 * STEP, LAT), 4: (LON + 3 * STEP, LAT),
    10: (LON + STEP, LAT - STEP), 11: (LON + STEP, LAT + STEP),
    20: (LON, LAT + 5 * STEP), 21: (LON + STEP, LAT + 5 * STEP), 22: (LON + 2 * STEP, LAT + 5 * STEP),
    23: (LON + 3 * STEP, LAT + 5 * STEP),
    30: (LON, LAT - 8 * STEP), 31: (LON + 3 * STEP, LAT - 8 * STEP),
    50: (LON + 0.05, LAT), 51: (LON + 0.051, LAT), 52: (LON - 0.002, LAT + 0.01), 53: (LON - 0.001, LAT + 0.01),
}  # fmt: skip
CROSSING = NODES[2]
RENMIN_EAST = NODES[50]
RENMIN_WEST = NODES[52]

WAYS: list[tuple[int, list[int], dict[str, str]]] = [
    (1, [1, 2], {"highway": "pedestrian", "name": "春熙路", "name:en": "Chunxi Road"}),
    (2, [2, 3, 4], {"highway": "pedestrian", "name": "春熙路", "name:zh-Hant": "春熙路"}),
    (3, [10, 2, 11], {"highway": "primary", "name": "总府路", "name:en": "Zongfu Road"}),
    (4, [20, 21], {"highway": "primary", "name": "红星路四段", "name:en": "Hongxing Lu 4th Section"}),
    (5, [21, 22], {"highway": "primary", "name": "红星路四段"}),
    (6, [22, 23], {"highway": "primary", "name": "红星路三段"}),
    (7, [30, 31], {"highway": "secondary", "name": "解放路", "name:en": "Jiefang Road"}),
    (8, [50, 51], {"highway": "residential", "name": "人民路"}),
    (9, [52, 53], {"highway": "residential", "name": "人民路"}),
]
POINTS: list[tuple[int, tuple[float, float], dict[str, str]]] = [
    (40, (LON + 0.004, LAT + 0.002), {"railway": "station", "public_transport": "station", "station": "subway",
                                      "name": "天府广场", "name:en": "Tianfu Square", "name:zh-Hant": "天府廣場"}),
    (41, (LON + 0.006, LAT + 0.003), {"amenity": "hospital", "name": "四川省人民医院",
                                      "name:en": "Sichuan Provincial People's Hospital"}),
    (42, (LON + 0.0015, LAT + 0.0002), {"addr:street": "春熙路", "addr:housenumber": "8"}),
    (43, (LON + 0.0025, LAT + 0.0002), {"highway": "bus_stop", "name": "春熙路口站"}),
    (44, (LON + 0.0025, LAT - 0.0002), {"highway": "bus_stop", "name": "春熙路口站"}),
    (45, (LON + 0.0027, LAT), {"public_transport": "stop_position", "name": "春熙路口站"}),
]  # fmt: skip


def write_town(folder: Path) -> Path:
    """The town as an .osm file in ``folder``."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="tests">']

    def tags(values: dict[str, str]) -> list[str]:
        return [f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in values.items()]

    for node_id, (lon, lat) in NODES.items():
        lines.append(f'  <node id="{node_id}" lat="{lat:.7f}" lon="{lon:.7f}" version="1"/>')
    for node_id, (lon, lat), values in POINTS:
        lines += [f'  <node id="{node_id}" lat="{lat:.7f}" lon="{lon:.7f}" version="1">', *tags(values), "  </node>"]
    for way_id, refs, values in WAYS:
        lines += [f'  <way id="{way_id}" version="1">', *(f'    <nd ref="{r}"/>' for r in refs), *tags(values)]
        lines.append("  </way>")
    lines.append("</osm>")
    path = folder / "places_town.osm"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_grid(folder: Path, *, side: int) -> tuple[Path, list[tuple[float, float]]]:
    """``side`` × ``side`` short streets all named 人民路, 1 km apart (each its own street): more equal matches than
    a search keeps. The file and each street's first point."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="tests">']
    starts = []
    for i in range(side * side):
        lon, lat = LON + (i % side) * 0.01, LAT + (i // side) * 0.01
        starts.append((lon, lat))
        a, b = 1000 + 2 * i, 1001 + 2 * i
        lines.append(f'  <node id="{a}" lat="{lat:.7f}" lon="{lon:.7f}" version="1"/>')
        lines.append(f'  <node id="{b}" lat="{lat:.7f}" lon="{lon + STEP:.7f}" version="1"/>')
    for i in range(side * side):
        a, b = 1000 + 2 * i, 1001 + 2 * i
        lines += [f'  <way id="{100 + i}" version="1">', f'    <nd ref="{a}"/>', f'    <nd ref="{b}"/>']
        lines += ['    <tag k="highway" v="residential"/>', '    <tag k="name" v="人民路"/>', "  </way>"]
    lines.append("</osm>")
    path = folder / "places_grid.osm"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, starts
