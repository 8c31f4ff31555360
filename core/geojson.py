"""GeoJSON at the door (RFC 7946: lon/lat in EPSG:4326), validated before anything reaches the database."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, WithJsonSchema, field_validator

# A coordinate is a JSON number: not "104" (a string), not true (a boolean, which lax parsing would take as 1).
Coordinate = Annotated[StrictFloat, Field(allow_inf_nan=False)]
_LON = {"type": "number", "minimum": -180, "maximum": 180}
_LAT = {"type": "number", "minimum": -90, "maximum": 90}
Position = Annotated[
    tuple[Coordinate, ...],  # not a union of tuples: its errors would name the union's members, not the position
    Field(min_length=2, max_length=3),
    WithJsonSchema({"type": "array", "minItems": 2, "maxItems": 3, "prefixItems": [_LON, _LAT, {"type": "number"}]}),
]
LonLat = Annotated[
    tuple[Coordinate, Coordinate],
    WithJsonSchema({"type": "array", "minItems": 2, "maxItems": 2, "prefixItems": [_LON, _LAT]}),
]


def check_lon_lat(lon: float, lat: float) -> None:
    """Raise ValueError (with a sentence a person understands) unless lon/lat is a real position.

    A latitude outside ±90 that would be a fine longitude, given with a longitude that would be a fine latitude,
    is almost always the pair written the wrong way round (lat, lon): say so instead of a bare range error.
    """
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise ValueError("coordinates must be finite numbers")
    if not -90 <= lat <= 90:
        if -90 <= lon <= 90 and -180 <= lat <= 180:
            raise ValueError(
                f"latitude {lat} is impossible (must be within ±90); the coordinates look swapped: "
                f"GeoJSON order is [longitude, latitude], e.g. [{lat}, {lon}]"
            )
        raise ValueError(f"latitude {lat} is out of range (must be within ±90)")
    if not -180 <= lon <= 180:
        raise ValueError(f"longitude {lon} is out of range (must be within ±180)")


class Point(BaseModel):
    """A GeoJSON Point. Any other geometry type is refused."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["Point"]
    coordinates: Position

    @field_validator("coordinates")
    @classmethod
    def _real_position(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        check_lon_lat(value[0], value[1])
        return value

    @property
    def lon(self) -> float:
        return self.coordinates[0]

    @property
    def lat(self) -> float:
        return self.coordinates[1]

    @classmethod
    def of(cls, lon: float, lat: float) -> Point:
        return cls(type="Point", coordinates=(lon, lat))


def parse_lon_lat(text: str, *, field: str) -> tuple[float, float]:
    """``"lon,lat"`` from a query string; ValueError naming ``field`` when it is not a real position."""
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"{field} must be 'lon,lat'")
    try:
        lon, lat = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"{field} must be two numbers, 'lon,lat'") from None
    check_lon_lat(lon, lat)
    return lon, lat


def parse_bbox(text: str, *, field: str = "bbox") -> tuple[float, float, float, float]:
    """``"minlon,minlat,maxlon,maxlat"``; ValueError when malformed, out of range or inverted."""
    parts = text.split(",")
    if len(parts) != 4:
        raise ValueError(f"{field} must be 'minlon,minlat,maxlon,maxlat'")
    try:
        minlon, minlat, maxlon, maxlat = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"{field} must be four numbers") from None
    check_lon_lat(minlon, minlat)
    check_lon_lat(maxlon, maxlat)
    if minlon > maxlon or minlat > maxlat:
        raise ValueError(f"{field} minimum is above its maximum")
    return minlon, minlat, maxlon, maxlat


class FeatureCollectionOut(BaseModel):
    """A GeoJSON FeatureCollection, as ``?format=geojson`` answers (for the OpenAPI document)."""

    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]]


def feature(geometry: dict[str, Any], properties: dict[str, Any], *, id: Any = None) -> dict[str, Any]:
    """A GeoJSON Feature."""
    out: dict[str, Any] = {"type": "Feature", "geometry": geometry, "properties": properties}
    if id is not None:
        out["id"] = id
    return out


def feature_collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection."""
    return {"type": "FeatureCollection", "features": features}
