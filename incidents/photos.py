"""Scene photos (``incidents.service`` re-exports these): taken in as bytes already size-limited by the web door,
judged by their magic bytes, stripped of their location unless the sender shares its own, kept with the incident,
and announced (a timeline entry and a ``photo.added`` event, which the command room's incident panel follows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from core.errors import Conflict, NotFound, UnsupportedMedia
from core.events import Happened
from incidents import imagebytes
from incidents.photo_models import IncidentPhoto
from incidents.records import record


class PhotoOut(BaseModel):
    """A photo as listed (its bytes are ``GET /api/v1/photos/{id}``)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    incident_id: int
    media_type: str
    size_bytes: int
    location_kept: bool
    unit_id: int | None
    created_by: str | None
    created_at: datetime

    @classmethod
    def of(cls, photo: IncidentPhoto) -> PhotoOut:
        return cls.model_validate(photo)


async def add_photo(
    session: AsyncSession,
    *,
    incident_id: int,
    data: bytes,
    keep_location: bool,
    actor: str,
    unit_id: int | None,
    most: int,
) -> IncidentPhoto:
    """Keep a photo for the incident (the caller has checked that the sender may see it). 415 for anything but a
    JPEG, PNG or WebP file whose structure holds; 409 when the incident already holds ``most`` photos."""
    media_type = imagebytes.sniff(data[:16])
    if media_type is None:
        raise UnsupportedMedia("a photo must be a JPEG, PNG or WebP file")
    try:
        kept = data if keep_location else imagebytes.strip_location(data, media_type)
    except imagebytes.NotAnImage as exc:
        raise UnsupportedMedia(f"the file is not a readable {media_type}: {exc}") from None
    held = await session.scalar(
        select(func.count()).select_from(IncidentPhoto).where(IncidentPhoto.incident_id == incident_id)
    )
    if (held or 0) >= most:
        raise Conflict(f"incident {incident_id} already holds {most} photos (COMMANDPOST_MAX_PHOTOS_PER_INCIDENT)")
    photo = IncidentPhoto(
        incident_id=incident_id,
        media_type=media_type,
        size_bytes=len(kept),
        data=kept,
        location_kept=keep_location,
        unit_id=unit_id,
        created_by=actor,
    )
    session.add(photo)
    await session.flush()
    out = photo_event_data(photo)
    record(
        session,
        incident_id=incident_id,
        kind="photo_added",
        actor=actor,
        data={"photo_id": photo.id, "unit_id": unit_id, "size_bytes": photo.size_bytes},
        events=[Happened("photo.added", out, unit_id=unit_id)],
    )
    return photo


def photo_event_data(photo: IncidentPhoto) -> dict[str, Any]:
    return PhotoOut.of(photo).model_dump(mode="json")


async def photos_of_incident(session: AsyncSession, *, incident_id: int, limit: int) -> list[IncidentPhoto]:
    """The incident's photos, oldest first (without their bytes)."""
    stmt = select(IncidentPhoto).where(IncidentPhoto.incident_id == incident_id).order_by(IncidentPhoto.id)
    return list(await session.scalars(stmt.limit(limit)))


async def get_photo(session: AsyncSession, *, photo_id: int, with_bytes: bool = False) -> IncidentPhoto:
    """A photo (its incident's visibility is the caller's to check: one hidden is the same NotFound)."""
    stmt = select(IncidentPhoto).where(IncidentPhoto.id == photo_id)
    if with_bytes:
        stmt = stmt.options(undefer(IncidentPhoto.data))
    photo = (await session.scalars(stmt)).one_or_none()
    if photo is None:
        raise NotFound(f"photo {photo_id} does not exist")
    return photo
