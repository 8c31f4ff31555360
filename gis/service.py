"""The gis package's door (with ``gis.schemas``): the only module other packages call.

The registry's rules: what may be created, how a unit's status and location change, and the spatial questions other
packages ask (nearest, within, containing). Also, from the sub-packages: travel on the roads (``gis.roads``), impact
areas, vector tiles, and layer import/export and OpenStreetMap import (``gis.io``, whose heavy libraries load on
first use). Services flush; the caller's unit of work commits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from geoalchemy2.shape import from_shape
from shapely import wkb
from shapely.geometry import Point as ShapelyPoint
from shapely.geometry.base import BaseGeometry
from sqlalchemy import CTE, Executable, TextClause, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import Conflict, Invalid, NotFound
from core.events import queue_event
from core.geojson import Point as GeoPoint
from core.geojson import check_lon_lat
from gis import repository, tiles
from gis.impact import affected, impact_area
from gis.io.files import clean_name
from gis.models import HazardZone, Jurisdiction, Resource, ResourceKind, UnitStatus
from gis.places import search as place_search
from gis.places import store as place_store
from gis.roads.graph import build_graph as build_road_graph
from gis.roads.graph import speed_table
from gis.roads.isochrone import isochrone
from gis.roads.reach import find_candidates as units_nearest_by_line
from gis.roads.reach import nearest_by_road
from gis.roads.routing import route, travel_times
from gis.roads.routing import straight_metres as straight_metres  # the geodesic between two points, in metres
from gis.schemas import (
    PLACE_LIMIT_MAX,
    PLACE_QUERY_MAX,
    BBox,
    ExportFormat,
    ImportLimits,
    ImportReport,
    Layer,
    LayerKind,
    LonLat,
    OsmReport,
    Place,
    PlaceFound,
    ResourceIn,
    ResourcePage,
    TileLayer,
    resource_event_data,
)
from gis.scopes import expand_scope as expand_jurisdiction_scope
from gis.scopes import jurisdictions_within as jurisdictions_within
from gis.scopes import places_of as jurisdiction_places
from gis.scopes import resolve as resolve_jurisdictions
from gis.units import Move, move_units, unit_rows, unsent_positions

__all__ = [
    "Resource", "affected", "build_road_graph", "expand_jurisdiction_scope", "jurisdictions_within",
    "jurisdiction_places", "resolve_jurisdictions", "clean_file_name", "create_resource", "export_layer",
    "Move", "get_jurisdiction", "get_resource", "get_zone", "impact_area", "import_layer", "import_osm", "isochrone",
    "jurisdiction_containing", "jurisdiction_names_covering", "jurisdictions_covering", "list_jurisdictions",
    "list_resources", "list_zones", "move_units", "nearest_by_road", "render_tile", "resources_in_zone",
    "resources_within", "road_speeds", "route", "search_places", "set_unit_location", "set_unit_status", "tile",
    "tile_bounds", "tile_sql", "travel_times", "unit_counts", "unit_rows", "unsent_positions", "units_nearest_by_line",
    "zones_containing",
]  # fmt: skip

# ``Resource`` is named here only as the type of what the registry functions return (a unit or facility row):
# other packages read it and change it through the functions below, never by hand.


async def get_resource(session: AsyncSession, *, resource_id: int, for_update: bool = False) -> Resource:
    """The resource (unit or facility) with this id; NotFound otherwise. ``for_update`` locks its row, ``FOR NO KEY
    UPDATE`` as every unit lock (gis/units.py): a row that refers to the unit (a dispatch updated twice in one
    transaction re-checks its foreign key; a location fix) takes a key-share lock on it, which ``FOR UPDATE`` would
    make wait, a deadlock when its transaction holds what the locker waits for (tests/command/test_timer_sweeps.py)."""
    query = select(Resource).where(Resource.id == resource_id)
    if for_update:
        query = query.with_for_update(key_share=True)
    resource = await session.scalar(query)
    if resource is None:
        raise NotFound(f"no resource {resource_id}")
    return resource


def _types(type: str | Sequence[str] | None) -> list[str] | None:
    if type is None:
        return None
    return [type] if isinstance(type, str) else list(type)


async def list_resources(
    session: AsyncSession,
    *,
    type: str | Sequence[str] | None = None,
    status: str | None = None,
    bbox: BBox | None = None,
    near: LonLat | None = None,
    limit: int = 100,
    offset: int = 0,
) -> ResourcePage:
    """A page of resources and the number matching in all (with ``near``: counted up to a cap, see ResourcePage).

    ``type`` is one key or several; ``bbox`` is (minlon, minlat, maxlon, maxlat); with ``near`` = (lon, lat) the
    nearest come first and each hit carries its distance in metres on the spheroid.
    """
    if status is not None and status not in UnitStatus.__members__:
        raise Invalid(f"unknown status {status!r} (one of: {', '.join(UnitStatus)})", field="status")
    return await repository.select_resources(
        session, types=_types(type), status=status, bbox=bbox, near=near, limit=limit, offset=offset
    )


async def create_resource(session: AsyncSession, *, data: ResourceIn, source: str = "api") -> Resource:
    """Add a unit or facility. A unit starts ``available`` unless told otherwise; a facility has no status."""
    kinds = await repository.resource_types(session)
    kind = kinds.get(data.type)
    if kind is None:
        raise Invalid(f"unknown resource type {data.type!r} (known: {', '.join(sorted(kinds))})", field="type")
    status: str | None = data.status.value if data.status else None
    if kind == ResourceKind.unit:
        status = status or UnitStatus.available.value
    elif status is not None:
        raise Invalid(f"a {data.type} is a facility and has no status", field="status")
    if data.home_station_id is not None:
        await _check_home_station(session, data.home_station_id)
    resource = Resource(
        type=data.type,
        name=data.name,
        name_zh=data.name_zh,
        name_en=data.name_en,
        status=status,
        location=from_shape(ShapelyPoint(data.location.lon, data.location.lat), srid=4326),
        capacity=data.capacity,
        home_station_id=data.home_station_id,
        agency=data.agency,
        source=source,
        external_id=data.external_id,
        properties=data.properties,
    )
    session.add(resource)
    await session.flush()
    await session.refresh(resource)
    queue_event(
        session,
        type="resource.created",
        data=resource_event_data(resource),
        unit_id=resource.id if kind == ResourceKind.unit else None,
    )
    return resource


async def _check_home_station(session: AsyncSession, station_id: int) -> None:
    if await session.scalar(select(Resource.id).where(Resource.id == station_id)) is None:
        raise Invalid(f"home station {station_id} does not exist", field="home_station_id")


async def _unit(session: AsyncSession, unit_id: int) -> Resource:
    resource = await get_resource(session, resource_id=unit_id, for_update=True)
    if resource.status is None:
        raise Conflict(f"resource {unit_id} is a {resource.type}, not a unit: it has no status or live location")
    return resource


def _bump(resource: Resource) -> None:
    resource.version += 1
    resource.updated_at = utcnow()


async def set_unit_status(session: AsyncSession, *, unit_id: int, status: str) -> Resource:
    """Set a unit's status (the workflow rules belong to ``command``; this only checks the label exists)."""
    try:
        new = UnitStatus(status)
    except ValueError:
        raise Invalid(f"unknown status {status!r} (one of: {', '.join(UnitStatus)})", field="status") from None
    unit = await _unit(session, unit_id)
    if unit.status != new.value:
        unit.status = new.value
        _bump(unit)
        await session.flush()
    queue_event(session, type="unit.status", data=resource_event_data(unit), unit_id=unit.id)
    return unit


