"""Resources: the registry of units and facilities (API.md "Resources"). Thin: parse, call gis, shape the answer."""

from __future__ import annotations

from typing import Annotated, Any

import pydantic_core
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from core.errors import Invalid
from core.geojson import FeatureCollectionOut, feature_collection
from core.users import Role
from gis import service
from gis.schemas import (
    ImportLimits,
    ImportReport,
    LayerKind,
    ResourceIn,
    ResourceList,
    ResourceOut,
    ResourcePage,
    listed_item,
)
from web.audit import add_target
from web.deps import AnyUser, CurrentUser, SessionDep, SettingsDep, require
from web.door import BodyKind, body_limit
from web.listing import BboxQuery, FormatParam, KeyQuery, KeysQuery, PageDep, bbox_param, lon_lat_param
from web.openapi import multipart_body
from web.routes.uploads import receive_upload

router = APIRouter(tags=["resources"])
Editor = Annotated[CurrentUser, Depends(require(Role.commander))]


@router.get("/resources", name="resources.list", response_model=ResourceList | FeatureCollectionOut)
async def list_resources(
    session: SessionDep,
    user: AnyUser,
    page: PageDep,
    type: KeysQuery = None,
    status: KeyQuery = None,
    bbox: BboxQuery = None,
    near: Annotated[str | None, Query(max_length=100, description="lon,lat: nearest first, with distance_m")] = None,
    format: FormatParam = "json",
) -> Any:
    """Units and facilities, filtered by type, status, box; nearest first with ``near``.

    ``total`` counts every match, except after ``near``: a nearest-first search counts up to 100 past its page and
    then says ``"total_exact": false`` (``total`` is then a lower bound).
    """
    found = await service.list_resources(
        session,
        type=split_types(type),
        status=status,
        bbox=bbox_param(bbox),
        near=lon_lat_param(near, field="near"),
        limit=page.limit,
        offset=page.offset,
    )
    body = resource_list_geojson(found) if format == "geojson" else resource_list_json(found)
    return Response(body, media_type="application/json")


def split_types(value: str | None) -> list[str] | None:
    """``type=a,b``: one key or several."""
    types = [t.strip() for t in value.split(",") if t.strip()] if value else None
    return types or None


def resource_list_geojson(found: ResourcePage) -> bytes:
    """A page of ``GET /resources?format=geojson``: a FeatureCollection."""
    items = [ResourceOut.listed(hit.resource, distance_m=hit.distance_m) for hit in found.hits]
    return pydantic_core.to_json(feature_collection([item.as_feature() for item in items]))


def resource_list_json(found: ResourcePage) -> bytes:
    """A page of ``GET /resources`` as API.md's list JSON."""
    items = [listed_item(hit.resource, distance_m=hit.distance_m) for hit in found.hits]
    return pydantic_core.to_json({"items": items, "total": found.total, "total_exact": found.total_exact})


@router.get("/resources/{resource_id}", name="resources.get")
async def get_resource(resource_id: int, session: SessionDep, user: AnyUser) -> ResourceOut:
    """One unit or facility."""
    return ResourceOut.of(await service.get_resource(session, resource_id=resource_id))


@router.post("/resources", status_code=201, name="resources.create")
async def create_resource(request: Request, body: ResourceIn, session: SessionDep, user: Editor) -> ResourceOut:
    """Add a unit or facility (admin, commander)."""
    resource = await service.create_resource(session, data=body)
    add_target(request, resource_id=resource.id, type=resource.type)
    return ResourceOut.of(resource)


def _float_field(fields: dict[str, str], name: str) -> float | None:
    raw = fields.get(name, "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise Invalid(f"{name} must be a number", field=name) from None


async def upload_layer(
    request: Request, session: SessionDep, settings: SettingsDep, *, kind: LayerKind | None
) -> ImportReport:
    """Shared by the import endpoints: receive the file, import it all or nothing, answer with the report."""
    async with receive_upload(request, settings) as upload:
        if kind is None:
            try:
                kind = LayerKind(upload.fields.get("kind") or "resources")
            except ValueError:
                raise Invalid(f"kind must be one of: {', '.join(LayerKind)}", field="kind") from None
        report: ImportReport = await service.import_layer(
            session,
            path=upload.path,
            name=upload.filename,
            kind=kind,
            limits=ImportLimits.of(settings),
            crs=upload.fields.get("crs") or None,
            zone_kind=upload.fields.get("zone_kind") or None,
            buffer_m=_float_field(upload.fields, "buffer_m"),
            strict=upload.fields.get("strict", "").lower() in ("1", "true", "yes"),
        )
    add_target(request, kind=kind.value, file=report.file, imported=report.imported, rejected=len(report.rejected))
    return report


def import_body(*, with_kind: bool) -> dict[str, Any]:
    """``openapi_extra`` of the import endpoints: the upload's limit and its multipart fields."""
    fields: dict[str, dict[str, Any]] = {
        "file": {"type": "string", "format": "binary", "description": "GeoJSON, GeoPackage, zipped Shapefile or CSV"},
        "crs": {"type": "string", "maxLength": 64, "description": "the CRS of a file that names none, e.g. EPSG:4547"},
        "zone_kind": {"type": "string", "maxLength": 64, "description": "hazard zones: the kind of a row without one"},
        "buffer_m": {"type": "number", "minimum": 0, "description": "hazard zones: the buffer of a row without one"},
        "strict": {"type": "boolean", "description": "refuse the whole file on any bad row"},
    }
    if with_kind:
        fields["kind"] = {"type": "string", "enum": [k.value for k in LayerKind], "default": LayerKind.resources.value}
    return {**body_limit(BodyKind.upload), **multipart_body(fields, required=["file"])}


@router.post("/resources/import", status_code=201, name="resources.import", openapi_extra=import_body(with_kind=True))
async def import_resources(request: Request, session: SessionDep, settings: SettingsDep, user: Editor) -> ImportReport:
    """Upload a layer file (GeoJSON, GeoPackage, zipped Shapefile, CSV with lon/lat) as multipart field ``file``.

    Optional fields: ``kind`` (resources, jurisdictions, hazard_zones), ``crs`` for a file that names none,
    ``zone_kind``/``buffer_m`` defaults for hazard zones, ``strict=true`` to refuse the file on any bad row.
    """
    return await upload_layer(request, session, settings, kind=None)
