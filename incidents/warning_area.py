"""A warning's areas as one geometry: CAP polygons as they are (repaired when they cross themselves), circles
buffered into polygons on the sphere, a circle of radius 0 (an epicentre) as its point. Pure: shapely only."""

from __future__ import annotations

import math
from collections.abc import Iterable

from shapely import make_valid
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from notify.service import CapArea

EARTH_RADIUS_M = 6_371_008.8
CIRCLE_POINTS = 64


def circle(lon: float, lat: float, radius_m: float, points: int = CIRCLE_POINTS) -> Polygon:
    """A polygon whose vertices lie ``radius_m`` from the centre on the sphere (great-circle destinations)."""
    phi1, lam1 = math.radians(lat), math.radians(lon)
    delta = radius_m / EARTH_RADIUS_M
    ring = []
    for i in range(points):
        theta = 2 * math.pi * i / points
        phi2 = math.asin(math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta))
        lam2 = lam1 + math.atan2(
            math.sin(theta) * math.sin(delta) * math.cos(phi1), math.cos(delta) - math.sin(phi1) * math.sin(phi2)
        )
        ring.append((math.degrees(lam2 + math.pi) % 360 - 180, max(-90.0, min(90.0, math.degrees(phi2)))))
    return Polygon(ring)


def _polygonal(geometry: BaseGeometry) -> list[Polygon]:
    if isinstance(geometry, Polygon):
        return [geometry] if not geometry.is_empty else []
    if hasattr(geometry, "geoms"):
        return [p for g in geometry.geoms for p in _polygonal(g)]
    return []


def area_of(areas: Iterable[CapArea]) -> BaseGeometry | None:
    """The union of the areas' shapes: a MultiPolygon when any has extent, else the points of zero-radius
    circles; None when the areas are described only in words and geocodes."""
    polygons: list[Polygon] = []
    points: list[Point] = []
    seen: set[object] = set()
    for area in areas:
        for ring in area.polygons:
            if ring in seen:
                continue
            seen.add(ring)
            shape = Polygon([(lon, lat) for lat, lon in ring])
            polygons += _polygonal(shape if shape.is_valid else make_valid(shape))
        for c in area.circles:
            if c in seen:
                continue
            seen.add(c)
            if c.radius_km > 0:
                polygons.append(circle(c.lon, c.lat, c.radius_km * 1000.0))
            else:
                points.append(Point(c.lon, c.lat))
    if polygons:
        merged = unary_union(polygons) if len(polygons) > 1 else polygons[0]
        return MultiPolygon(_polygonal(merged))
    if points:
        return points[0] if len(points) == 1 else MultiPoint(points)
    return None
