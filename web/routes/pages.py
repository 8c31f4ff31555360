"""The pages (``/`` the command room, ``/intake``, ``/login``, ``/field`` the crews' phone page, ``/admin`` people and
the audit log) and their files.

Our own scripts and styles (``web/pages/static``: plain ES modules, no build step) are served under
``/static/<build>/``, where ``<build>`` is a digest of all of them taken at start-up: a page names its files with the
build it was served with, the files' URLs change whenever any of them does, so browsers may keep them for a year
(``immutable``); a file asked for under another build (a page older than the running service) is served fresh
(``no-cache``). MapLibre GL JS comes from npm (``node_modules``, installed by ``scripts/setup`` from the committed
``package-lock.json``; never copied into the repository) under ``/vendor/maplibre-gl/``, cached for a day.
The HTML itself is never cached (``no-cache``), so a new build reaches every screen at its next load.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from os import PathLike
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from core.settings import PROJECT_ROOT
from incidents.schemas import SUBTYPES, Subtype
from web.routes.docs import CachedStaticFiles

PAGES = Path(__file__).resolve().parents[1] / "pages"
STATIC = PAGES / "static"
VENDOR = PROJECT_ROOT / "node_modules" / "maplibre-gl" / "dist"
IMMUTABLE = "public, max-age=31536000, immutable"
VENDOR_CACHE = "public, max-age=86400"

router = APIRouter(include_in_schema=False)


@cache
def build_id() -> str:
    """A digest of every file under ``web/pages/static`` (read once per process)."""
    digest = hashlib.blake2b(digest_size=6)
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(STATIC).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@cache
def _template(name: str) -> str:
    return (PAGES / name).read_text(encoding="utf-8")


def _page(request: Request, name: str, **values: str) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    html = _template(name).replace("{{static}}", f"{root}/static/{build_id()}").replace("{{vendor}}", root + "/vendor")
    for key, value in values.items():
        html = html.replace("{{" + key + "}}", value)
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


@router.get("/", name="pages.command_room")
async def command_room(request: Request) -> HTMLResponse:
    """The command room: the map, the incident board, the incident panel. Signs in through ``/login``."""
    return _page(request, "room.html")


@router.get("/intake", name="pages.intake")
async def intake(request: Request) -> HTMLResponse:
    """The intake form: the report box with its live classification, the place, the caller; signs in through
    ``/login``. The taxonomy's subtypes (for correcting the classifier) come with the page."""
    return _page(request, "intake.html", taxonomy=_taxonomy())


@cache
def _taxonomy() -> str:
    subtypes = [
        {"key": s.key, "category": s.category, "zh": s.zh, "en": s.en} for s in sorted(SUBTYPES.values(), key=_order)
    ]
    # Inside a <script type="application/json">: "<" escaped, so no text in it can close the element.
    return json.dumps(subtypes, ensure_ascii=False).replace("<", "\\u003c")


def _order(subtype: Subtype) -> tuple[str, str]:
    return subtype.category, subtype.key


@router.get("/login", name="pages.login")
async def login(request: Request) -> HTMLResponse:
    """The sign-in form (``autocomplete="username"`` / ``"current-password"``, so password managers work)."""
    return _page(request, "login.html")


@router.get("/admin", name="pages.admin")
async def admin(request: Request) -> HTMLResponse:
    """People and the audit log, for admins. The page is served to anyone (it holds no data); its data comes from
    the admin-only API, and for anyone else it says that they are not an admin."""
    return _page(request, "admin.html")


@router.get("/field", name="pages.field")
async def field(request: Request) -> HTMLResponse:
    """The field page: a crew's phone (the current dispatch and its alert, one-tap status, notes, photos, location
    sharing, an outbox for a connection that comes and goes). Installable: ``/field.webmanifest``, ``/field-sw.js``."""
    return _page(request, "field.html")


@router.get("/field-sw.js", name="pages.field_worker")
async def field_worker(request: Request) -> Response:
    """The field page's service worker, served from the root so that its scope may hold ``/field``: it keeps the
    page's shell (this build's files) for an offline start and shows Web Push notifications. Never cached by the
    browser's HTTP cache: a new build installs a new worker at the next load."""
    root = request.scope.get("root_path", "")
    text = _template("field-sw.js").replace("{{static}}", f"{root}/static/{build_id()}").replace("{{root}}", root)
    headers = {"Cache-Control": "no-cache", "Service-Worker-Allowed": f"{root}/"}
    return Response(text, media_type="text/javascript", headers=headers)


@router.get("/field.webmanifest", name="pages.field_manifest")
async def field_manifest(request: Request) -> Response:
    """The web app manifest that makes the field page installable to a phone's home screen."""
    root = request.scope.get("root_path", "")
    text = _template("field.webmanifest").replace("{{static}}", f"{root}/static/{build_id()}").replace("{{root}}", root)
    return Response(text, media_type="application/manifest+json", headers={"Cache-Control": "no-cache"})


class BuildStaticFiles(StaticFiles):
    """``/static/<build>/<file>``: the build segment chooses the caching, then is dropped from the path."""

    def get_path(self, scope: Scope) -> str:
        parts = super().get_path(scope).split(os.sep, 1)
        scope["cp_build"] = parts[0]
        return parts[1] if len(parts) == 2 else ""

    def file_response(
        self, full_path: PathLike[str] | str, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = IMMUTABLE if scope.get("cp_build") == build_id() else "no-cache"
        return response


def install(app: FastAPI) -> None:
    """Add the pages, our files and MapLibre's to ``app``."""
    app.include_router(router)
    app.mount("/static", BuildStaticFiles(directory=STATIC), name="pages.static")
    # check_dir off: without `npm ci` the service still starts (the API works); the map's script is then a 404.
    app.mount("/vendor/maplibre-gl", CachedStaticFiles(directory=VENDOR, check_dir=False, cache_control=VENDOR_CACHE))
