"""``GET /docs``: Swagger UI over ``/openapi.json``, every file served by us, so the page works with no internet.

Swagger UI's files come from the ``fastapi-offline`` package in the venv (Swagger UI 5: FastAPI writes OpenAPI 3.1,
which Swagger UI 4, as in the ``swagger-ui-bundle`` package, refuses to render). Its start-up script is a file too
(``/docs/init.js``), not an inline script as FastAPI's own page has, so the page's content security policy
(web/headers.py) needs no 'unsafe-inline'.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS = "/docs/assets"
ASSETS_PACKAGE = ("fastapi_offline", "static")  # swagger-ui-bundle.js, swagger-ui.css, favicon.png
# The files change only with the package (their ETag and Last-Modified then change too): a day, then revalidate.
ASSETS_CACHE = "public, max-age=86400"

# FastAPI's own Swagger UI settings, minus the online validator (it would send our schema to another site).
INIT_SCRIPT = """\
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
"""

PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}/favicon.png">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{init_url}"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)


class CachedStaticFiles(StaticFiles):
    """Static files with a ``Cache-Control`` of our choosing (Starlette sets only ETag and Last-Modified)."""

    def __init__(self, *, cache_control: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cache_control = cache_control

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = self.cache_control
        return response


@router.get("/docs", name="docs.page")
async def docs_page(request: Request) -> HTMLResponse:
    """The Swagger UI page: our own assets, our own start-up script, no inline script or style."""
    root = request.scope.get("root_path", "")
    page = PAGE.format(
        title=escape(f"{request.app.title} - API"),
        assets=escape(root + ASSETS),
        openapi_url=escape(root + request.app.openapi_url),
        init_url=escape(root + "/docs/init.js"),
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


@router.get("/docs/init.js", name="docs.init")
async def docs_init() -> Response:
    """Starts Swagger UI on the page (a file, so that no inline script is needed)."""
    return Response(INIT_SCRIPT, media_type="text/javascript", headers={"Cache-Control": "no-cache"})


def install(app: FastAPI) -> None:
    """Add ``/docs``, its start-up script and Swagger UI's files (from the venv) to ``app``."""
    app.include_router(router)
    assets = CachedStaticFiles(packages=[ASSETS_PACKAGE], cache_control=ASSETS_CACHE)
    app.mount(ASSETS, assets, name="docs.assets")
