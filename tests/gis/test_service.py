"""The service functions other packages call: unit status and location (with their events), lookups."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from geoalchemy2.shape import to_shape
from shapely.geometry import box
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.errors import Conflict, Invalid, NotFound
from core.events import Event
from core.geojson import Point
from gis import service
from gis.schemas import ResourceIn


async def _unit(session: AsyncSession) -> int:
    unit = await service.create_resource(
        session, data=ResourceIn(type="ambulance", name="Amb 9", location=Point.of(104.06, 30.66))
    )
    return unit.id


async def _last_event(session: AsyncSession) -> Event:
    """The newest event once the unit of work commits (events are written at commit)."""
    await session.commit()
    event = await session.scalar(select(Event).order_by(Event.id.desc()).limit(1))
    assert event is not None
    return event


async def test_create_writes_resource_created(session: AsyncSession) -> None:
    unit_id = await _unit(session)
    event = await _last_event(session)
    assert event.type == "resource.created" and event.unit_id == unit_id
    assert event.data["id"] == unit_id and event.data["location"]["coordinates"] == [104.06, 30.66]


async def test_status_changes_with_an_event(session: AsyncSession) -> None:
    unit_id = await _unit(session)
    unit = await service.set_unit_status(session, unit_id=unit_id, status="dispatched")
    assert unit.status == "dispatched" and unit.version == 2
    event = await _last_event(session)
    assert event.type == "unit.status" and event.data["status"] == "dispatched" and event.unit_id == unit_id
    with pytest.raises(Invalid):
        await service.set_unit_status(session, unit_id=unit_id, status="sleeping")
    with pytest.raises(NotFound):
        await service.set_unit_status(session, unit_id=10**12, status="available")
    station = await service.create_resource(
        session, data=ResourceIn(type="fire_station", name="S", location=Point.of(104.0, 30.6))
    )
    with pytest.raises(Conflict, match="not a unit"):
        await service.set_unit_status(session, unit_id=station.id, status="available")


async def test_location_fixes_move_the_unit_and_late_ones_are_ignored(session: AsyncSession) -> None:
    unit_id = await _unit(session)
    now = datetime.now(UTC)
    unit = await service.set_unit_location(session, unit_id=unit_id, lon=104.07, lat=30.67, at=now)
    assert (to_shape(unit.location).x, unit.last_fix_at) == (104.07, now)
    event = await _last_event(session)
    assert event.type == "unit.location" and event.data["location"]["coordinates"] == [104.07, 30.67]
    late = await service.set_unit_location(session, unit_id=unit_id, lon=104.0, lat=30.0, at=now - timedelta(minutes=1))
    assert to_shape(late.location).x == 104.07 and (await _last_event(session)).id == event.id
    with pytest.raises(Invalid, match="swapped"):
        await service.set_unit_location(session, unit_id=unit_id, lon=30.67, lat=104.07, at=now)


async def test_resources_within_an_area(session: AsyncSession) -> None:
    unit_id = await _unit(session)
    inside = await service.resources_within(session, geometry=box(104.0, 30.6, 104.1, 30.7), types=["ambulance"])
    assert [r.id for r in inside] == [unit_id]
    assert await service.resources_within(session, geometry=box(0, 0, 1, 1)) == []
    assert await service.jurisdiction_containing(session, lon=0.0, lat=0.0) is None


async def test_a_list_writes_its_page_size_in_and_binds_every_request_value(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    """The list statement, as it reaches the driver: the page's integers are in the SQL text (a generic plan that
    does not know its LIMIT may sort the table instead of walking the KNN index), every value from the request is
    a parameter, and a hostile type key is only ever a value."""
    await _unit(session)
    sent: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        sent.append((statement, parameters))

    hostile = "ambulance' OR '1'='1"
    sa_event.listen(connection.sync_connection, "before_cursor_execute", seen)
    try:
        near = await service.list_resources(session, type="ambulance", near=(104.061, 30.661), limit=7, offset=3)
        none = await service.list_resources(session, type=[hostile, "x"], status="available", bbox=(104, 30, 105, 31))
    finally:
        sa_event.remove(connection.sync_connection, "before_cursor_execute", seen)
    assert near.total == 1 and near.hits == [] and none.total == 0 and none.hits == []
    listed = [(sql, params) for sql, params in sent if "FROM resource" in sql and "AS total" in sql]
    knn, past_the_end, boxed = (sql for sql, _ in listed)
    assert re.search(r"LIMIT 7 OFFSET 3\s*$", knn) and re.search(r"LIMIT 111\)", knn)  # 3 + 7 + the cap, plus one
    assert re.search(r"LIMIT 1 OFFSET 0\s*$", past_the_end)  # past the end: the total from the first row
    assert "<->" in knn and "ambulance" not in knn and "104.061" not in knn
    assert hostile not in boxed and "available" not in boxed and re.search(r"LIMIT 100 OFFSET 0\s*$", boxed)
    assert [hostile, "x"] in [list(p) for p in listed[2][1] if isinstance(p, list | tuple)]
