"""Scene photos: a crew (or the command room) sends one for an incident it may see; everyone who may see the incident
may look at them. The body is the image itself (``Content-Type: image/jpeg|png|webp``), at most
``COMMANDPOST_MAX_PHOTO_MB`` (413 before or while it streams: web/door.py); its kind is judged by its magic bytes,
not by the header (415 for anything else)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from core.errors import NotFound
from core.users import Role
from incidents import service as incidents
from web.audit import add_target
from web.deps import AnyUser, CurrentUser, ScopeDep, SessionDep, SettingsDep, VisibleIncident, require
from web.door import BodyKind, body_limit
from web.listing import ListOf, PageDep, list_of

router = APIRouter(tags=["photos"])

Sender = Annotated[CurrentUser, Depends(require(Role.commander, Role.duty_officer, Role.field_unit))]
_IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            m: {"schema": {"type": "string", "format": "binary"}} for m in ("image/jpeg", "image/png", "image/webp")
        },
    }
}


@router.post(
    "/incidents/{incident_id}/photos",
    name="photos.add",
    status_code=201,
    openapi_extra={**body_limit(BodyKind.photo), **_IMAGE_BODY},
)
async def add_photo(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: Sender,
    incident: VisibleIncident,
    keep_location: Annotated[
        bool, Query(description="keep the photo's GPS position (the page asks so while the unit shares its location)")
    ] = False,
) -> incidents.PhotoOut:
    """A photo from the scene. A field unit may send one only for an incident it was dispatched to (404 otherwise).
    Its Exif GPS position (and XMP) is removed unless ``keep_location``."""
    data = await request.body()
    photo = await incidents.add_photo(
        session,
        incident_id=incident.id,
        data=data,
        keep_location=keep_location,
        actor=user.username,
        unit_id=user.unit_id if user.role is Role.field_unit else None,
        most=settings.max_photos_per_incident,
    )
    add_target(request, photo_id=photo.id, size_bytes=photo.size_bytes, location_kept=keep_location)
    return incidents.PhotoOut.of(photo)


@router.get("/incidents/{incident_id}/photos", name="photos.of_incident")
async def photos_of_incident(
    session: SessionDep, user: AnyUser, incident: VisibleIncident, page: PageDep
) -> ListOf[incidents.PhotoOut]:
    """The incident's photos, oldest first (a field unit: of an incident it was sent to)."""
    found = await incidents.photos_of_incident(session, incident_id=incident.id, limit=page.limit)
    return list_of([incidents.PhotoOut.of(p) for p in found])


@router.get(
    "/photos/{photo_id}",
    name="photos.get",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}},
)
async def get_photo(
    photo_id: Annotated[int, Path(le=2**63 - 1)], session: SessionDep, user: AnyUser, scope: ScopeDep
) -> Response:
    """The photo's bytes, to whoever may see its incident (anyone else: 404, as if it did not exist)."""
    photo = await incidents.get_photo(session, photo_id=photo_id, with_bytes=True)
    try:
        await incidents.get_incident(session, incident_id=photo.incident_id, scope=scope)
    except NotFound:
        raise NotFound(f"photo {photo_id} does not exist") from None
    return Response(photo.data, media_type=photo.media_type, headers={"Cache-Control": "private, max-age=86400"})
