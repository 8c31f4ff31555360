"""Every error has the one body of API.md, and the unit of work commits before the response goes out."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.events import Event
from core.users import AppUser
from tests.conftest import TokenFor


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in response.text
    return dict(body)


async def test_unknown_route_is_404_with_or_without_a_token(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    assert_error(await client.get("/api/v1/no-such-thing"), 404, "not_found")
    assert_error(await client.get("/api/v1/no-such-thing", headers={"Authorization": "Bearer junk"}), 404, "not_found")
    auth = await token_for("observer")
    body = assert_error(await client.post("/api/v1/no-such-thing", headers=auth), 404, "not_found")
    assert "/api/v1/no-such-thing" in str(body["detail"])


async def test_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    assert_error(await client.delete("/healthz"), 405, "method_not_allowed")


async def test_422_names_the_field(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    auth = await token_for("observer")
    body = assert_error(await client.post("/api/v1/_probe/validated", json={"count": -1}, headers=auth), 422, "invalid")
    fields = {f["field"] for f in body["fields"]}  # type: ignore[attr-defined]
    assert fields == {"body.count", "body.name"}
    assert "body.count" in str(body["detail"])
    body = assert_error(
        await client.post("/api/v1/_probe/validated", content=b"{not json", headers=auth), 422, "invalid"
    )
    body = assert_error(await client.post("/api/v1/auth/token", data={"username": "x"}), 422, "invalid")
    assert "password" in str(body["detail"])


async def test_unexpected_error_is_500_without_internals(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    auth = await token_for("observer")
    response = await client.get("/api/v1/_probe/boom", headers=auth)
    body = assert_error(response, 500, "internal")
    assert "secret internals" not in response.text
    assert response.headers["x-request-id"] in str(body["detail"])


async def test_error_rolls_back_everything_the_request_wrote(
    client: httpx.AsyncClient, token_for: TokenFor, session: AsyncSession
) -> None:
    auth = await token_for("commander")
    assert_error(await client.post("/api/v1/_probe/write-then-conflict", headers=auth), 409, "conflict")
    half = await session.scalar(select(func.count()).select_from(Event).where(Event.type == "probe.half_written"))
    assert half == 0
    written = await session.scalar(select(func.count()).select_from(AppUser).where(AppUser.username == "half.written"))
    assert written == 0


async def test_commit_happens_before_the_response(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    """The endpoint returns happily, the commit then fails: the client must hear the failure, never a success."""
    auth = await token_for("commander")
    assert_error(await client.post("/api/v1/_probe/fails-at-commit", headers=auth), 409, "conflict")


async def test_openapi_is_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    assert "/api/v1/auth/token" in spec["paths"] and "/readyz" in spec["paths"]


async def test_a_lost_race_or_a_restarting_database_is_503_not_500(
    client: httpx.AsyncClient, token_for: TokenFor
) -> None:
    """A deadlock or a serialization failure (PostgreSQL rolled the transaction back: nothing was written) and a
    database shutting down or starting up are answers to retry, never a server error. The soak found these as 500s."""
    auth = await token_for("commander")
    for name in ("deadlock", "serialization"):
        response = await client.post(f"/api/v1/_probe/sqlstate/{name}", headers=auth)
        body = assert_error(response, 503, "unavailable")
        assert response.headers["retry-after"] == "1" and "send it again" in str(body["detail"])
    for name in ("starting_up", "shutdown"):
        response = await client.post(f"/api/v1/_probe/sqlstate/{name}", headers=auth)
        assert_error(response, 503, "unavailable")
