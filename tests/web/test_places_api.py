"""GET /api/v1/places over HTTP: who may call it (and who finds units through it), its bounds, the one error shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from gis import service
from gis.schemas import ResourceIn
from tests.conftest import TokenFor
from tests.gis import places_town

URL = "/api/v1/places"


@pytest.fixture
async def town(session: AsyncSession, tmp_path: Path) -> int:
    """The small town imported, and one ambulance of ours named 救护车甲一 (its id)."""
    await service.import_osm(session, path=places_town.write_town(tmp_path))
    point = {"type": "Point", "coordinates": [104.061, 30.661]}
    unit = await service.create_resource(
        session, data=ResourceIn.model_validate({"type": "ambulance", "name": "救护车甲一", "location": point})
    )
    await session.commit()
    return unit.id


def _invalid(response: httpx.Response, field: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid" and body["detail"]
    named = {body.get("field") or ""} | {f["field"] for f in body.get("fields") or []}
    assert field in named or f"query.{field}" in named, body
    return dict(body)


@pytest.mark.parametrize("role", ["duty_officer", "commander", "observer", "admin"])
async def test_the_map_roles_find_places_and_units(
    client: httpx.AsyncClient, token_for: TokenFor, town: int, role: str
) -> None:
    auth = await token_for(role)
    response = await client.get(URL, params={"q": "chunxilu", "near": "104.06,30.66"}, headers=auth)
    assert response.status_code == 200, response.text
    first = response.json()["items"][0]
    assert first["name"] == "春熙路" and first["kind"] == "street"
    assert first["location"]["type"] == "Point" and len(first["location"]["coordinates"]) == 2
    assert 0 < first["score"] <= 1
    units = (await client.get(URL, params={"q": "救护车甲一"}, headers=auth)).json()["items"]
    assert [(u["kind"], u["resource_id"]) for u in units if u["kind"] == "unit"] == [("unit", town)]


async def test_a_field_unit_finds_places_but_no_unit(client: httpx.AsyncClient, token_for: TokenFor, town: int) -> None:
    crew = await token_for("field_unit", unit_id=town)
    places = (await client.get(URL, params={"q": "春熙路与总府路交叉口"}, headers=crew)).json()["items"]
    assert [p["kind"] for p in places] == ["crossing"]
    response = await client.get(URL, params={"q": "救护车甲一"}, headers=crew)
    assert response.status_code == 200 and [p for p in response.json()["items"] if p["kind"] == "unit"] == []


async def test_others_are_refused(client: httpx.AsyncClient, token_for: TokenFor, town: int) -> None:
    assert (await client.get(URL, params={"q": "春熙路"})).status_code == 401
    gateway = await token_for("gateway")
    response = await client.get(URL, params={"q": "春熙路"}, headers=gateway)
    assert response.status_code == 403 and response.json()["error"] == "forbidden"


async def test_bounds_and_the_error_shape(client: httpx.AsyncClient, token_for: TokenFor, town: int) -> None:
    auth = await token_for("duty_officer")

    async def get(**params: object) -> httpx.Response:
        return await client.get(URL, params=params, headers=auth)

    _invalid(await client.get(URL, headers=auth), "q")
    _invalid(await get(q=""), "q")
    _invalid(await get(q="路" * 201), "q")
    for limit in (0, 51, "ten"):
        _invalid(await get(q="春熙路", limit=limit), "limit")
    for near in ("abc", "200,10", "104.06", "104.06,30.66,5", "nan,nan"):
        _invalid(await get(q="春熙路", near=near), "near")

    long = await get(q="春熙路" + "路" * 497)  # 500 characters: refused clearly, not searched
    _invalid(long, "q")
    at_most = await get(q="路" * 200)
    assert at_most.status_code == 200 and at_most.json()["items"] == []
    one = await get(q="春", limit=50)
    assert (
        one.status_code == 200 and all(p["name"].startswith("春") for p in one.json()["items"]) and one.json()["items"]
    )
    assert len((await get(q="路", limit=3)).json()["items"]) <= 3
    default = await get(q="r")
    assert default.status_code == 200 and len(default.json()["items"]) <= 10
    none = await get(q="总府路/解放路")
    assert none.status_code == 200 and none.json() == {"items": [], "total": 0}, "streets that never meet: no crossing"
