"""Where units are: a phone's fix, a gateway's batch of fixes, a unit's track.

Fixes are frequent (every unit, every few seconds), so they are audited per burst (web/audit.py ``IN_BURSTS``), not
one row per request, and each caller's fixes are counted against ``location_max_fixes_per_second`` (429).
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request

from command import service
from command.schemas import BatchOut, FixOut, FixOutcome, LocationIn, LocationReport
from core.clock import ObservedAt, utcnow
from core.errors import NotFound, TooLarge, TooManyRequests
from core.settings import Settings
from core.users import Role
from gis.schemas import ResourceOut
from web.audit import IN_BURSTS, add_target
from web.deps import AnyUser, CurrentUser, SessionDep, SettingsDep, caller_of, require
from web.listing import ListOf, list_of
from web.state import state_of

router = APIRouter(tags=["locations"])

Reporter = Annotated[CurrentUser, Depends(require(Role.commander, Role.field_unit, Role.gateway))]
MAX_BATCH = 1000
TRACK_MAX = 1000
TRACK_DEFAULT_WINDOW = timedelta(hours=24)
TRACK_MAX_WINDOW = timedelta(days=31)


async def _within_rate(request: Request, settings: Settings, user: CurrentUser, fixes: int) -> None:
    """Count ``fixes`` against the caller's rate (all workers share the count when Redis is configured)."""
    second = int(utcnow().timestamp())
    key = f"fixes:{user.username}:{second}"
    count = await state_of(request).counters.hit(key, window_s=2.0, amount=fixes)
    if count > settings.location_max_fixes_per_second:
        raise TooManyRequests(
            f"more than {settings.location_max_fixes_per_second} fixes a second from {user.username}", retry_after=1
        )


@router.post("/units/{unit_id}/location", name="units.location", openapi_extra=IN_BURSTS)
async def unit_location(
    unit_id: int, body: LocationIn, request: Request, session: SessionDep, settings: SettingsDep, user: Reporter
) -> LocationReport:
    """A position fix. An implausible one (impossible speed since the last) is kept on the track, flagged
    ``trusted: false``, and moves nothing; one older than the unit's newest is kept and moves nothing."""
    await _within_rate(request, settings, user, 1)
    outcome, fix_id, unit = await service.report_location(
        session,
        unit_id=unit_id,
        lon=body.lon,
        lat=body.lat,
        at=body.at,
        caller=caller_of(user),
        keep_days=settings.location_keep_days,
        stream_s=settings.location_stream_seconds,
        speed_ms=body.speed,
        heading_deg=body.heading,
        accuracy_m=body.accuracy,
        # The worker's batcher commits it with the other phones' fixes of the moment (the session stays unused);
        # None on a test's borrowed sessionmaker, whose one connection no background task may share.
        batcher=state_of(request).fixes,
    )
    fix = FixOut(
        id=fix_id,
        unit_id=unit_id,
        at=outcome.at.astimezone(UTC) if outcome.at else utcnow(),
        trusted=bool(outcome.trusted),
        speed_kmh=outcome.speed_kmh,
        location={"type": "Point", "coordinates": [body.lon, body.lat]},
        speed=body.speed,
        heading=body.heading,
        accuracy=body.accuracy,
    )
    return LocationReport(unit=ResourceOut.listed(unit), fix=fix, moved=bool(outcome.moved))


@router.post("/units/locations", name="units.locations", openapi_extra=IN_BURSTS)
async def unit_locations(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: Reporter,
    body: Annotated[list[Any], Body(description=f"up to {MAX_BATCH} fixes")],
) -> BatchOut:
    """A batch of up to 1,000 fixes ``[{"unit_id", "location": Point, "at", "speed"?, "heading"?, "accuracy"?}]``
    (speed in m/s, heading in degrees from north, accuracy in metres): 200 with one result per fix, in order, each
    accepted or refused with its reason, so that one bad fix refuses nothing else. More than 1,000: 413."""
    if len(body) > MAX_BATCH:
        raise TooLarge(f"a batch holds at most {MAX_BATCH} fixes, this one {len(body)}")
    await _within_rate(request, settings, user, max(len(body), 1))
    outcomes = await service.report_locations(
        session,
        raw_fixes=body,
        caller=caller_of(user),
        keep_days=settings.location_keep_days,
        stream_s=settings.location_stream_seconds,
    )
    results = [FixOutcome.of(o) for o in outcomes]
    accepted = sum(r.accepted for r in results)
    add_target(request, fixes=len(results), accepted=accepted)
    return BatchOut(accepted=accepted, refused=len(results) - accepted, results=results)


@router.get("/units/{unit_id}/track", name="units.track")
async def unit_track(
    unit_id: int,
    session: SessionDep,
    user: AnyUser,
    since: Annotated[ObservedAt | None, Query(description="from (default: a day before until)")] = None,
    until: Annotated[ObservedAt | None, Query(description="to (default: now)")] = None,
    limit: Annotated[int, Query(ge=1, le=TRACK_MAX)] = 100,
) -> ListOf[FixOut]:
    """The unit's fixes observed between ``since`` and ``until`` (at most 31 days apart), newest first."""
    if not service.may_see_unit(caller_of(user), unit_id):
        raise NotFound(f"unit {unit_id} does not exist")
    until = until or utcnow()
    since = since or until - TRACK_DEFAULT_WINDOW
    since = max(since, until - TRACK_MAX_WINDOW)
    fixes = await service.track(session, unit_id=unit_id, since=since, until=until, limit=limit)
    return list_of([FixOut.of(f) for f in fixes])
