"""The pages and their files (web/routes/pages.py): no-cache HTML naming the build, immutable files under it, MapLibre
from node_modules, the pages' security policy on all of them, nothing served from outside the folders."""

from __future__ import annotations

import httpx

from web.headers import CSP, Kind
from web.routes.pages import build_id


async def test_pages_name_the_current_build_and_are_not_cached(client: httpx.AsyncClient) -> None:
    for path in ("/", "/login", "/intake", "/admin"):
        page = await client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-cache"
        assert f"/static/{build_id()}/" in page.text and "{{" not in page.text
        assert page.headers["content-security-policy"] == CSP[Kind.page]
        assert "<script>" not in page.text and " style=" not in page.text  # nothing inline: the policy forbids it
    login = (await client.get("/login")).text
    assert 'autocomplete="username"' in login and 'autocomplete="current-password"' in login


async def test_files_under_the_build_are_immutable_and_others_revalidate(client: httpx.AsyncClient) -> None:
    current = await client.get(f"/static/{build_id()}/js/store.js")
    assert current.status_code == 200 and "javascript" in current.headers["content-type"]
    assert current.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert current.headers["content-security-policy"] == CSP[Kind.page]
    old = await client.get("/static/0123456789ab/js/store.js")
    assert old.status_code == 200 and old.headers["cache-control"] == "no-cache"
    again = await client.get(f"/static/{build_id()}/js/store.js", headers={"If-None-Match": current.headers["etag"]})
    assert again.status_code == 304


async def test_maplibre_comes_from_node_modules_with_the_pages_policy(client: httpx.AsyncClient) -> None:
    for name in ("maplibre-gl-csp.js", "maplibre-gl-csp-worker.js", "maplibre-gl.css"):
        answer = await client.get(f"/vendor/maplibre-gl/{name}")
        assert answer.status_code == 200, name
        assert answer.headers["cache-control"] == "public, max-age=86400"
        # The worker runs under the policy its script came with: it must be allowed to fetch our tiles.
        assert answer.headers["content-security-policy"] == CSP[Kind.page]


async def test_nothing_outside_the_folders_is_served(client: httpx.AsyncClient) -> None:
    for path in (
        f"/static/{build_id()}/../routes/pages.py",
        f"/static/{build_id()}/%2e%2e/%2e%2e/app.py",
        "/static/x/../../../.env",
        "/vendor/maplibre-gl/../../../package.json",
        f"/static/{build_id()}/",
    ):
        answer = await client.get(path)
        assert answer.status_code == 404, (path, answer.status_code)


async def test_the_intake_page_carries_the_taxonomy_as_data(client: httpx.AsyncClient) -> None:
    import json
    import re

    page = (await client.get("/intake")).text
    found = re.search(r'<script type="application/json" id="taxonomy">(.*?)</script>', page, re.S)
    assert found is not None
    subtypes = {s["key"]: s for s in json.loads(found.group(1))}
    assert subtypes["building_fire"]["zh"] == "火灾" and subtypes["building_fire"]["category"] == "accident_disaster"
