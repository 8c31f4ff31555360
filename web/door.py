"""The door every HTTP request passes before a route sees it: the size of its body, and text and numbers that
PostgreSQL could not store. One place for every route, present and future.

- ``BodyLimit`` (ASGI): a body larger than the route's limit is answered 413 — at once when ``Content-Length`` says
  so (not a byte is read, nothing is authenticated), or as soon as a streamed body passes the limit. Starlette and
  FastAPI ship a body limiter too, but its limits are fixed when a route is declared (ours come from the settings of
  the app being built), it answers in plain text (ours in the one error shape) and it refuses only once the app
  starts reading; so not that one.
- ``InputGuard`` (ASGI): a NUL in the path or the query string, and in a JSON or form body a NUL, a lone surrogate,
  a whole number beyond 64 bits, a non-finite number or absurd nesting is a 422 naming the field.
- ``bounded_integers`` (an app-wide dependency): a path or query parameter a route declares as an integer must fit in
  64 bits (pydantic takes any size; the database would fail on it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from enum import StrEnum
from types import UnionType
from typing import Any, Union, get_args, get_origin
from urllib.parse import parse_qsl

from fastapi import HTTPException
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.bounds import integer_problem, json_problem
from core.errors import Invalid
from web.errors import error_body

BODY_LIMIT_KEY = "x-body-limit"
_ASCII_INTEGER = re.compile(r"[+-]?[0-9]+")


class BodyKind(StrEnum):
    """Which limit a route's body has: ``json`` (every route unless it says otherwise), ``upload`` (layer files,
    COMMANDPOST_MAX_UPLOAD_MB) or ``plan`` (plan documents, COMMANDPOST_PLAN_MAX_KB)."""

    json = "json"
    upload = "upload"
    plan = "plan"
    cap = "cap"  # CAP messages (COMMANDPOST_CAP_MAX_KB)
    photo = "photo"  # scene photos (COMMANDPOST_MAX_PHOTO_MB)
    note = "note"  # a note on an incident's log: 4,000 characters, however escaped, fit in 32 KiB


def body_limit(kind: BodyKind) -> dict[str, Any]:
    """``openapi_extra`` for a route whose body is not JSON-sized (it also tells the OpenAPI reader)."""
    return {BODY_LIMIT_KEY: kind.value}


class BodyTooLarge(HTTPException):
    """Raised while the body streams; a FastAPI HTTPException, so that FastAPI re-raises it from its body reading
    (anything else there becomes a 400) and web.errors answers it in the one shape."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the {_size(limit)} this endpoint accepts")


def _size(limit: int) -> str:
    if limit >= 1_000_000 and limit % 1_000_000 == 0:
        return f"{limit // 1_000_000} MB"
    return f"{limit // 1024} KiB" if limit % 1024 == 0 else f"{limit} bytes"


async def _answer(
    scope: Scope, receive: Receive, send: Send, status: int, code: str, detail: str, **extra: Any
) -> None:
    await JSONResponse(error_body(code, detail, **extra), status_code=status)(scope, receive, send)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            # ASCII digits only: str.isdigit() also takes '²', which int() then refuses.
            if not (text.isascii() and text.isdigit()):
                return -1
            return int(text) if len(text) < 19 else 10**18
    return None


class BodyLimit:
    """ASGI middleware: the per-route body limit (see the module docstring).

    While the body streams, the limit is that of the route the router chose (``scope["route"]``); before routing (the
    guard reading JSON) only the largest applies, and the guard stops at the JSON limit. A ``Content-Length`` above
    the smallest limit is judged at once, before routing, from a table of the few routes with a limit of their own:
    built on first need, as listing FastAPI's routes with their prefixes costs some 50 ms (most apps never need it)."""

    def __init__(self, app: ASGIApp, *, routes: list[BaseRoute], limits: Mapping[BodyKind, int]) -> None:
        self.app = app
        self.routes = routes
        self.limits = limits
        self._special: list[tuple[RouteContext, int]] | None = None

    def limit_before_routing(self, scope: Scope) -> int:
        """The body limit of the route this request will go to."""
        if self._special is None:
            self._special = []
            for context in iter_route_contexts(self.routes):  # included routers' routes, with their prefixes
                route = context.original_route
                if isinstance(route, APIRoute) and route.openapi_extra and BODY_LIMIT_KEY in route.openapi_extra:
                    self._special.append((context, self.limits[BodyKind(route.openapi_extra[BODY_LIMIT_KEY])]))
        for context, limit in self._special:
            if context.matches(scope)[0] is Match.FULL:
                return limit
        return self.limits[BodyKind.json]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared == -1:
            await _answer(scope, receive, send, 400, "bad_request", "Content-Length must be a number of bytes")
            return
        if declared is not None and declared > min(self.limits.values()):
            limit = self.limit_before_routing(scope)
            if declared > limit:
                await _answer(scope, receive, send, 413, "too_large", BodyTooLarge(limit).detail)
                return
        await _Limited(self.app, self.limits)(scope, receive, send)


