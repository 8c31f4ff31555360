"""The situation.updated events the scheduler's sweep publishes: the whole picture, and only when it changed.
(The picture itself over HTTP: tests/web/test_situation.py.)"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command.situation import SituationWatch
from core.events import Event
from core.geojson import Point
from gis import service as gis
from gis.schemas import ResourceIn
from web.scheduler import SWEEPS


async def test_situation_updated_goes_out_only_when_the_picture_changed(session: AsyncSession) -> None:
    assert "command.situation" in SWEEPS
    watch = SituationWatch()

    async def published() -> list[dict[str, object]]:
        rows = await session.scalars(select(Event).where(Event.type == "situation.updated").order_by(Event.id))
        return [e.data for e in rows]

    async def sweep() -> int:
        handled = await watch.sweep(session)
        await session.commit()  # each run is a unit of work of its own, as the scheduler runs it
        return handled

    assert await sweep() == 1, "a new watch starts by publishing the picture"
    assert await sweep() == 0, "nothing changed: no event"
    await gis.create_resource(session, data=ResourceIn(type="boat", name="boat", location=Point.of(104.06, 30.67)))
    await session.commit()
    assert await sweep() == 1
    assert await sweep() == 0
    first, second = await published()
    assert "boat" not in first["units"]["by_type"]  # type: ignore[operator]
    assert second["units"]["by_type"]["boat"] == {"available": 1}  # type: ignore[index]
