"""Security headers on every HTTP answer, and the content security policy of each kind of answer (web/headers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi.responses import HTMLResponse, Response
from starlette.types import Message, Receive, Scope, Send

from core.settings import Settings
from tests.conftest import TokenFor
from tests.support.browser import confined_page
from web.app import create_app
from web.headers import CSP, Kind, SecurityHeadersMiddleware, kind_of

API_CSP = "default-src 'none'; frame-ancestors 'none'"
COMMON = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}


def directives(policy: str) -> dict[str, list[str]]:
    """A content security policy as {directive: sources}."""
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        assert name not in parsed, f"{name} twice in {policy!r}"
        parsed[name] = sources
    return parsed


def assert_secured(response: httpx.Response, csp: str = API_CSP) -> None:
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, f"{response.request.url.path}: {name}={response.headers.get(name)}"
    assert response.headers.get_list("content-security-policy") == [csp]
    assert "strict-transport-security" not in response.headers  # plain http


async def test_every_kind_of_api_answer_carries_the_headers(client: httpx.AsyncClient, token_for: TokenFor) -> None:
    auth = await token_for("observer")
    answers = {
        200: await client.get("/healthz"),
        401: await client.get("/api/v1/me"),
        404: await client.get("/api/v1/no-such-thing"),
        405: await client.delete("/healthz"),
        422: await client.post("/api/v1/_probe/validated", json={"count": -1, "name": "x"}, headers=auth),
        500: await client.get("/api/v1/_probe/boom", headers=auth),
    }
    for status, response in answers.items():
        assert response.status_code == status, response.text
        assert_secured(response)
    tile = await client.get("/api/v1/tiles/roads/0/0/0.pbf", headers=auth)
    assert tile.status_code in (200, 204), tile.text
    assert_secured(tile)
    assert_secured(await client.get("/openapi.json"))


def test_kinds_by_path() -> None:
    assert [kind_of(p) for p in ("/", "/login", "/intake", "/field", "/admin")] == [Kind.page] * 5
    assert [kind_of(p) for p in ("/docs", "/docs/init.js", "/docs/assets/swagger-ui.css")] == [Kind.docs] * 3
    assert kind_of("/cp/docs", "/cp") is Kind.docs and kind_of("/cp", "/cp") is Kind.page  # served under a prefix
    # Lookalikes are API answers, the strictest kind.
    for path in ("/api/v1/incidents", "/docsx", "/fieldwork", "/login/x", "/readyz", "/ws/command"):
        assert kind_of(path) is Kind.api, path


def test_no_policy_trusts_inline_code_or_another_origin() -> None:
    for kind, policy in CSP.items():
        parsed = directives(policy)
        assert parsed["frame-ancestors"] == ["'none'"], kind
        assert "default-src" in parsed, kind
        for sources in parsed.values():
            for source in sources:
                assert source in {"'self'", "'none'", "data:", "blob:"}, f"{kind}: {source} in {policy!r}"


def test_the_page_policy_lets_maplibre_draw_our_tiles() -> None:
    page = directives(CSP[Kind.page])
    assert "blob:" in page["worker-src"] and "blob:" in page["child-src"]  # MapLibre's workers
    assert {"data:", "blob:"} <= set(page["img-src"])
    assert page["script-src"] == ["'self'"] and page["style-src"] == ["'self'"]
    assert page["connect-src"] == ["'self'"]  # tiles, the API and the same-origin websocket (CSP 3)
    assert page["object-src"] == ["'none'"] and page["base-uri"] == ["'none'"] and page["form-action"] == ["'self'"]


async def test_a_page_route_gets_the_page_policy(client: httpx.AsyncClient, app: Any) -> None:
    @app.get("/login", include_in_schema=False)
    async def login_page() -> HTMLResponse:  # a stand-in for the coming sign-in page
        return HTMLResponse("<!DOCTYPE html><title>sign in</title>")

    response = await client.get("/login")
    assert response.status_code == 200
    assert_secured(response, CSP[Kind.page])
    assert_secured(await client.get("/login/nothing-here"))  # not a page: the API's policy


async def test_permissions_policy_allows_position_and_camera_to_us_only(client: httpx.AsyncClient) -> None:
    policy = (await client.get("/healthz")).headers["permissions-policy"]
    allowed = dict(item.strip().split("=", 1) for item in policy.split(","))
    assert allowed.pop("geolocation") == "(self)" and allowed.pop("camera") == "(self)"
    assert {"microphone", "payment", "usb", "display-capture"} <= set(allowed)
    assert set(allowed.values()) == {"()"}, allowed


@pytest.fixture
async def served(settings: Settings, sessionmaker: Any) -> AsyncIterator[Any]:
    """Build an app with given settings and hand back a client factory (http or https)."""
    apps: list[Any] = []

    def make(scheme: str, **changes: Any) -> httpx.AsyncClient:
        app = create_app(settings.model_copy(update=changes), sessionmaker=sessionmaker)
        apps.append(app)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        return httpx.AsyncClient(transport=transport, base_url=f"{scheme}://test")

    yield make


async def test_hsts_only_over_https_or_when_told(served: Any) -> None:
    async with served("http") as plain:
        assert "strict-transport-security" not in (await plain.get("/healthz")).headers
    async with served("https") as tls:
        for path in ("/healthz", "/nowhere", "/docs"):
            assert (await tls.get(path)).headers["strict-transport-security"] == "max-age=31536000", path
    async with served("http", hsts_always=True, hsts_seconds=600) as behind_proxy:
        assert (await behind_proxy.get("/healthz")).headers["strict-transport-security"] == "max-age=600"
    async with served("https", hsts_seconds=0) as off:
        assert "strict-transport-security" not in (await off.get("/healthz")).headers


# A stand-in for the coming map pages: what MapLibre GL JS does under the page policy (a worker built from a blob:
# URL, images from blob:/data:, tiles and the live websocket from our origin), and what a hijacked page may not.
PAGE_SCRIPT = """
window.done = (async () => {
  const results = {};
  const source = new Blob(["postMessage(6 * 7)"], {type: "text/javascript"});
  const worker = new Worker(URL.createObjectURL(source));
  results.worker = await new Promise(r => { worker.onmessage = e => r(e.data); worker.onerror = () => r("blocked"); });
  results.socket = await new Promise(r => {
    const ws = new WebSocket(`ws://${location.host}/ws/command`);
    ws.onopen = () => { r("open"); ws.close(); };
    ws.onerror = () => r("blocked");
  });
  results.tile = (await fetch("/api/v1/tiles/roads/0/0/0.pbf")).status;
  results.elsewhere = await fetch("http://127.0.0.2:9/x").then(() => "fetched", () => "blocked");
  return results;
})();
"""
PAGE_HTML = (
    '<!DOCTYPE html><html><head><title>map</title><script src="/_test/page.js"></script></head>'
    "<body><script>window.inlineRan = true;</script><div style='color: red'>map</div></body></html>"
)


async def test_the_page_policy_runs_a_maplibre_like_page_and_stops_the_rest(live_app: Any, live_server: str) -> None:
    @live_app.get("/field", include_in_schema=False)
    async def field_page() -> HTMLResponse:
        return HTMLResponse(PAGE_HTML)

    @live_app.get("/_test/page.js", include_in_schema=False)
    async def field_script() -> Response:
        return Response(PAGE_SCRIPT, media_type="text/javascript")

    # The stand-in is served at /field (a page path) ahead of the real field page.
    routes = live_app.router.routes
    routes.insert(0, routes.pop(-2))

    origin = f"http://{live_server}"
    async with confined_page(origin) as browser:
        response = await browser.page.goto(f"{origin}/field")
        assert response is not None and response.headers["content-security-policy"] == CSP[Kind.page]
        results = await browser.page.evaluate("window.done")
        inline_ran = await browser.page.evaluate("window.inlineRan === true")
        violations = await browser.violations()
    assert results == {"worker": 42, "socket": "open", "tile": 401, "elsewhere": "blocked"}, results
    assert inline_ran is False
    assert "connect-src http://127.0.0.2:9/x" in violations, violations
    assert {v.split()[0] for v in violations} == {"connect-src", "script-src-elem", "style-src-attr"}, violations


async def test_the_middleware_passes_a_stream_through_as_it_comes(settings: Settings) -> None:
    """Pure ASGI: each chunk goes out when the app sends it (nothing buffered), only the start gains headers."""
    sent: list[Message] = []
    seen_by_app: list[int] = []

    async def streaming_app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": ((b"content-type", b"text/plain"),)})
        for chunk in (b"a", b"b", b"c"):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            seen_by_app.append(len(sent))  # how many messages had left when the app sent this chunk
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    middleware = SecurityHeadersMiddleware(streaming_app, settings)
    await middleware({"type": "http", "path": "/api/v1/x", "scheme": "http", "headers": []}, receive, send)
    assert seen_by_app == [2, 3, 4]
    assert [m.get("body") for m in sent[1:]] == [b"a", b"b", b"c", b""]
    headers = dict(sent[0]["headers"])
    assert headers[b"content-type"] == b"text/plain" and headers[b"content-security-policy"] == API_CSP.encode()