async def set_unit_location(session: AsyncSession, *, unit_id: int, lon: float, lat: float, at: datetime) -> Resource:
    """Record a unit's location fix. A fix older than the one already held is ignored (they can arrive late)."""
    try:
        check_lon_lat(lon, lat)
    except ValueError as exc:
        raise Invalid(str(exc), field="location") from None
    if at.tzinfo is None:
        raise Invalid("the fix time must carry a time zone", field="at")
    unit = await _unit(session, unit_id)
    if unit.last_fix_at is not None and at < unit.last_fix_at:
        return unit
    unit.location = from_shape(ShapelyPoint(lon, lat), srid=4326)
    unit.last_fix_at = unit.location_event_fix_at = at
    unit.location_event_at = utcnow()
    _bump(unit)
    await session.flush()
    await session.refresh(unit, ["location"])
    queue_event(session, type="unit.location", data=resource_event_data(unit), unit_id=unit.id)
    return unit


async def resources_within(
    session: AsyncSession, *, geometry: BaseGeometry, types: str | Sequence[str] | None = None
) -> list[Resource]:
    """Resources lying inside (or on the edge of) an area given in lon/lat, e.g. a hazard zone or a drawn polygon."""
    if geometry.is_empty:
        return []
    if not geometry.is_valid:
        raise Invalid("the area is not a valid geometry", field="geometry")
    return await repository.select_resources_within(session, geometry=geometry, types=_types(types))


async def jurisdiction_containing(session: AsyncSession, *, lon: float, lat: float) -> Place | None:
    """The jurisdiction a point lies in; when several nest (district in city), the smallest one. Its boundary is
    not loaded."""
    items = await repository.jurisdictions_covering(session, lon=lon, lat=lat, limit=1)
    return items[0] if items else None


async def jurisdictions_covering(session: AsyncSession, *, lon: float, lat: float, limit: int = 50) -> list[Place]:
    """Every jurisdiction a point lies in (district, city, province …), the smallest first, boundaries not loaded."""
    return await repository.jurisdictions_covering(session, lon=lon, lat=lat, limit=limit)


