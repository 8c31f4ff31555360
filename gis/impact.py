"""Impact areas: a default circle around an incident, sized by its subtype and grade, and what lies inside it.

The start of evacuation planning: which schools, hospitals and shelters fall within the area a commander should
consider first. The radii are planning defaults (configurable, COMMANDPOST_IMPACT_RADII_M), not statutory figures.
The circle is geodesic: points at the radius on the WGS-84 ellipsoid, so it is right at any latitude and size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from geoalchemy2.shape import to_shape
from shapely.geometry import Polygon
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid
from gis import repository
from gis.roads.routing import geod, straight_metres
from gis.schemas import EVACUATION_TYPES, Affected, ImpactArea

LEVELS = ("IV", "III", "II", "I")
DEFAULT_RULE = "default"

# Metres for grades IV, III, II, I (least to most serious).
DEFAULT_RADII_M: dict[str, tuple[float, float, float, float]] = {
    "hazardous_chemicals": (500, 1_000, 2_000, 5_000),
    "gas_leak": (500, 1_000, 2_000, 5_000),
    "explosion": (300, 500, 1_000, 2_000),
    "terrorist_attack": (300, 500, 1_000, 2_000),
    "nuclear_radiation": (3_000, 5_000, 10_000, 30_000),
    "environmental_pollution": (500, 1_000, 3_000, 5_000),
    "earthquake": (5_000, 20_000, 50_000, 100_000),
    "forest_fire": (1_000, 2_000, 5_000, 10_000),
    "building_fire": (100, 200, 500, 1_000),
    "building_collapse": (100, 200, 300, 500),
    "landslide": (300, 500, 1_000, 2_000),
    "debris_flow": (300, 500, 1_000, 2_000),
    DEFAULT_RULE: (200, 500, 1_000, 2_000),
}
_CIRCLE_POINTS = 72


def radius_table(overrides: Mapping[str, Sequence[float]] | None = None) -> dict[str, tuple[float, ...]]:
    """The radii in force: the defaults with the operator's rows on top (each four radii, IV to I, rising)."""
    table: dict[str, tuple[float, ...]] = dict(DEFAULT_RADII_M)
    for subtype, radii in (overrides or {}).items():
        row = tuple(float(r) for r in radii)
        if len(row) != 4 or any(r <= 0 for r in row) or list(row) != sorted(row):
            raise Invalid(f"impact radii for {subtype!r} must be four rising positive numbers (IV, III, II, I)")
        table[subtype] = row
    return table


def geodesic_circle(lon: float, lat: float, radius_m: float, points: int = _CIRCLE_POINTS) -> Polygon:
    """A polygon whose vertices lie ``radius_m`` from the centre on the ellipsoid."""
    azimuths = [360.0 * i / points for i in range(points)]
    lons, lats, _ = geod().fwd([lon] * points, [lat] * points, azimuths, [radius_m] * points)
    return Polygon(zip(lons, lats, strict=True))


def impact_area(
    *,
    subtype: str | None,
    level: str | None,
    lon: float,
    lat: float,
    radii: Mapping[str, Sequence[float]] | None = None,
) -> ImpactArea:
    """The default impact area of an incident of ``subtype`` graded ``level`` (I–IV) at lon/lat.

    An unknown or missing subtype takes the default row; an ungraded incident is sized as IV, and says so.
    """
    if level is not None and level not in LEVELS:
        raise Invalid(f"level must be one of {', '.join(LEVELS)}", field="level")
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise Invalid("the incident's location is not a valid lon/lat", field="location")
    table = radius_table(radii)
    rule = subtype if subtype in table else DEFAULT_RULE
    used = level or "IV"
    radius = float(table[rule][LEVELS.index(used)])
    return ImpactArea(
        area=geodesic_circle(lon, lat, radius),
        radius_m=radius,
        rule=f"{rule}:{used}",
        level=used,
        assumed_level=level is None,
    )


async def affected(
    session: AsyncSession,
    *,
    impact: ImpactArea,
    lon: float,
    lat: float,
    types: Sequence[str] | None = EVACUATION_TYPES,
) -> list[Affected]:
    """The resources (of ``types``; all with None) inside the impact area, nearest to the incident first."""
    # The circle is ours and valid: straight to the query, without the service's checks of a caller's area.
    inside = await repository.select_resources_within(session, geometry=impact.area, types=types)
    found = []
    for resource in inside:
        point = to_shape(resource.location)
        found.append(Affected(resource, round(straight_metres((point.x, point.y), (lon, lat)), 1)))
    return sorted(found, key=lambda a: (a.distance_m, a.resource.id))
