"""Reference layers (jurisdictions, hazard zones) and layer import/export.

Layers that change rarely answer with an ``ETag`` and ``Cache-Control``; a matching ``If-None-Match`` gets 304.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from core.errors import Invalid, NotFound
from core.geojson import FeatureCollectionOut, feature_collection
from core.users import Role
from gis import service
from gis.schemas import ExportFormat, HazardZoneOut, ImportReport, JurisdictionOut, Layer, LayerKind, ResourceOut
from web.deps import AnyUser, CurrentUser, SessionDep, SettingsDep, require
from web.listing import (
    BboxQuery,
    FormatParam,
    KeyQuery,
    KeysQuery,
    ListOf,
    PageDep,
    bbox_param,
    list_of,
    lon_lat_param,
)
from web.routes.resources import import_body, upload_layer

router = APIRouter(tags=["layers"])
Editor = Annotated[CurrentUser, Depends(require(Role.commander))]
RARELY_CHANGES = "private, max-age=300"


def cached_json(request: Request, body: Any) -> Response:
    """A JSON answer with a strong ETag of its content; 304 when the client already holds it."""
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    etag = '"' + hashlib.blake2b(payload, digest_size=16).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": RARELY_CHANGES}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(payload, media_type="application/json", headers=headers)


def _page(items: list[JurisdictionOut] | list[HazardZoneOut], total: int, *, format: str) -> dict[str, Any]:
    """The list answer (what is None left out, the geometry first of all) or, with ``?format=geojson``, a
    FeatureCollection: a dict, since ``cached_json`` tags the very bytes it sends."""
    if format == "geojson":
        return feature_collection([item.as_feature() for item in items])
    return list_of(items, total).model_dump(mode="json", exclude_none=True)


@router.get("/jurisdictions", name="jurisdictions.list", response_model=ListOf[JurisdictionOut] | FeatureCollectionOut)
async def list_jurisdictions(
    request: Request,
    session: SessionDep,
    user: AnyUser,
    page: PageDep,
    contains: Annotated[
        str | None, Query(max_length=100, description="lon,lat: the jurisdictions this point lies in")
    ] = None,
    bbox: BboxQuery = None,
    geometry: bool = False,
    format: FormatParam = "json",
) -> Response:
    """Jurisdictions, smallest first; ``?contains=lon,lat`` answers "which district is this point in"."""
    items, total = await service.list_jurisdictions(
        session,
        contains=lon_lat_param(contains, field="contains"),
        bbox=bbox_param(bbox),
        limit=page.limit,
        offset=page.offset,
    )
    with_geometry = geometry or format == "geojson"
    out = [JurisdictionOut.of(j, with_geometry=with_geometry) for j in items]
    return cached_json(request, _page(out, total, format=format))


@router.get("/jurisdictions/{jurisdiction_id}", name="jurisdictions.get", response_model=JurisdictionOut)
async def get_jurisdiction(request: Request, jurisdiction_id: int, session: SessionDep, user: AnyUser) -> Response:
    row = await service.get_jurisdiction(session, jurisdiction_id=jurisdiction_id)
    return cached_json(request, JurisdictionOut.of(row, with_geometry=True).model_dump(mode="json"))


@router.get("/hazard-zones", name="hazard_zones.list", response_model=ListOf[HazardZoneOut] | FeatureCollectionOut)
async def list_hazard_zones(
    request: Request,
    session: SessionDep,
    user: AnyUser,
    page: PageDep,
    contains: Annotated[str | None, Query(max_length=100, description="lon,lat: the zones covering this point")] = None,
    bbox: BboxQuery = None,
    kind: KeyQuery = None,
    geometry: bool = False,
    format: FormatParam = "json",
) -> Response:
    """Hazard zones (a zone covers its geometry widened by ``buffer_m``)."""
    items, total = await service.list_zones(
        session,
        contains=lon_lat_param(contains, field="contains"),
        bbox=bbox_param(bbox),
        kind=kind,
        limit=page.limit,
        offset=page.offset,
    )
    with_geometry = geometry or format == "geojson"
    out = [HazardZoneOut.of(z, with_geometry=with_geometry) for z in items]
    return cached_json(request, _page(out, total, format=format))


@router.get("/hazard-zones/{zone_id}", name="hazard_zones.get", response_model=HazardZoneOut)
async def get_hazard_zone(request: Request, zone_id: int, session: SessionDep, user: AnyUser) -> Response:
    row = await service.get_zone(session, zone_id=zone_id)
    return cached_json(request, HazardZoneOut.of(row, with_geometry=True).model_dump(mode="json"))


@router.get("/hazard-zones/{zone_id}/resources", name="hazard_zones.resources")
async def resources_in_zone(
    zone_id: int, session: SessionDep, user: AnyUser, type: KeysQuery = None
) -> ListOf[ResourceOut]:
    """What lies inside the zone: the resources (of some types, comma-separated) within its area."""
    types = [t.strip() for t in type.split(",") if t.strip()] if type else None
    found = await service.resources_in_zone(session, zone_id=zone_id, types=types)
    return list_of([ResourceOut.of(r) for r in found])


@router.post("/layers/{kind}/import", status_code=201, name="layers.import", openapi_extra=import_body(with_kind=False))
async def import_layer_file(
    kind: str, request: Request, session: SessionDep, settings: SettingsDep, user: Editor
) -> ImportReport:
    """Upload a layer of ``kind`` (resources, jurisdictions, hazard_zones): the same fields as /resources/import."""
    try:
        layer_kind = LayerKind(kind)
    except ValueError:
        raise NotFound(f"no layer kind {kind!r} (one of: {', '.join(LayerKind)})") from None
    return await upload_layer(request, session, settings, kind=layer_kind)


@router.get("/layers/{layer}/export", name="layers.export")
async def export(
    layer: str, session: SessionDep, user: AnyUser, format: Literal["geojson", "gpkg"] = "geojson"
) -> FileResponse:
    """The whole layer (resources, jurisdictions, hazard_zones, roads) as GeoJSON or GeoPackage, EPSG:4326."""
    try:
        which = Layer(layer)
    except ValueError:
        raise NotFound(f"no layer {layer!r} (one of: {', '.join(Layer)})") from None
    fmt = ExportFormat(format)
    path = await service.export_layer(session, layer=which, format=fmt)
    media = "application/geo+json" if fmt is ExportFormat.geojson else "application/geopackage+sqlite3"
    if not path.exists():
        raise Invalid("the export produced no file")
    return FileResponse(
        path,
        media_type=media,
        filename=path.name,
        background=BackgroundTask(shutil.rmtree, path.parent, ignore_errors=True),
    )