async def jurisdiction_names_covering(session: AsyncSession, *, points: Sequence[LonLat]) -> list[list[str]]:
    """For each point, the names (and English names) of every jurisdiction it lies in, in one statement."""
    return await repository.jurisdiction_names_covering(session, points=points)


async def list_jurisdictions(
    session: AsyncSession,
    *,
    contains: LonLat | None = None,
    bbox: BBox | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Jurisdiction], int]:
    """Jurisdictions (those containing a point, or touching a box), the smallest first."""
    return await repository.select_jurisdictions(session, contains=contains, bbox=bbox, limit=limit, offset=offset)


async def zones_containing(session: AsyncSession, *, lon: float, lat: float) -> list[HazardZone]:
    """Every hazard zone whose area (geometry widened by its buffer) covers the point."""
    items, _ = await repository.select_zones(session, contains=(lon, lat), bbox=None, kind=None, limit=1000, offset=0)
    return items


async def list_zones(
    session: AsyncSession,
    *,
    contains: LonLat | None = None,
    bbox: BBox | None = None,
    kind: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[HazardZone], int]:
    """Hazard zones, optionally those covering a point, touching a box or of one kind."""
    return await repository.select_zones(session, contains=contains, bbox=bbox, kind=kind, limit=limit, offset=offset)


async def resources_in_zone(
    session: AsyncSession, *, zone_id: int, types: str | Sequence[str] | None = None
) -> list[Resource]:
    """Resources inside a hazard zone's area (e.g. hospitals within the buffer of an active fault)."""
    zone_area = await session.scalar(select(func.ST_AsBinary(HazardZone.area)).where(HazardZone.id == zone_id))
    if zone_area is None:
        raise NotFound(f"no hazard zone {zone_id}")
    return await resources_within(session, geometry=wkb.loads(bytes(zone_area)), types=types)


async def unit_counts(session: AsyncSession) -> list[tuple[str, str, int]]:
    """How many units there are of each type in each status: ``(type, status, count)``."""
    stmt = (
        select(Resource.type, Resource.status, func.count())
        .where(Resource.status.is_not(None))
        .group_by(Resource.type, Resource.status)
        .order_by(Resource.type, Resource.status)
    )
    return [(t, s or "", int(n)) for t, s, n in (await session.execute(stmt)).all()]


async def get_jurisdiction(session: AsyncSession, *, jurisdiction_id: int) -> Jurisdiction:
    """The jurisdiction with this id, boundary included; NotFound otherwise."""
    found = await session.get(Jurisdiction, jurisdiction_id)
    if found is None:
        raise NotFound(f"no jurisdiction {jurisdiction_id}")
    return found


async def get_zone(session: AsyncSession, *, zone_id: int) -> HazardZone:
    """The hazard zone with this id, geometry included; NotFound otherwise."""
    found = await session.get(HazardZone, zone_id)
    if found is None:
        raise NotFound(f"no hazard zone {zone_id}")
    return found