class _Limited:
    """One request: counts what streams in against its route's limit; once that is passed, the answer is 413
    whatever the app does."""

    def __init__(self, app: ASGIApp, limits: Mapping[BodyKind, int]) -> None:
        self.app, self.limits = app, limits
        self.seen = 0
        self.exceeded: int | None = None  # the limit that was passed
        self.started = self.replaced = False

    def limit(self, scope: Scope) -> int:
        route = scope.get("route")
        if route is None:  # not routed yet: the door's own reading (InputGuard), which stops at the JSON limit
            return max(self.limits.values())
        extra = getattr(route, "openapi_extra", None) or {}
        return self.limits[BodyKind(extra.get(BODY_LIMIT_KEY, BodyKind.json))]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self.seen += len(message.get("body", b""))
                limit = self.limit(scope)
                if self.seen > limit:
                    self.exceeded = limit
                    raise BodyTooLarge(limit)
            return message

        async def guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.started = True
                if self.exceeded is not None and message["status"] != 413:  # the app swallowed the error
                    self.replaced = True
                    await _answer(scope, receive, send, 413, "too_large", BodyTooLarge(self.exceeded).detail)
                    return
            if not self.replaced:
                await send(message)

        try:
            await self.app(scope, counted, guarded)
        except BodyTooLarge as exc:
            if self.started:
                raise
            await _answer(scope, receive, send, 413, "too_large", str(exc.detail))


# ------------------------------------------------------------------------------------------------ text and numbers


def _query_problem(scope: Scope) -> tuple[str, str] | None:
    if "\x00" in scope["path"]:
        return "path", "contains a NUL character (%00)"
    raw = scope.get("query_string", b"").decode("latin-1")
    for key, value in parse_qsl(raw, keep_blank_values=True):
        if "\x00" in key or "\x00" in value:
            return f"query.{key.replace(chr(0), '')}", "contains a NUL character (%00)"
    return None


def _media_type(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.decode("latin-1").split(";")[0].strip().lower()
    return ""


def _body_problem(body: bytes, media: str) -> tuple[str, str] | None:
    if media == "application/x-www-form-urlencoded":
        for key, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
            if "\x00" in key or "\x00" in value:
                return f"body.{key.replace(chr(0), '')}", "contains a NUL character"
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "body", "is not UTF-8 (JSON must be)"
    try:
        document = json.loads(text)
    except RecursionError:
        return "body", "is nested too deeply"
    except ValueError:
        return None  # not JSON: the route says so in its own words
    return json_problem(document)


def _is_json(media: str) -> bool:
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class InputGuard:
    """ASGI middleware: text and numbers PostgreSQL cannot store are a 422 before routing (see the module docstring).

    JSON and form bodies up to ``max_checked`` bytes (the JSON limit) are read here whole and handed on unchanged; a
    larger one (only a plan or an upload route lets one through) streams on unchecked, so that no client can make the
    door hold a 200 MB upload's worth of JSON in memory: the plan schema checks its own text."""

    def __init__(self, app: ASGIApp, *, max_checked: int) -> None:
        self.app = app
        self.max_checked = max_checked

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = _query_problem(scope)
        media = _media_type(scope)
        declared = _declared_length(scope)
        small = declared is None or declared <= self.max_checked  # else: an upload or plan route's, or a 413 soon
        if problem is None and small and (_is_json(media) or media == "application/x-www-form-urlencoded"):
            messages, complete = await _read_up_to(receive, self.max_checked)
            if complete:
                body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
                problem = _body_problem(body, media) if body else None
            receive = _replay(messages, receive)
        if problem is not None:
            where, why = problem
            await _answer(scope, receive, send, 422, "invalid", f"{where} {why}", field=where)
            return
        await self.app(scope, receive, send)


async def _read_up_to(receive: Receive, limit: int) -> tuple[list[Message], bool]:
    """The body's messages until it ends (True) or passes ``limit`` bytes (False, the rest still to be received)."""
    messages, size = [], 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages, True
        size += len(message.get("body", b""))
        if size > limit:
            return messages, False


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = iter(messages)

    async def replayed() -> Message:
        return next(pending, None) or await receive()

    return replayed


# ------------------------------------------------------------------------------------------------ declared integers

_CACHE = "_commandpost_integer_params"  # kept on the route itself: it lives exactly as long


def _takes_int(annotation: Any) -> bool:
    if annotation is int:
        return True
    if get_origin(annotation) in (Union, UnionType, list, tuple, set):
        return any(_takes_int(arg) for arg in get_args(annotation))
    return False


def _integer_params(dependant: Dependant) -> Iterator[tuple[str, str]]:
    for where, fields in (("path", dependant.path_params), ("query", dependant.query_params)):
        for field in fields:
            if _takes_int(field.field_info.annotation):
                yield where, field.alias
    for sub in dependant.dependencies:
        yield from _integer_params(sub)


async def bounded_integers(connection: HTTPConnection) -> None:
    """Refuse a path or query integer beyond 64 bits (422 naming it) before the route's own dependencies run."""
    route = connection.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    params: list[tuple[str, str]] | None = getattr(route, _CACHE, None)
    if params is None:
        params = list(dict.fromkeys(_integer_params(route.dependant)))
        setattr(route, _CACHE, params)
    for where, name in params:
        values = [connection.path_params.get(name)] if where == "path" else connection.query_params.getlist(name)
        for value in values:
            if isinstance(value, str) and _ASCII_INTEGER.fullmatch(value.strip()):
                # int() refuses more than 4,300 digits (and would take its time): a long one is out of range anyway.
                problem = integer_problem(int(value) if len(value) <= 40 else 2**64)
                if problem is not None:
                    raise Invalid(f"{where}.{name} {problem}", field=f"{where}.{name}")
