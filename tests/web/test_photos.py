"""Scene photos over HTTP: kept with the incident without their position (unless the sender shares its own), seen
by whoever may see the incident and by no one else, and refused when too large or not a photo."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import AuditEntry
from core.events import Event
from tests.conftest import TokenFor
from tests.support import images

HERE = {"type": "Point", "coordinates": [104.06, 30.67]}
JPEG = {"Content-Type": "image/jpeg"}


async def _made(client: httpx.AsyncClient, auth: dict[str, str], url: str, body: object) -> int:
    made = await client.post(url, json=body, headers=auth)
    assert made.status_code == 201, made.text
    return int(made.json()["id"] if "id" in made.json() else made.json()["items"][0]["id"])


async def test_a_crew_sends_a_photo_the_room_sees_it(
    client: httpx.AsyncClient, token_for: TokenFor, session: AsyncSession
) -> None:
    commander = await token_for("commander")
    unit = await _made(client, commander, "/api/v1/resources", {"type": "ambulance", "name": "P-1", "location": HERE})
    other = await _made(client, commander, "/api/v1/resources", {"type": "ambulance", "name": "P-2", "location": HERE})
    report = {"description": "居民楼火灾，2人受伤", "location": HERE}
    incident = await _made(client, commander, "/api/v1/incidents", report)
    elsewhere = await _made(client, commander, "/api/v1/incidents", {**report, "description": "仓库起火"})
    await _made(client, commander, f"/api/v1/incidents/{incident}/dispatches", {"unit_ids": [unit]})
    crew = await token_for("field_unit", unit_id=unit)
    stranger = await token_for("field_unit", unit_id=other)
    observer = await token_for("observer")

    url = f"/api/v1/incidents/{incident}/photos"
    sent = await client.post(url, content=images.jpeg_with_gps(), headers={**crew, **JPEG})
    assert sent.status_code == 201, sent.text
    photo = sent.json()
    assert photo["media_type"] == "image/jpeg" and photo["unit_id"] == unit and photo["location_kept"] is False
    got = await client.get(f"/api/v1/photos/{photo['id']}", headers=observer)
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert images.LATITUDE not in got.content and got.content.startswith(b"\xff\xd8")

    shared = await client.post(f"{url}?keep_location=true", content=images.jpeg_with_gps(), headers={**crew, **JPEG})
    assert shared.status_code == 201 and shared.json()["location_kept"] is True
    kept = await client.get(f"/api/v1/photos/{shared.json()['id']}", headers=commander)
    assert images.LATITUDE in kept.content, "the unit shares its location: the photo keeps it"

    listed = await client.get(url, headers=crew)
    assert [p["id"] for p in listed.json()["items"]] == [photo["id"], shared.json()["id"]]
    events = list(await session.scalars(select(Event.data).where(Event.type == "photo.added")))
    assert [e["id"] for e in events] == [photo["id"], shared.json()["id"]] and events[0]["incident_id"] == incident
    audited = list(await session.scalars(select(AuditEntry.target).where(AuditEntry.path == url)))
    assert any(t.get("photo_id") == photo["id"] for t in audited), audited

    # Another crew, or an incident this crew was not sent to: as if neither existed.
    assert (await client.get(url, headers=stranger)).status_code == 404
    assert (await client.get(f"/api/v1/photos/{photo['id']}", headers=stranger)).status_code == 404
    refused = await client.post(url, content=images.png(), headers={**stranger, "Content-Type": "image/png"})
    assert refused.status_code == 404, refused.text
    away = f"/api/v1/incidents/{elsewhere}/photos"
    assert (await client.post(away, content=images.png(), headers=crew)).status_code == 404
    assert (await client.post(url, content=images.png(), headers=observer)).status_code == 403


async def test_too_large_or_not_a_photo_is_refused(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    commander = await token_for("commander")
    incident = await _made(client, commander, "/api/v1/incidents", {"description": "居民楼火灾", "location": HERE})
    url = f"/api/v1/incidents/{incident}/photos"
    big = images.png() + bytes(20_000_000)
    too_large = await client.post(url, content=big, headers={**commander, "Content-Type": "image/png"})
    assert too_large.status_code == 413 and too_large.json()["error"] == "too_large", too_large.text

    for body, media in ((b"%PDF-1.7\n" + bytes(100), "image/jpeg"), (b"GIF89a" + bytes(50), "image/gif")):
        refused = await client.post(url, content=body, headers={**commander, "Content-Type": media})
        assert refused.status_code == 415, refused.text
        assert refused.json()["error"] == "unsupported_media_type"
    broken = await client.post(url, content=images.jpeg_with_gps()[:40], headers={**commander, **JPEG})
    assert broken.status_code == 415 and "not a readable image/jpeg" in broken.json()["detail"]
    assert (await client.get(url, headers=commander)).json()["items"] == []