def road_speeds(*, overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """The km/h by highway class a graph is built with: the defaults with the operator's overrides on top
    (``road_speeds_kmh``); a class at 0 is not driven."""
    return speed_table(overrides)


async def unit_types(session: AsyncSession) -> frozenset[str]:
    """The type keys of units (things that move and are dispatched), as opposed to facilities."""
    return frozenset(key for key, kind in (await repository.resource_types(session)).items() if kind == "unit")


async def tile(session: AsyncSession, *, layer: TileLayer, z: int, x: int, y: int) -> bytes:
    """A layer's Mapbox Vector Tile; empty bytes when nothing lies in it. Invalid for z/x/y outside the pyramid."""
    return await tiles.tile(session, layer=layer, z=z, x=x, y=y)


def tile_sql(*, layer: TileLayer) -> TextClause:
    """The statement behind a layer's tiles (binds :z, :x, :y): a benchmark's bare-query floor."""
    return tiles.tile_sql(layer)


def tile_bounds() -> CTE:
    """The tile's envelope as a CTE named ``bounds`` (columns ``env`` in web mercator and ``box``, widened by the
    render buffer, in lon/lat for an index lookup; binds :z, :x, :y), for another package's tile statement."""
    return tiles.bounds_cte()


async def render_tile(session: AsyncSession, *, statement: Executable, z: int, x: int, y: int) -> bytes:
    """Run another package's tile statement (built on ``tile_bounds``) for z/x/y, checked like ours."""
    return await tiles.render(session, statement, z=z, x=x, y=y)


def clean_file_name(*, raw: str | None) -> str:
    """A client's file name fit to show in a report, an audit row or a row's ``source``: its last path part, no
    control characters, at most 100 characters. Never a path: files get names we choose."""
    return clean_name(raw)


# Layer import and export and OSM import load geopandas, pandas, pyarrow, pyogrio (and osmium) with the modules of
# gis.io they import: only these functions import those modules, on first use, so a web worker that never imports
# or exports a layer never loads them (tests/test_lean_worker.py).


async def import_layer(
    session: AsyncSession,
    *,
    path: Path,
    kind: LayerKind,
    limits: ImportLimits,
    name: str | None = None,
    crs: str | None = None,
    zone_kind: str | None = None,
    buffer_m: float | None = None,
    strict: bool = False,
    on_read: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Load one layer file (GeoJSON, GeoPackage, zipped Shapefile, CSV with lon/lat) into its table: every row
    loaded or reported, the file all or nothing. Read in a child process under ``limits``; ``strict``: any row that
    cannot be taken refuses the whole file (Invalid, the report in ``extra``). ``on_read`` hears the rows read,
    ``on_progress`` the rows loaded so far."""
    from gis.io import transfer  # geopandas, pandas, pyarrow: loaded by the first import, not by every worker

    report = await transfer.import_layer(
        session,
        path=path,
        kind=kind,
        limits=transfer.zip_limits(limits),
        read_limits=transfer.read_limits(limits),
        name=name,
        crs=crs,
        zone_kind=zone_kind,
        buffer_m=buffer_m,
        strict=strict,
        on_read=on_read,
        on_progress=on_progress,
    )
    if kind == LayerKind.jurisdictions and report.imported:
        await place_store.index_jurisdictions(session)  # found by name and pinyin in place search
    return report


async def export_layer(
    session: AsyncSession, *, layer: Layer, format: ExportFormat, directory: Path | None = None
) -> Path:
    """Write a whole layer to a GeoJSON or GeoPackage file (EPSG:4326) and return its path (in a new temporary
    directory unless ``directory`` is given); the caller removes it."""
    from gis.io import transfer  # geopandas, pandas, pyogrio: loaded by the first export, not by every worker

    return await transfer.export_layer(session, layer=layer, format=format, directory=directory)


async def import_osm(
    session: AsyncSession, *, path: Path, demo_units: bool = False, speeds: Mapping[str, float] | None = None
) -> OsmReport:
    """Import an OpenStreetMap extract (.osm, .osm.bz2, .osm.pbf): facilities into the registry, complete
    boundaries as jurisdictions, roads as road ways, then rebuild the routing graph (``speeds``: the whole table of
    km/h by class, see ``road_speeds``). ``demo_units`` places synthetic units in quarters at the stations."""
    from gis.io.osm_import import import_osm as load_extract  # osmium and the bulk loader: on first use

    return await load_extract(session, path=path, demo_units=demo_units, speeds=speeds)


async def missing_resources(session: AsyncSession, ids: Sequence[int]) -> set[int]:
    """Those of ``ids`` that are no resource's (e.g. a contact's unit that does not exist)."""
    if not ids:
        return set()
    found = await session.scalars(select(Resource.id).where(Resource.id.in_(sorted(set(ids)))))
    return set(ids) - set(found)


async def search_places(
    session: AsyncSession, *, query: str, near: LonLat | None = None, limit: int = 10, units: bool = True
) -> list[PlaceFound]:
    """Places for what a dispatcher typed: streets (a section counts as its street), named places, facilities,
    addresses and stations of the imported OSM extracts, jurisdictions, and our own resources (units only with
    ``units``: a caller who may not see other units' positions must not learn them here). Found by characters
    (traditional as simplified), pinyin (full or initials), English names; "A与B交叉口", "A/B", "A & B" answer the
    crossings of two streets (none when they never meet). Best first by text match, then nearness to ``near``.

    Bounds: ``query`` at most PLACE_QUERY_MAX characters, ``limit`` 1..PLACE_LIMIT_MAX (Invalid otherwise); a query
    of one character finds only names that begin with it."""
    if len(query) > PLACE_QUERY_MAX:
        raise Invalid(f"a place query is at most {PLACE_QUERY_MAX} characters", field="q")
    if not 1 <= limit <= PLACE_LIMIT_MAX:
        raise Invalid(f"limit must be between 1 and {PLACE_LIMIT_MAX}", field="limit")
    if near is not None:
        try:
            check_lon_lat(*near)
        except ValueError as exc:
            raise Invalid(str(exc), field="near") from None
    found = await place_search.find(session, query=query, near=near, limit=limit, units=units)
    return [
        PlaceFound(
            name=c.name, kind=c.kind, location=GeoPoint.of(c.lon, c.lat), jurisdiction=jurisdiction, score=c.score,
            type=c.type, name_en=c.name_en, resource_id=c.resource_id,
        )
        for c, jurisdiction in found
    ]  # fmt: skip
