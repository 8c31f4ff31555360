"""A fast path for the registry's hottest read: ``GET /api/v1/resources`` (nearest units of a type, a box, a page).

FastAPI's per-request machinery (its telemetry check and middleware, route matching across every route,
dependency resolution, per-field query validation, an ORM session) cost about 0.7 ms on the 2-core VM: more than
the KNN search itself. The command room and the dispatch screens ask "the five nearest ambulances" all the time,
so web/app.py's Service answers the plain case here before FastAPI sees it, with the same service call and the
same serialisation as the route, on a small pool of plain asyncpg connections (core.db.ReadPool).

It answers only what it is sure of and hands everything else, untouched, to the FastAPI route, which stays the
definition (OpenAPI, validation, errors in API.md's shape): a caller whose token and user are not in the app's
AuthCache (see web/security.py; the route fills it), an unknown, repeated or malformed parameter, a ``format``
other than ``json`` or ``geojson``, any refusal by the service, any database error. So every error answer comes
from the route, and the two paths cannot disagree on what is an error.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote_plus

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Scope, Send

from core.errors import CommandpostError
from gis import service
from web.deps import authenticated_from_cache
from web.listing import MAX_LIMIT, bbox_param, lon_lat_param
from web.request_ids import assign_request_id
from web.routes.resources import resource_list_geojson, resource_list_json, split_types

log = logging.getLogger(__name__)

PATH = "/api/v1/resources"
_KNOWN = frozenset({"type", "status", "bbox", "near", "limit", "offset", "format"})


def _count(value: str, *, least: int) -> int | None:
    """A plain decimal (ASCII digits only: FastAPI would refuse '٣' where str.isdigit would not), or None."""
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        return None
    number = int(value)
    return number if number >= least else None


def _pairs(query_string: bytes) -> dict[str, str] | None:
    """The query's fields, as Starlette reads them (``&``-separated, blank values kept, percent and plus decoded);
    None for a repeated or unknown field, or raw bytes that are not ASCII."""
    try:
        text = query_string.decode("ascii")
    except UnicodeDecodeError:
        return None
    given: dict[str, str] = {}
    for pair in text.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "%" in pair or "+" in pair:
            name, value = unquote_plus(name), unquote_plus(value)
        if name in given or name not in _KNOWN:
            return None
        given[name] = value
    return given


def parse_query(query_string: bytes) -> dict[str, Any] | None:
    """The list filters of a query string, or None when the route must judge it."""
    given = _pairs(query_string)
    if given is None or given.get("format", "json") not in ("json", "geojson"):
        return None
    limit = _count(given.get("limit", "100"), least=1)
    offset = _count(given.get("offset", "0"), least=0)
    if limit is None or offset is None:
        return None
    try:
        return {
            "type": split_types(given.get("type")),
            "status": given.get("status"),
            "bbox": bbox_param(given.get("bbox")),
            "near": lon_lat_param(given.get("near"), field="near"),
            "limit": min(limit, MAX_LIMIT),
            "offset": offset,
            "format": given.get("format", "json"),
        }
    except CommandpostError:
        return None


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


async def answered(app: Any, scope: Scope, send: Send) -> bool:
    """Answer a plain ``GET /api/v1/resources`` of an http ``scope``; False (nothing sent) when the route must."""
    if scope["method"] != "GET" or scope["path"] != PATH:
        return False
    state = app.state
    filters = _plain_request(state, scope)
    if filters is None:
        return False
    serialise = resource_list_geojson if filters.pop("format") == "geojson" else resource_list_json
    sent = False
    try:
        async with _reader(state) as db:
            found = await service.list_resources(db, **filters)
            body = serialise(found)
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", assign_request_id(scope).encode()),
            ]
            # Answered before the connection goes back to its pool: the caller need not wait for that.
            sent = True
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
    except CommandpostError:
        if sent:
            raise
        return False  # the route says why, in the one error shape
    except Exception as exc:  # the database, mostly: the route answers it (503) and logs it
        if sent:
            raise
        log.debug("fast read handed to the route after %s", type(exc).__name__)
        return False
    return True


def _plain_request(state: Any, scope: Scope) -> dict[str, Any] | None:
    """The filters, when the caller is proven by the AuthCache alone and the query is one the fast path takes."""
    token = _bearer(scope)
    if token is None or authenticated_from_cache(state.auth_cache, settings=state.settings, token=token) is None:
        return None
    return parse_query(scope["query_string"])


@asynccontextmanager
async def _reader(state: Any) -> AsyncIterator[AsyncSession | asyncpg.Connection]:
    """A connection of the read pool; a read session where the app has none (a test's borrowed sessionmaker)."""
    if state.read_pool is None:
        async with state.read_sessionmaker() as session:
            yield session
    else:
        async with state.read_pool.acquire() as connection:
            yield connection
