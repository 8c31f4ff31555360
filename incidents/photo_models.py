"""Scene photos: kept in PostgreSQL with their incident (``bytea``; a file is at most ``max_photo_mb`` and an incident
holds at most ``max_photos_per_incident``), so a backup of the database is a backup of them, and a deleted incident
takes its photos with it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, func
from sqlalchemy.orm import Mapped, deferred, mapped_column

from core.db import Base


class IncidentPhoto(Base):
    """One photo from the scene: its bytes (location metadata stripped unless the sender shared its location), who
    sent it and from which unit."""

    __tablename__ = "incident_photo"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("incident.id", ondelete="CASCADE"), nullable=False)
    media_type: Mapped[str] = mapped_column(String(16), nullable=False)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))  # a listing never reads the bytes
    location_kept: Mapped[bool] = mapped_column(Boolean, nullable=False)
    unit_id: Mapped[int | None] = mapped_column(BigInteger)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (Index("ix_incident_photo_incident_id_id", "incident_id", "id"),)
