"""``/docs`` works with no internet: Swagger UI's files come from the venv, its start-up script is a file, and a real
browser with every other host blocked renders the operations under the page's content security policy."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from tests.support.browser import confined_page
from web.headers import CSP, Kind


class _Page(HTMLParser):
    """The URLs a page loads, its inline scripts and inline styles."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.urls += [value for key, value in attrs if key in ("src", "href") and value]
        if "style" in named or tag == "style" or any(key.startswith("on") for key in named):
            self.inline.append(f"<{tag} {named}>")
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data.strip()[:80])


CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
}


async def test_docs_page_loads_nothing_from_another_site_and_runs_no_inline_code(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "http:" not in page.text and "https:" not in page.text
    parsed = _Page()
    parsed.feed(page.text)
    assert parsed.inline == [], f"inline code the policy would block: {parsed.inline}"
    assert page.headers["content-security-policy"] == CSP[Kind.docs]
    assert "'unsafe-inline'" not in CSP[Kind.docs] and "'unsafe-eval'" not in CSP[Kind.docs]

    loaded = {Path(url).suffix: url for url in parsed.urls}
    assert set(loaded) == {".css", ".png", ".js"} and len(parsed.urls) == 4  # css, icon, bundle, start-up script
    for url in parsed.urls:
        assert url.startswith("/docs/"), url
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].split(";")[0] in CONTENT_TYPES[Path(url).suffix], url
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert "max-age" in asset.headers["cache-control"] or "no-cache" in asset.headers["cache-control"], url
    bundle = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert len(bundle.content) > 500_000 and "SwaggerUIBundle" in bundle.text  # the real bundle, not a stub
    assert bundle.headers["cache-control"] == "public, max-age=86400" and bundle.headers["etag"]
    again = await client.get("/docs/assets/swagger-ui-bundle.js", headers={"If-None-Match": bundle.headers["etag"]})
    assert again.status_code == 304
    start = await client.get("/docs/init.js")
    assert "validatorUrl: null" in start.text  # Swagger UI's online validator would send our schema elsewhere


async def test_docs_assets_serve_only_the_package_files(client: httpx.AsyncClient) -> None:
    for path in ("/docs/assets/../core.py", "/docs/assets/%2e%2e/__init__.py", "/docs/assets/nope.js"):
        response = await client.get(path)
        assert response.status_code == 404, path
    assert (await client.get("/openapi.json")).json()["openapi"].startswith("3.1")
    assert (await client.get("/redoc")).status_code == 404


async def test_swagger_ui_renders_in_a_browser_with_the_internet_blocked(live_server: str) -> None:
    origin = f"http://{live_server}"
    async with confined_page(origin) as browser:
        page = browser.page
        await page.goto(f"{origin}/docs")
        await page.locator(".opblock").first.wait_for(timeout=15_000)
        operations = await page.locator(".opblock").count()
        # Try one out: Swagger UI calls our API from the page (connect-src 'self').
        await page.locator(".opblock-summary", has_text="/healthz").click()
        await page.get_by_role("button", name="Try it out").click()
        await page.get_by_role("button", name="Execute").click()
        status = page.locator(".live-responses-table .response .response-col_status")
        await status.first.wait_for(timeout=10_000)
        answered = (await status.first.inner_text()).strip()
        clean, quiet = await browser.violations(), list(browser.console)
        # The policy is really enforced: an injected inline script does not run, and is reported.
        with pytest.raises(Exception, match="Content Security Policy|CSP|violat"):
            await page.add_script_tag(content="window.injected = true;")
        injected = await page.evaluate("window.injected === true")
        reported = await browser.violations()
    assert operations > 20, operations
    assert answered == "200"
    assert clean == [] and quiet == [], (clean, quiet)
    assert browser.refused == [], f"the page asked another host for {browser.refused}"
    assert injected is False and any(v.startswith("script-src") for v in reported), reported
    assert f"{origin}/openapi.json" in browser.requested
    assert f"{origin}/docs/assets/swagger-ui-bundle.js" in browser.requested
