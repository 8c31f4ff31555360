"""Roads and reach (API.md "Resources, map, roads, dispatch"): routes, isochrones, nearest units by road, and the
default impact area of an incident. Thin: parse, call gis (and incidents for the incident), shape GeoJSON."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from geoalchemy2.shape import to_shape

from core.geojson import FeatureCollectionOut, feature, feature_collection
from gis import service
from gis.schemas import (
    EVACUATION_TYPES,
    MAX_ISOCHRONE_MINUTES,
    MAX_K,
    ImpactFeature,
    IsochroneFeature,
    ReachOut,
    RoadPolicy,
    RouteFeature,
)
from web.deps import AnyUser, SessionDep, SettingsDep, VisibleIncident
from web.listing import FormatParam, ListOf, list_of, lon_lat_param

router = APIRouter(tags=["roads"])

LonLatQuery = Annotated[str, Query(max_length=100, description="lon,lat")]


def _point(value: str, field: str) -> tuple[float, float]:
    parsed = lon_lat_param(value, field=field)
    assert parsed is not None  # the query parameter is required
    return parsed


@router.get("/route", name="roads.route")
async def get_route(
    session: SessionDep,
    settings: SettingsDep,
    user: AnyUser,
    start: Annotated[str, Query(alias="from", max_length=100, description="lon,lat")],
    end: Annotated[str, Query(alias="to", max_length=100, description="lon,lat")],
) -> RouteFeature:
    """The fastest route by road (one-ways honoured) as a GeoJSON LineString with its duration and length.

    A point more than ``road_max_snap_m`` from any road gets the straight line, with ``method: straight_line``
    and the reason; with no road graph loaded the answer is 409."""
    found = await service.route(
        session, start=_point(start, "from"), end=_point(end, "to"), policy=RoadPolicy.of(settings)
    )
    return RouteFeature.of(found)


@router.get("/isochrone", name="roads.isochrone")
async def get_isochrone(
    session: SessionDep,
    settings: SettingsDep,
    user: AnyUser,
    at: LonLatQuery,
    minutes: Annotated[float, Query(gt=0, le=MAX_ISOCHRONE_MINUTES, description="more than 0, at most 120")],
) -> IsochroneFeature:
    """The area reachable by road within ``minutes`` from a point, as a GeoJSON (Multi)Polygon."""
    lon, lat = _point(at, "at")
    found = await service.isochrone(session, lon=lon, lat=lat, minutes=minutes, policy=RoadPolicy.of(settings))
    return IsochroneFeature.of(found, at=(lon, lat))


@router.get("/units/nearest", name="roads.nearest", response_model=ListOf[ReachOut] | FeatureCollectionOut)
async def get_nearest_units(
    session: SessionDep,
    settings: SettingsDep,
    user: AnyUser,
    at: LonLatQuery,
    type: Annotated[str, Query(min_length=1, max_length=32, description="a unit type key, e.g. ambulance")],
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 5,
    format: FormatParam = "json",
) -> Any:
    """The ``k`` available units of a type that reach the point first by road, each with ``eta_s``,
    ``distance_m``, ``method`` (road or straight_line) and the reason; straight line only as a stated fallback."""
    lon, lat = _point(at, "at")
    found = await service.nearest_by_road(
        session,
        lon=lon,
        lat=lat,
        type=type,
        k=k,
        stale_after=timedelta(minutes=settings.unit_fix_stale_minutes),
        policy=RoadPolicy.of(settings),
    )
    items = [ReachOut.of(reach) for reach in found]
    if format == "geojson":
        return feature_collection([_reach_feature(item) for item in items])
    return list_of(items)


def _reach_feature(item: ReachOut) -> dict[str, Any]:
    properties = item.model_dump(mode="json", exclude={"location"})
    return feature(item.location.model_dump(mode="json"), properties, id=item.unit_id)


@router.get("/incidents/{incident_id}/impact", name="incidents.impact")
async def get_impact(
    session: SessionDep,
    settings: SettingsDep,
    incident: VisibleIncident,
    type: Annotated[
        str | None,
        Query(max_length=1000, description="resource types, separated by commas (default: school,hospital,shelter)"),
    ] = None,
) -> ImpactFeature:
    """The incident's default impact area (by subtype and grade) as a GeoJSON Polygon, with the resources inside it
    by type, nearest first: the start of evacuation planning."""
    centre = to_shape(incident.location)
    impact = service.impact_area(
        subtype=incident.subtype, level=incident.level, lon=centre.x, lat=centre.y, radii=settings.impact_radii_m
    )
    types = [t.strip() for t in type.split(",") if t.strip()] if type else list(EVACUATION_TYPES)
    inside = await service.affected(session, impact=impact, lon=centre.x, lat=centre.y, types=types)
    return ImpactFeature.of(impact, incident_id=incident.id, subtype=incident.subtype, types=types, inside=inside)
