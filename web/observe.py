"""One line of log and one observation of the latency histogram per HTTP request (``RequestRecorder``).

The access line is ours, not uvicorn's (``commandpost serve`` turns uvicorn's off): it carries the request id, the
route's template, the status, the duration and the user who proved who they are (``request.state.actor``), and it
is written after the answer has gone, 500s included. The query string is written through the redaction filter
(web/logs.py), so a ``?token=`` leaves as ``token=[redacted]``; bodies (passwords, callers' phone numbers) never.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.logs import current_request_id
from web.metrics import REQUEST_SECONDS, UNMATCHED, status_class

access_log = logging.getLogger("commandpost.access")

_MAX_QUERY = 300  # characters of the query string written to the log
_MAX_PATH = 500  # and of the path
# The methods a metric label may name; any other is "other", so that the number of series stays bounded.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RouteTemplates:
    """The template (``/api/v1/incidents/{incident_id}``) of the route a request matched: FastAPI leaves the route
    as its router declared it in ``scope["route"]`` (without the prefix it was included under), so the full
    templates are listed once, on first need, and again when routes were added since."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        self.routes = routes
        self._by_route: dict[int, str] = {}

    def _list(self) -> None:
        self._by_route = {
            id(context.original_route): context.path_format
            for context in iter_route_contexts(self.routes)
            if context.path_format
        }

    def of(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return UNMATCHED
        template = self._by_route.get(id(route))
        if template is None:
            self._list()
            template = self._by_route.get(id(route)) or getattr(route, "path_format", None) or UNMATCHED
            self._by_route[id(route)] = template  # listed once: a route FastAPI copied is not listed again each time
        return template


class RequestRecorder:
    """ASGI middleware, inside the request id and the client address (web/app.py), outside Starlette's error
    middleware so that a 500 is recorded too."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        self.templates = RouteTemplates(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: Mapping[str, Any] = scope.get("state") or {}
        token = current_request_id.set(state.get("request_id"))
        status = 500  # an answer that never started: the error middleware re-raises after sending its 500

        async def send_and_see(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_see)
        finally:
            seconds = time.perf_counter() - started
            route = self.templates.of(scope)
            method = scope["method"] if scope["method"] in METHODS else "other"  # a client invents any it likes
            REQUEST_SECONDS.labels(route=route, method=method, status=status_class(status)).observe(seconds)
            _log_request(scope, route, status, seconds)
            current_request_id.reset(token)


def _log_request(scope: Scope, route: str, status: int, seconds: float) -> None:
    if not access_log.isEnabledFor(logging.INFO):
        return
    state: Mapping[str, Any] = scope.get("state") or {}
    query = scope.get("query_string", b"").decode("latin-1")[:_MAX_QUERY]
    target = scope["path"][:_MAX_PATH] + (f"?{query}" if query else "")
    client = scope.get("client")
    fields = {
        "request_id": state.get("request_id"),
        "method": scope["method"],
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 1),
        "user": state.get("actor"),
        "client": client[0] if client else None,
    }
    # The target is an argument, not part of the format: the redaction filter cleans arguments.
    access_log.info("%s %s %d %.1f ms", scope["method"], target, status, seconds * 1000, extra={"fields": fields})


class RememberPeer:
    """ASGI middleware, outermost: keeps the socket's peer (``request.state.peer``) before the trusted proxies'
    X-Forwarded-For replaces the client address, so that a door can tell a forwarded request from a direct one
    (web/routes/metrics.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            scope.setdefault("state", {})["peer"] = client[0] if client else None
        await self.app(scope, receive, send)
