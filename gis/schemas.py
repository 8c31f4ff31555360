"""What goes in and out of the gis package, its door together with ``gis.service``: resources, jurisdictions,
hazard zones, pages and places, impact areas, tiles; and, re-exported from the sub-packages' own schemas, roads
(``gis.roads.schemas``) and layer import/export (``gis.io.schemas``). Other packages import types from here only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, NamedTuple

from geoalchemy2 import WKBElement
from geoalchemy2.shape import to_shape
from pydantic import AliasPath, BaseModel, BeforeValidator, ConfigDict, Field
from shapely.geometry import Polygon, mapping

from core.bounds import Id, JsonObject
from core.geojson import Point, feature
from gis.io.schemas import ExportFormat, ImportLimits, ImportReport, Layer, LayerKind, OsmReport, RowProblem
from gis.models import HazardZone, Jurisdiction, Resource, ResourceKind, UnitStatus
from gis.roads.schemas import (
    MAX_ISOCHRONE_MINUTES,
    MAX_K,
    Candidate,
    GraphReport,
    Isochrone,
    IsochroneFeature,
    Leg,
    LonLat,
    Method,
    Piece,
    PositionSource,
    Reach,
    ReachOut,
    RoadPolicy,
    Route,
    RouteFeature,
)

__all__ = [
    "EVACUATION_TYPES",
    "MAX_ISOCHRONE_MINUTES",
    "MAX_K",
    "RESOURCE_COLUMNS",
    "TILE_BUFFER",
    "TILE_EXTENT",
    "Affected",
    "AffectedOut",
    "BBox",
    "Candidate",
    "ExportFormat",
    "GraphReport",
    "HazardZoneOut",
    "ImpactArea",
    "ImpactFeature",
    "ImportLimits",
    "ImportReport",
    "Isochrone",
    "IsochroneFeature",
    "JurisdictionOut",
    "Layer",
    "LayerKind",
    "Leg",
    "LonLat",
    "Method",
    "OsmReport",
    "Piece",
    "Place",
    "PositionSource",
    "Reach",
    "ReachOut",
    "ResourceHit",
    "ResourceIn",
    "ResourceKind",
    "ResourceList",
    "ResourceOut",
    "ResourcePage",
    "RoadPolicy",
    "Route",
    "RouteFeature",
    "RowProblem",
    "StoredGeometry",
    "TileLayer",
    "UnitStatus",
    "geometry_json",
    "listed_item",
    "resource_event_data",
]

BBox = tuple[float, float, float, float]  # minlon, minlat, maxlon, maxlat

# Vector tiles: the tile's extent in its own coordinates, and the margin drawn around it (shapes crossing the edge).
TILE_EXTENT = 4096
TILE_BUFFER = 64
EVACUATION_TYPES = ("school", "hospital", "shelter")  # what an impact area lists unless asked for other types


class TileLayer(StrEnum):
    resources = "resources"
    jurisdictions = "jurisdictions"
    zones = "zones"
    roads = "roads"


def geometry_json(value: WKBElement) -> dict[str, Any]:
    """A stored geometry as a GeoJSON geometry object."""
    return dict(mapping(to_shape(value)))


def _stored_geometry(value: Any) -> Any:
    return geometry_json(value) if isinstance(value, WKBElement) else value


# A geometry column in a response model built ``from_attributes``: the stored WKB read as a GeoJSON geometry.
StoredGeometry = Annotated[dict[str, Any], BeforeValidator(_stored_geometry)]


class ResourceIn(BaseModel):
    """A new unit or facility, as ``POST /api/v1/resources`` takes it."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=200)
    location: Point
    status: UnitStatus | None = None
    home_station_id: Id | None = None
    capacity: JsonObject = Field(default_factory=dict)
    agency: str | None = Field(default=None, max_length=200)
    name_zh: str | None = Field(default=None, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    external_id: str | None = Field(default=None, max_length=200)
    properties: JsonObject = Field(default_factory=dict)


class ResourceOut(BaseModel):
    """A resource as every API answer shows it. ``distance_m`` only in answers to a ``near`` query."""

    id: int
    type: str
    name: str
    name_zh: str | None
    name_en: str | None
    status: str | None
    location: dict[str, Any]
    capacity: dict[str, Any]
    home_station_id: int | None
    agency: str | None
    last_fix_at: datetime | None
    source: str
    external_id: str | None
    properties: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    version: int
    distance_m: float | None = None

    @classmethod
    def of(cls, resource: Resource, *, distance_m: float | None = None) -> ResourceOut:
        columns = {name: getattr(resource, name) for name in RESOURCE_COLUMNS}
        return cls._from(columns, geometry_json(resource.location), distance_m)

    @classmethod
    def listed(cls, row: Mapping[str, Any], *, distance_m: float | None = None) -> ResourceOut:
        """From a list row: every column but the geometry, which comes as ``lon`` and ``lat``."""
        columns = {name: row[name] for name in RESOURCE_COLUMNS}
        return cls._from(columns, {"type": "Point", "coordinates": [row["lon"], row["lat"]]}, distance_m)

    @classmethod
    def _from(cls, columns: dict[str, Any], location: dict[str, Any], distance_m: float | None) -> ResourceOut:
        rounded = None if distance_m is None else round(distance_m, 1)
        return cls(**columns, location=location, distance_m=rounded)

    def as_feature(self) -> dict[str, Any]:
        properties = self.model_dump(mode="json", exclude={"location"}, exclude_none=False)
        return feature(self.location, properties, id=self.id)


# The fields of ResourceOut that are columns of ``resource`` as they are (the geometry and distance are not).
RESOURCE_COLUMNS = tuple(name for name in ResourceOut.model_fields if name not in ("location", "distance_m"))
_COLUMN_SET = frozenset(RESOURCE_COLUMNS)
_FIELDS = tuple(ResourceOut.model_fields)  # in order; read through pydantic's class property on every call otherwise


def listed_item(row: Mapping[str, Any], *, distance_m: float | None = None) -> dict[str, Any]:
    """``ResourceOut.listed(row).model_dump()``, without building the model: a page is serialised in one pass
    (``pydantic_core.to_json``, the same serialiser), and building five models cost more than the SQL's extra
    columns. tests/web/test_resource_list.py holds a listed item to ``GET /resources/{id}``'s JSON."""
    item = {name: row[name] if name in _COLUMN_SET else None for name in _FIELDS}
    item["location"] = {"type": "Point", "coordinates": [row["lon"], row["lat"]]}
    item["distance_m"] = None if distance_m is None else round(distance_m, 1)
    return item


class ResourceList(BaseModel):
    """A page of ``GET /resources``: API.md's list shape, and whether ``total`` is exact (a ``near`` search counts
    only so far past its page)."""

    items: list[ResourceOut]
    total: int
    total_exact: bool


def resource_event_data(resource: Resource) -> dict[str, Any]:
    """The ``data`` of a ``resource.*`` or ``unit.*`` event: the resource as the API shows it."""
    return ResourceOut.of(resource).model_dump(mode="json", exclude={"distance_m"})


class JurisdictionOut(BaseModel):
    """An administrative area; ``geometry`` only when asked for."""

    id: int
    name: str
    name_en: str | None = None  # the list answer leaves out what is None
    admin_level: int | None = None
    code: str | None = None
    area_km2: float
    source: str
    external_id: str
    geometry: dict[str, Any] | None = None

    @classmethod
    def of(cls, row: Jurisdiction, *, with_geometry: bool = False) -> JurisdictionOut:
        return cls(
            id=row.id,
            name=row.name,
            name_en=row.name_en,
            admin_level=row.admin_level,
            code=row.code,
            area_km2=round(row.area_m2 / 1e6, 3),
            source=row.source,
            external_id=row.external_id,
            geometry=geometry_json(row.geom) if with_geometry else None,
        )

    def as_feature(self) -> dict[str, Any]:
        return feature(self.geometry or {}, self.model_dump(mode="json", exclude={"geometry"}), id=self.id)


class HazardZoneOut(BaseModel):
    """A hazard zone: its own geometry (a fault trace, a flood polygon) and the buffer that widens it."""

    id: int
    name: str | None = None  # the list answer leaves out what is None
    kind: str
    buffer_m: float
    source: str
    external_id: str
    properties: dict[str, Any]
    geometry: dict[str, Any] | None = None

    @classmethod
    def of(cls, row: HazardZone, *, with_geometry: bool = False) -> HazardZoneOut:
        return cls(
            id=row.id,
            name=row.name,
            kind=row.kind,
            buffer_m=row.buffer_m,
            source=row.source,
            external_id=row.external_id,
            properties=row.properties,
            geometry=geometry_json(row.geom) if with_geometry else None,
        )

    def as_feature(self) -> dict[str, Any]:
        return feature(self.geometry or {}, self.model_dump(mode="json", exclude={"geometry"}), id=self.id)


class ResourceHit(NamedTuple):
    """A resource in a list answer, with its distance in metres (on the spheroid) when the query had a ``near``.

    ``resource`` is a row (by column name) of every column of ``resource`` but the geometry, which comes as ``lon``
    and ``lat``: lists read rows, not ORM objects, since a list is read, never changed, and this is the registry's
    hot read.
    """

    resource: Mapping[Any, Any]
    distance_m: float | None


class ResourcePage(NamedTuple):
    """A page of resources, how many match in all, and whether that number is exact (a ``near`` search counts only
    so far past its page: gis.repository.NEAR_COUNT_CAP)."""

    hits: list[ResourceHit]
    total: int
    total_exact: bool


class Place(NamedTuple):
    """A jurisdiction a point lies in, without its boundary."""

    id: int
    name: str
    name_en: str | None
    admin_level: int | None
    code: str | None


@dataclass(frozen=True)
class ImpactArea:
    """A default impact circle: its polygon, radius, the table row it came from and the grade it was sized for."""

    area: Polygon
    radius_m: float
    rule: str
    level: str
    assumed_level: bool


@dataclass(frozen=True)
class Affected:
    """A resource inside an impact area, with its distance from the incident."""

    resource: Resource
    distance_m: float


class AffectedOut(BaseModel):
    """A resource inside an impact area, nearest first, as the impact answer lists it."""

    model_config = ConfigDict(from_attributes=True)

    id: int = Field(validation_alias=AliasPath("resource", "id"))
    name: str = Field(validation_alias=AliasPath("resource", "name"))
    name_en: str | None = Field(validation_alias=AliasPath("resource", "name_en"))
    capacity: dict[str, Any] = Field(validation_alias=AliasPath("resource", "capacity"))
    distance_m: float
    location: StoredGeometry = Field(validation_alias=AliasPath("resource", "location"))


class ImpactProperties(BaseModel):
    incident_id: int
    subtype: str | None
    level: str
    assumed_level: bool
    radius_m: float
    rule: str
    resources: dict[str, list[AffectedOut]]
    counts: dict[str, int]


class ImpactFeature(BaseModel):
    """``GET /incidents/{id}/impact``: the default impact area as a GeoJSON Feature (its id the incident's), with
    the resources inside it by type (every type asked for, empty or not) and their counts."""

    type: Literal["Feature"] = "Feature"
    id: int
    geometry: dict[str, Any]
    properties: ImpactProperties

    @classmethod
    def of(
        cls, impact: ImpactArea, *, incident_id: int, subtype: str | None, types: list[str], inside: list[Affected]
    ) -> ImpactFeature:
        by_type: dict[str, list[AffectedOut]] = {t: [] for t in types}
        for hit in inside:
            by_type.setdefault(hit.resource.type, []).append(AffectedOut.model_validate(hit, from_attributes=True))
        properties = ImpactProperties(
            incident_id=incident_id,
            subtype=subtype,
            level=impact.level,
            assumed_level=impact.assumed_level,
            radius_m=impact.radius_m,
            rule=impact.rule,
            resources=by_type,
            counts={t: len(items) for t, items in by_type.items()},
        )
        return cls(id=incident_id, geometry=dict(mapping(impact.area)), properties=properties)


# Place search (GET /places): how long a query and how many answers may be.
PLACE_QUERY_MAX = 200
PLACE_LIMIT_MAX = 50


class PlaceFound(BaseModel):
    """A place search answer: what it is called, what kind of thing it is and where; the jurisdiction it lies in
    when one is known. ``score`` (0..1) is its text match, blended with nearness when the search was ``near`` a
    point. Beyond API.md: ``type`` (what the map says it is: "primary", "hospital", "subway", a resource type),
    ``name_en``, and ``resource_id`` for one of our own resources."""

    name: str
    kind: str  # street, crossing, place, facility, address, station, jurisdiction, unit
    location: Point
    jurisdiction: str | None = None
    score: float
    type: str | None = None
    name_en: str | None = None
    resource_id: int | None = None
