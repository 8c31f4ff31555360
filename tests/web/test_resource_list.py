"""``GET /api/v1/resources``: a listed resource reads as it does alone; bad filters are 422 naming the field."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from gis import service
from gis.schemas import ResourceIn
from tests.conftest import TokenFor


@pytest.fixture
async def registry(session: AsyncSession) -> None:
    """Units and facilities of several types and states, with capacity and an English name."""
    rows = [
        ("ambulance", "Amb 1", 104.06, 30.66, "available", {"crew": 3}),
        ("ambulance", "Amb 2", 104.07, 30.65, "en_route", {}),
        ("fire_engine", "Engine 7", 104.05, 30.67, "available", {"water_l": 8000}),
        ("hospital", "华西医院", 104.0635, 30.6418, None, {"beds": 4300}),
    ]
    for type_, name, lon, lat, status, capacity in rows:
        data = ResourceIn.model_validate(
            {
                "type": type_,
                "name": name,
                "location": {"type": "Point", "coordinates": [lon, lat]},
                "status": status,
                "capacity": capacity,
                "name_en": "West China Hospital" if type_ == "hospital" else None,
            }
        )
        await service.create_resource(session, data=data)
    await session.commit()


async def test_a_listed_resource_reads_as_it_does_alone(
    registry: None, client: httpx.AsyncClient, token_for: TokenFor
) -> None:
    observer = await token_for("observer")
    listed = (await client.get("/api/v1/resources?near=104.0635,30.6418&limit=1", headers=observer)).json()
    item = listed["items"][0]
    alone = (await client.get(f"/api/v1/resources/{item['id']}", headers=observer)).json()
    assert (item["name"], item["distance_m"], alone["distance_m"]) == ("华西医院", 0.0, None)
    assert {**item, "distance_m": None} == alone
    assert list(item) == list(alone), "the same fields in the same order"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=%EF%BC%95", "limit"),  # a full-width digit is not a number
        ("offset=-1", "offset"),
        ("near=abc", "near"),
        ("near=200,10", "near"),
        ("bbox=1,2,3", "bbox"),
        ("status=asleep", "status"),
        ("format=xml", "format"),
    ],
)
async def test_bad_filters_are_422_naming_the_field(
    query: str, field: str, registry: None, client: httpx.AsyncClient, token_for: TokenFor
) -> None:
    answer = await client.get(f"/api/v1/resources?{query}", headers=await token_for("observer"))
    assert answer.status_code == 422, answer.text
    body = answer.json()
    named = {body.get("field")} | {f["field"].removeprefix("query.") for f in body.get("fields", [])}
    assert body["error"] == "invalid" and field in named, answer.text
