"""Vector tiles: they decode to the features expected; empty is 204, out of range 422; ETags revalidate."""

from __future__ import annotations

import httpx
import mapbox_vector_tile
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gis.io.osm_import import import_osm
from gis.models import Resource
from gis.schemas import OsmReport
from tests.conftest import TokenFor
from tests.gis.conftest import chengdu_dir, tile_of

MVT = "application/vnd.mapbox-vector-tile"


async def _ids_in_tile(session: AsyncSession, z: int, x: int, y: int) -> set[int]:
    envelope = func.ST_Transform(func.ST_TileEnvelope(z, x, y), 4326)
    return set(await session.scalars(select(Resource.id).where(func.ST_Intersects(Resource.location, envelope))))


async def test_resource_tile_decodes_to_the_resources_inside(
    client: httpx.AsyncClient, token_for: TokenFor, session: AsyncSession, mini_city: OsmReport
) -> None:
    user = await token_for("observer")
    x, y = tile_of(100.01, 10.01, 14)
    answer = await client.get(f"/api/v1/tiles/resources/14/{x}/{y}.pbf", headers=user)
    assert answer.status_code == 200 and answer.headers["content-type"] == MVT
    layer = mapbox_vector_tile.decode(answer.content)["resources"]
    ids = {f["id"] for f in layer["features"]}
    assert ids == await _ids_in_tile(session, 14, x, y) and ids
    names = {f["properties"]["name"] for f in layer["features"]}
    assert {"迷你市总医院", "迷你消防站"} <= names
    assert answer.headers["cache-control"] == "private, no-cache"
    cached = await client.get(
        f"/api/v1/tiles/resources/14/{x}/{y}.pbf", headers={**user, "If-None-Match": answer.headers["etag"]}
    )
    assert cached.status_code == 304 and not cached.content


@pytest.mark.parametrize(("layer", "expected"), [("roads", "roads"), ("jurisdictions", "jurisdictions")])
async def test_reference_layer_tiles(
    client: httpx.AsyncClient, token_for: TokenFor, mini_city: OsmReport, layer: str, expected: str
) -> None:
    user = await token_for("observer")
    x, y = tile_of(100.01, 10.005, 14)
    answer = await client.get(f"/api/v1/tiles/{layer}/14/{x}/{y}.pbf", headers=user)
    assert answer.status_code == 200
    decoded = mapbox_vector_tile.decode(answer.content)[expected]
    assert decoded["features"] and "max-age" in answer.headers["cache-control"]
    if layer == "roads":
        by_id = {f["id"]: f["properties"] for f in decoded["features"]}
        assert by_id[11]["oneway"] == 1 and by_id[10]["name"] == "主街"
        low = await client.get(
            f"/api/v1/tiles/roads/9/{tile_of(100.01, 10.005, 9)[0]}/{tile_of(100.01, 10.005, 9)[1]}.pbf", headers=user
        )
        assert low.status_code == 200
        assert {f["id"] for f in mapbox_vector_tile.decode(low.content)["roads"]["features"]} == {10}, (
            "only major roads at z9"
        )


async def test_empty_and_invalid_tiles(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    user = await token_for("observer")
    empty = await client.get("/api/v1/tiles/zones/3/0/0.pbf", headers=user)
    assert empty.status_code == 204 and not empty.content
    for path in ("/api/v1/tiles/resources/3/8/0.pbf", "/api/v1/tiles/resources/25/0/0.pbf",
                 "/api/v1/tiles/resources/2/-1/0.pbf", "/api/v1/tiles/resources/x/0/0.pbf"):  # fmt: skip
        bad = await client.get(path, headers=user)
        assert bad.status_code == 422 and bad.json()["error"] == "invalid", path
    unknown = await client.get("/api/v1/tiles/secrets/1/0/0.pbf", headers=user)
    assert unknown.status_code == 404
    assert (await client.get("/api/v1/tiles/resources/1/0/0.pbf")).status_code == 401


@pytest.mark.shared_data
async def test_chengdu_central_tile(client: httpx.AsyncClient, token_for: TokenFor, session: AsyncSession) -> None:
    folder = chengdu_dir()
    await import_osm(session, path=folder / "chengdu_core_2018.osm.pbf", demo_units=True)
    await session.commit()
    user = await token_for("observer")
    x, y = tile_of(104.0657, 30.6598, 14)  # Tianfu Square
    answer = await client.get(f"/api/v1/tiles/resources/14/{x}/{y}.pbf", headers=user)
    assert answer.status_code == 200
    features = mapbox_vector_tile.decode(answer.content)["resources"]["features"]
    assert {f["id"] for f in features} == await _ids_in_tile(session, 14, x, y)
    assert any(f["properties"]["type"] == "hospital" for f in features)
    roads = await client.get(f"/api/v1/tiles/roads/14/{x}/{y}.pbf", headers=user)
    assert len(mapbox_vector_tile.decode(roads.content)["roads"]["features"]) > 20
