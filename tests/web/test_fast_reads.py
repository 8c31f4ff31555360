"""The fast read path of ``GET /api/v1/resources`` (web/fast_reads.py): the same answers as the route, every
error and every unusual request left to the route, the same rules for who may read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import Settings
from core.users import get_by_username
from gis import service
from gis.schemas import ResourceIn
from tests.conftest import TokenFor
from tests.web.test_auth import FakeClock
from web import fast_reads
from web.app import create_app
from web.security import AuthCache


@pytest.fixture
def fast_answers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per answer the fast path gave (it serialises through this module's names for the two list
    shapes; the route does not go through them)."""
    answers: list[int] = []
    for name in ("resource_list_json", "resource_list_geojson"):
        original = getattr(fast_reads, name)

        def counted(found: Any, original: Any = original) -> bytes:
            answers.append(len(found.hits))
            return bytes(original(found))

        monkeypatch.setattr(fast_reads, name, counted)
    return answers


@pytest.fixture
async def route_client(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """The same service, on the same transaction, with the fast path off: every list through the FastAPI route."""
    app = create_app(settings, sessionmaker=sessionmaker, fast_reads=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture
async def registry(session: AsyncSession) -> None:
    """Units and facilities of several types and states, with capacity, properties and a fix time."""
    rows = [
        ("ambulance", "Amb 1", 104.06, 30.66, "available", {"crew": 3}),
        ("ambulance", "Amb 2", 104.07, 30.65, "en_route", {}),
        ("ambulance", "Amb 3", 104.20, 30.70, "available", {}),
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


@pytest.fixture
async def observer(client: httpx.AsyncClient, token_for: TokenFor) -> dict[str, str]:
    """An observer's auth header, the user already read once by the route, so that the AuthCache can answer."""
    auth = await token_for("observer")
    assert (await client.get("/api/v1/me", headers=auth)).status_code == 200
    return auth


QUERIES = [
    "",
    "type=ambulance",
    "type=ambulance,fire_engine&limit=2",
    "type=ambulance&near=104.0657,30.6598&limit=5",
    "near=104.0657,30.6598&limit=2&offset=1",
    "status=available",
    "bbox=104.0,30.6,104.1,30.7",
    "type=ambulance&offset=50",  # past the end: no items, the total still counted
    "limit=5000",  # clamped to 1,000, as the route does
    "type=",  # blank: no filter
    "format=geojson&bbox=104.0,30.6,104.1,30.7",  # the map's layer
    "format=geojson&type=hospital&near=104.0657,30.6598",
]


@pytest.mark.parametrize("query", QUERIES)
async def test_fast_answers_match_the_route(
    query: str,
    registry: None,
    client: httpx.AsyncClient,
    route_client: httpx.AsyncClient,
    observer: dict[str, str],
    fast_answers: list[int],
) -> None:
    fast = await client.get(f"/api/v1/resources?{query}", headers=observer)
    routed = await route_client.get(f"/api/v1/resources?{query}", headers=observer)
    assert fast_answers, "the fast path answered"
    assert fast.status_code == routed.status_code == 200, fast.text
    assert fast.json() == routed.json()
    assert fast.headers["content-type"] == "application/json"
    assert len(fast.headers["x-request-id"]) == 32


async def test_a_listed_resource_reads_as_it_does_alone(
    registry: None, client: httpx.AsyncClient, observer: dict[str, str], fast_answers: list[int]
) -> None:
    listed = (await client.get("/api/v1/resources?near=104.0635,30.6418&limit=1", headers=observer)).json()
    assert fast_answers == [1]
    item = listed["items"][0]
    alone = (await client.get(f"/api/v1/resources/{item['id']}", headers=observer)).json()
    assert (item["name"], item["distance_m"], alone["distance_m"]) == ("华西医院", 0.0, None)
    assert {**item, "distance_m": None} == alone
    assert list(item) == list(alone), "the same fields in the same order"


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("limit=0", 422, "limit"),
        ("limit=%EF%BC%95", 422, "limit"),  # a full-width digit: not a number to FastAPI either
        ("offset=-1", 422, "offset"),
        ("near=abc", 422, "near"),
        ("near=200,10", 422, "near"),
        ("bbox=1,2,3", 422, "bbox"),
        ("status=asleep", 422, "status"),
        ("format=xml", 422, "format"),
    ],
)
async def test_errors_come_from_the_route(
    query: str,
    status: int,
    field: str,
    registry: None,
    client: httpx.AsyncClient,
    observer: dict[str, str],
    fast_answers: list[int],
) -> None:
    answer = await client.get(f"/api/v1/resources?{query}", headers=observer)
    assert answer.status_code == status, answer.text
    body = answer.json()
    named = {body.get("field")} | {f["field"].removeprefix("query.") for f in body.get("fields", [])}
    assert body["error"] == "invalid" and field in named, answer.text
    assert fast_answers == []


async def test_unusual_requests_are_the_routes(
    registry: None,
    client: httpx.AsyncClient,
    route_client: httpx.AsyncClient,
    observer: dict[str, str],
    fast_answers: list[int],
) -> None:
    for query in ("type=hospital&type=ambulance", "type=ambulance&colour=red"):  # repeated, unknown: route's call
        answer = await client.get(f"/api/v1/resources?{query}", headers=observer)
        assert answer.json() == (await route_client.get(f"/api/v1/resources?{query}", headers=observer)).json()
    head = await client.head("/api/v1/resources", headers=observer)
    assert head.status_code == 405  # GET only, as the route declares
    assert fast_answers == []


@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic YWRtaW46YWRtaW4=", "Bearer "])
async def test_no_valid_token_is_401_from_the_route(
    header: str | None, client: httpx.AsyncClient, fast_answers: list[int]
) -> None:
    answer = await client.get("/api/v1/resources", headers={"Authorization": header} if header else {})
    assert answer.status_code == 401 and answer.json()["error"] == "unauthenticated"
    assert fast_answers == []


async def test_a_deactivated_user_is_refused_once_the_cache_lets_go(
    app: Any,
    registry: None,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    token_for: TokenFor,
    fast_answers: list[int],
) -> None:
    clock = FakeClock()
    app.state.auth_cache = AuthCache(settings.auth_cache_seconds, clock=clock)
    auth = await token_for("observer", username="night_shift")
    assert (await client.get("/api/v1/resources", headers=auth)).status_code == 200  # the route; cache filled
    assert (await client.get("/api/v1/resources", headers=auth)).status_code == 200
    assert fast_answers == [5]
    user = await get_by_username(session, username="night_shift")
    assert user is not None
    user.active = False
    await session.commit()
    clock.now += settings.auth_cache_seconds  # the longest a worker may go on trusting what it read
    refused = await client.get("/api/v1/resources", headers=auth)
    assert refused.status_code == 401, refused.text
    assert fast_answers == [5]


async def test_the_read_pool_serves_an_app_with_its_own_engine(
    live_app: Any, live_client: httpx.AsyncClient, live_token_for: TokenFor, fast_answers: list[int]
) -> None:
    assert live_app.state.read_pool is not None
    admin = await live_token_for("admin")
    unit = {"type": "ambulance", "name": "Amb 9", "location": {"type": "Point", "coordinates": [104.06, 30.66]}}
    created = await live_client.post("/api/v1/resources", json=unit, headers=admin)
    assert created.status_code == 201, created.text
    await live_client.get("/api/v1/me", headers=admin)
    listed = await live_client.get(
        "/api/v1/resources?type=ambulance&near=104.0657,30.6598", headers={**admin, "X-Request-ID": "desk-7.42"}
    )
    assert fast_answers == [1]
    assert listed.json()["items"][0]["id"] == created.json()["id"]  # committed a moment ago, read at once
    assert listed.headers["x-request-id"] == "desk-7.42"  # a sane caller's id is kept, as everywhere


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"", {"type": None, "status": None, "bbox": None, "near": None, "limit": 100, "offset": 0}),
        (b"type=a,%20b&limit=7&offset=3", {"type": ["a", "b"], "limit": 7, "offset": 3}),
        (b"near=104.1,30.6&format=json", {"near": (104.1, 30.6)}),
        (b"&&type=fire%5Fengine%2Cambulance&status=", {"type": ["fire_engine", "ambulance"], "status": ""}),
        (b"type=+hospital+", {"type": ["hospital"]}),
        (b"type=\xe5\x8c\xbb", None),  # raw UTF-8 in the query: the route reads it
        (b"limit=0", None),
        (b"limit=1e3", None),
        (b"limit=%D9%A3", None),  # an Arabic-Indic three: str.isdigit says yes, FastAPI says no
        (b"limit=9999999999", None),
        (b"type=a&type=b", None),
        (b"format=geojson", {"format": "geojson"}),
        (b"format=xml", None),
        (b"near=1", None),
        (b"page=2", None),
    ],
)
def test_parse_query(query: bytes, expected: dict[str, Any] | None) -> None:
    parsed = fast_reads.parse_query(query)
    if expected is None:
        assert parsed is None
    else:
        assert parsed is not None and {k: parsed[k] for k in expected} == expected


async def test_many_callers_at_once_over_real_http(
    live_app: Any, live_server: str, live_token_for: TokenFor, live_client: httpx.AsyncClient, fast_answers: list[int]
) -> None:
    """More concurrent requests than the read pool has connections: each waits its turn and gets the right page."""
    admin = await live_token_for("admin")
    for i in range(3):
        unit = {"type": "ambulance", "name": f"Amb {i}", "location": {"type": "Point", "coordinates": [104 + i, 30]}}
        assert (await live_client.post("/api/v1/resources", json=unit, headers=admin)).status_code == 201
    async with httpx.AsyncClient(base_url=f"http://{live_server}", headers=admin) as client:
        await client.get("/api/v1/me")

        async def nearest(lon: int) -> list[str]:
            answer = await client.get("/api/v1/resources", params={"type": "ambulance", "near": f"{104 + lon},30"})
            assert answer.status_code == 200, answer.text
            return [item["name"] for item in answer.json()["items"]]

        pages = await asyncio.gather(*(nearest(i % 3) for i in range(40)))
    assert all(page[0] == f"Amb {i % 3}" and len(page) == 3 for i, page in enumerate(pages))
    assert len(fast_answers) == 40
