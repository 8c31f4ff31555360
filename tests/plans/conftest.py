"""Plans fixtures: the shipped library (parsed once), stored in the test's transaction, and incidents to match."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from command import service as command
from core.geojson import Point
from gis import service as gis
from gis.schemas import ImportLimits, LayerKind
from incidents import service as incident_service
from incidents.schemas import IncidentIn, IncidentRecord
from plans import service
from plans.schemas import PlanDocument

JINJIANG = (104.0788, 30.6600)  # inside the Jinjiang plan's polygon
WUHOU = (104.0430, 30.6420)  # west of it, still in the central-area polygon
OUTSIDE_CITY = (103.6200, 31.0000)  # Dujiangyan: outside both local polygons


@cache
def library() -> tuple[tuple[Path, PlanDocument], ...]:
    return tuple(service.read_plans(service.LIBRARY))


@pytest.fixture
async def loaded(session: AsyncSession) -> list[service.LoadResult]:
    """The shipped library stored in the test's transaction."""
    results = [await service.load_plan(session, document=d, source=p.name) for p, d in library()]
    await session.flush()
    return results


MakeIncident = Callable[..., Awaitable[IncidentRecord]]


@pytest.fixture
def make_incident(session: AsyncSession) -> MakeIncident:
    """An incident of a given subtype, place, time and grade (the grade set as a commander's override)."""

    async def make(
        subtype: str,
        *,
        at: tuple[float, float] = WUHOU,
        level: str | None = None,
        reported_at: datetime | None = None,
        description: str = "测试事件 test incident",
        **extra: Any,
    ) -> IncidentRecord:
        data = IncidentIn(
            description=description,
            location=Point.of(*at),
            subtype=subtype,
            reported_at=reported_at,
            **extra,
        )
        # Through command's door, as the API logs and regrades reports: the plan matches are stored with them.
        out, _ = await command.log_report(session, data=data, actor="test")
        if level is not None:
            await command.override_grade(
                session, incident_id=out.id, level=level, reason="set by the test", actor="test"
            )
        await session.flush()
        return await incident_service.get_incident(session, incident_id=out.id)

    return make


async def add_jinjiang_boundary(session: AsyncSession) -> None:
    """A square 锦江区 around (104.20, 30.50): a plan scoped to Jinjiang covers the points inside it. Loaded as an
    agency loads its districts: a layer file imported through gis's door."""
    square = [[[104.19, 30.49], [104.21, 30.49], [104.21, 30.51], [104.19, 30.51], [104.19, 30.49]]]
    district = {
        "type": "Feature",
        "properties": {
            "name": "锦江区 (Jinjiang)",
            "name_en": "Jinjiang District",
            "admin_level": 6,
            "source": "test",
            "external_id": "jinjiang-test",
        },
        "geometry": {"type": "MultiPolygon", "coordinates": [square]},
    }
    with tempfile.TemporaryDirectory(prefix="commandpost-test-") as directory:
        path = Path(directory) / "jinjiang.geojson"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": [district]}), encoding="utf-8")
        report = await gis.import_layer(session, path=path, kind=LayerKind.jurisdictions, limits=ImportLimits())
    assert report.imported == 1, report
    await session.flush()
