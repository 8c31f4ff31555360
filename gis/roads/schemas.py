"""What goes in and out of the roads: the travel policy taken from settings, routes, travel times, reach,
isochrones and the graph build's report. Plain types: no SQL, nothing heavy to import."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from core.geojson import Point
from core.settings import Settings

Method = Literal["road", "straight_line"]
PositionSource = Literal["fix", "home_station", "last_known"]
LonLat = tuple[float, float]

MAX_K = 50  # units a nearest-by-road question may ask for
MAX_ISOCHRONE_MINUTES = 120


@dataclass(frozen=True)
class RoadPolicy:
    """How travel is estimated where the graph cannot say (settings: ``road_*`` and ``straight_line_*``)."""

    max_snap_m: float = 500.0
    access_speed_kmh: float = 15.0
    straight_line_speed_kmh: float = 30.0
    straight_line_detour: float = 1.4
    isochrone_buffer_m: float = 100.0

    @classmethod
    def of(cls, settings: Settings) -> RoadPolicy:
        """The policy the operator configured."""
        return cls(
            max_snap_m=settings.road_max_snap_m,
            access_speed_kmh=settings.road_access_speed_kmh,
            straight_line_speed_kmh=settings.straight_line_speed_kmh,
            straight_line_detour=settings.straight_line_detour,
        )

    def access_s(self, metres: float) -> float:
        """The time to cover the leg between a point and the road it is snapped to."""
        return metres / (self.access_speed_kmh / 3.6)

    def straight_line_s(self, metres: float) -> float:
        """The fallback estimate: the straight line, lengthened by the detour factor, at the fallback speed."""
        return metres * self.straight_line_detour / (self.straight_line_speed_kmh / 3.6)


@dataclass(frozen=True)
class Leg:
    """A travel time from one origin to the destination, and how it was reached."""

    origin_id: int
    eta_s: float
    distance_m: float
    method: Method
    reason: str
    snap_m: float | None = None


@dataclass
class Route:
    """A route between two points: its time, length and line; ``method`` says whether the roads were used."""

    duration_s: float
    distance_m: float
    method: Method
    reason: str
    snap_from_m: float | None
    snap_to_m: float | None
    coordinates: list[LonLat] = field(default_factory=list)


class Candidate(NamedTuple):
    """An available unit and the position it is taken to be at, with why (a tuple: cheap to build by the dozen)."""

    unit_id: int
    name: str
    lon: float
    lat: float
    position_source: PositionSource
    last_fix_at: datetime | None
    station: str | None
    straight_m: float


@dataclass(frozen=True)
class Reach:
    """How soon a unit reaches the point, by which method, and why it is placed where it is."""

    unit_id: int
    type: str
    name: str
    eta_s: float
    distance_m: float
    method: Method
    reason: str
    position_source: PositionSource
    lon: float
    lat: float
    straight_m: float
    last_fix_at: datetime | None = None

    @property
    def location(self) -> Point:
        """Where the unit is taken to be."""
        return Point.of(self.lon, self.lat)


class ReachOut(BaseModel):
    """A unit and how soon it reaches a point, as API.md shows it (nearest units by road, recommendations):
    ``unit_id``, ``type``, ``eta_s``, ``distance_m``, ``method``, ``reason`` and where the unit is taken to be."""

    model_config = ConfigDict(from_attributes=True)

    unit_id: int
    type: str
    name: str
    eta_s: float
    distance_m: float
    method: Method
    reason: str
    position_source: PositionSource
    straight_m: float
    location: Point

    @classmethod
    def of(cls, reach: Reach) -> ReachOut:
        return cls.model_validate(reach, from_attributes=True)


@dataclass
class Isochrone:
    """The area reachable within ``minutes`` from a point, driving the roads."""

    minutes: float
    area: BaseGeometry
    snap_m: float


class RouteProperties(BaseModel):
    """What a route answer says besides its line: time, length, whether the roads were used and why, and how far
    each end was from the road it joined (None on a straight line)."""

    duration_s: float
    distance_m: float
    method: Method
    reason: str
    snap_from_m: float | None
    snap_to_m: float | None


class RouteFeature(BaseModel):
    """``GET /route``: a GeoJSON Feature, its geometry the LineString travelled."""

    type: Literal["Feature"] = "Feature"
    geometry: dict[str, Any]
    properties: RouteProperties

    @classmethod
    def of(cls, route: Route) -> RouteFeature:
        """Times and lengths to 0.1 (s, m), coordinates to 7 decimals (about a centimetre)."""
        properties = RouteProperties(
            duration_s=round(route.duration_s, 1),
            distance_m=round(route.distance_m, 1),
            method=route.method,
            reason=route.reason,
            snap_from_m=None if route.snap_from_m is None else round(route.snap_from_m, 1),
            snap_to_m=None if route.snap_to_m is None else round(route.snap_to_m, 1),
        )
        line = {"type": "LineString", "coordinates": [[round(x, 7), round(y, 7)] for x, y in route.coordinates]}
        return cls(geometry=line, properties=properties)


class IsochroneProperties(BaseModel):
    minutes: float
    snap_m: float
    at: LonLat


class IsochroneFeature(BaseModel):
    """``GET /isochrone``: a GeoJSON Feature, its geometry the (Multi)Polygon reachable in time."""

    type: Literal["Feature"] = "Feature"
    geometry: dict[str, Any]
    properties: IsochroneProperties

    @classmethod
    def of(cls, isochrone: Isochrone, *, at: LonLat) -> IsochroneFeature:
        properties = IsochroneProperties(minutes=isochrone.minutes, snap_m=round(isochrone.snap_m, 1), at=at)
        return cls(geometry=dict(mapping(isochrone.area)), properties=properties)


@dataclass(frozen=True)
class Piece:
    """A connected piece of the graph: its size and a point on it, to find it on the map."""

    component: int
    vertices: int
    edges: int
    length_m: float
    lon: float
    lat: float


@dataclass
class GraphReport:
    """What a graph build made, and what it left out and why."""

    edges: int = 0
    vertices: int = 0
    length_km: float = 0.0
    oneway_edges: int = 0
    dead_ends: int = 0
    # Snapping targets: the largest strongly connected piece.
    routable_edges: int = 0
    routable_vertices: int = 0
    components: int = 0
    largest_component_vertices: int = 0
    # Every piece but the largest (up to 20 listed; ``isolated_count`` counts them all).
    isolated: list[Piece] = field(default_factory=list)
    isolated_count: int = 0
    # Ways not turned into edges, by reason: class not driven, not for vehicles (access, area), no node ids.
    left_out: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line for a person: the figures that say whether the graph is usable."""
        sizes = ", ".join(str(p.vertices) for p in self.isolated[:10])
        more = "…" if self.isolated_count > 10 else ""
        isolated = f"; isolated pieces: {self.isolated_count} ({sizes}{more} vertices)" if self.isolated_count else ""
        return (
            f"{self.edges} edges, {self.vertices} vertices, {self.length_km:.1f} km, {self.oneway_edges} one-way; "
            f"{self.components} connected piece(s), the largest {self.largest_component_vertices} vertices; "
            f"routable (strongly connected): {self.routable_edges} edges, {self.routable_vertices} vertices"
            f"{isolated}"
        )
