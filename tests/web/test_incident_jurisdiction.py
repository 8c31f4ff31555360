"""An incident stores the jurisdiction its point lies in: the smallest of nested areas, none outside them; on our own
fixture polygons always, and on the real Chengdu districts when ../shared/data is there."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import httpx
import pytest
from shapely.geometry import Polygon
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Settings
from gis import service as gis
from gis.schemas import ImportLimits, LayerKind
from tests.conftest import TokenFor
from tests.gis.conftest import chengdu_dir


def _report(lon: float, lat: float) -> dict[str, object]:
    return {"description": "仓库起火，无人员伤亡", "location": {"type": "Point", "coordinates": [lon, lat]}}


async def _create(client: httpx.AsyncClient, auth: dict[str, str], lon: float, lat: float) -> dict[str, object]:
    made = await client.post("/api/v1/incidents", json=_report(lon, lat), headers=auth)
    assert made.status_code == 201, made.text
    return dict(made.json())


async def test_the_smallest_enclosing_area_is_stored(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor, settings: Settings, tmp_path: Path
) -> None:
    county = Polygon([(100.0, 10.0), (100.2, 10.0), (100.2, 10.2), (100.0, 10.2)])
    ward = Polygon([(100.0, 10.0), (100.05, 10.0), (100.05, 10.05), (100.0, 10.05)])
    frame = gpd.GeoDataFrame(
        {"name": ["河畔县", "东门街道"], "name_en": ["Riverside County", "East Gate Ward"], "admin_level": [6, 8]},
        geometry=[county, ward],
        crs="EPSG:4326",
    )
    path = tmp_path / "areas.geojson"
    frame.to_file(path, driver="GeoJSON")
    limits = ImportLimits.of(settings)
    report = await gis.import_layer(session, path=path, kind=LayerKind.jurisdictions, limits=limits)
    assert report.imported == 2
    await session.commit()
    officer = await token_for("duty_officer")

    in_ward = await _create(client, officer, 100.01, 10.01)
    in_county = await _create(client, officer, 100.15, 10.15)
    outside = await _create(client, officer, 101.0, 11.0)
    assert in_ward["jurisdiction"]["name"] == "东门街道"  # type: ignore[index]
    assert in_ward["jurisdiction"]["name_en"] == "East Gate Ward"  # type: ignore[index]
    assert in_county["jurisdiction"]["name"] == "河畔县"  # type: ignore[index]
    assert outside["jurisdiction"] is None
    # Stored, not only shown: the row keeps the jurisdiction's id and names.
    stored = await session.scalar(text("SELECT jurisdiction_id FROM incident WHERE id = :id"), {"id": in_ward["id"]})
    assert stored == in_ward["jurisdiction"]["id"]  # type: ignore[index]
    again = (await client.get(f"/api/v1/incidents/{in_ward['id']}", headers=officer)).json()
    assert again["jurisdiction"] == in_ward["jurisdiction"]


@pytest.mark.shared_data
async def test_an_incident_in_a_chengdu_district_stores_that_district(
    client: httpx.AsyncClient, session: AsyncSession, token_for: TokenFor, settings: Settings
) -> None:
    districts = chengdu_dir() / "chengdu_core_districts_clipped.geojson"
    limits = ImportLimits.of(settings)
    report = await gis.import_layer(session, path=districts, kind=LayerKind.jurisdictions, limits=limits)
    assert report.imported == 5
    await session.commit()
    officer = await token_for("duty_officer")
    jinniu = await _create(client, officer, 104.0614, 30.6880)
    assert "金牛区" in jinniu["jurisdiction"]["name"]  # type: ignore[index]
    jinjiang = await _create(client, officer, 104.0823, 30.6630)
    assert "锦江区" in jinjiang["jurisdiction"]["name"]  # type: ignore[index]
    beyond = await _create(client, officer, 104.2000, 30.8000)  # north-east of the clipped extract
    assert beyond["jurisdiction"] is None
