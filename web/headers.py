"""Security headers on every HTTP answer (errors, 404s and 500s included), and the one table that says which
content security policy each kind of answer gets.

A pure ASGI middleware: it adds precomputed byte pairs to the response's start message, so streaming answers stay
streams and a request costs a dict look-up and a list copy.
"""

from __future__ import annotations

import re
from enum import StrEnum

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import Settings


class Kind(StrEnum):
    """What an answer is, as far as the browser's content security policy cares."""

    api = "api"  # JSON, tiles, files: nothing in them may run or load anything
    docs = "docs"  # /docs: the self-hosted Swagger UI (web/routes/docs.py)
    page = "page"  # the application's pages: MapLibre GL JS drawing our own vector tiles, the live websocket
    document = "document"  # a printable page with no script: an incident's after-action report (?format=html)


# The content security policy of each kind. Nothing comes from another origin: the service works with no internet.
# Pages: MapLibre builds its workers from blob: URLs (worker-src, and child-src for older browsers) and draws
# blob:/data: images; 'self' in connect-src covers fetch and the same-origin ws:/wss: websocket (CSP level 3), so a
# hijacked page cannot open a socket to anywhere else. No 'unsafe-inline' or 'unsafe-eval' anywhere: scripts and
# styles are files (the docs page's start-up script too); setting element.style from a script is still allowed.
CSP: dict[Kind, str] = {
    Kind.api: "default-src 'none'; frame-ancestors 'none'",
    Kind.docs: (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    Kind.page: (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "worker-src 'self' blob:; child-src blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    Kind.document: (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
}

# Which kind an answer is, by its path: an exact path first, then the first prefix that matches; anything else is
# the API's. A new page or asset folder adds its line here.
KIND_BY_PATH: dict[str, Kind] = {
    "/": Kind.page,
    "/login": Kind.page,
    "/intake": Kind.page,
    "/field": Kind.page,
    "/field-sw.js": Kind.page,  # the field page's service worker runs under the policy its script came with
    "/field.webmanifest": Kind.page,
    "/admin": Kind.page,
    "/docs": Kind.docs,
}
# The pages' files are pages too: MapLibre's web worker (/vendor/...) runs under the policy its script came with, and
# must fetch tiles from 'self'.
KIND_BY_PREFIX: tuple[tuple[str, Kind], ...] = (("/docs/", Kind.docs), ("/static/", Kind.page), ("/vendor/", Kind.page))
# The report's path answers JSON or its printable page (a style sheet of ours, nothing else): the document policy
# for both (JSON loads nothing either way).
REPORT_PATH = re.compile(r"^/api/v1/incidents/[^/]+/report$")

# The field page asks for the device's position and a scene photo; every other powerful feature is off, for us and
# for anything framed (nothing may frame us anyway).
PERMISSIONS_POLICY = ", ".join(
    [
        "geolocation=(self)",
        "camera=(self)",
        *(
            f"{feature}=()"
            for feature in (
                "accelerometer",
                "autoplay",
                "browsing-topics",
                "display-capture",
                "encrypted-media",
                "fullscreen",
                "gyroscope",
                "hid",
                "magnetometer",
                "microphone",
                "midi",
                "payment",
                "picture-in-picture",
                "publickey-credentials-get",
                "screen-wake-lock",
                "serial",
                "usb",
                "xr-spatial-tracking",
            )
        ),
    ]
)

COMMON: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: a form posted to our own origin must keep its Origin header (browsers send
    # "Origin: null" under no-referrer), while other sites learn nothing of our URLs.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def kind_of(path: str, root_path: str = "") -> Kind:
    """The kind of answer a request path gets (see ``KIND_BY_PATH``); ``root_path`` is where the app is mounted
    (behind a proxy that serves it under a prefix), which the ASGI path includes."""
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :] or "/"
    kind = KIND_BY_PATH.get(path)
    if kind is not None:
        return kind
    for prefix, prefixed in KIND_BY_PREFIX:
        if path.startswith(prefix):
            return prefixed
    if REPORT_PATH.match(path):
        return Kind.document
    return Kind.api


def header_pairs(kind: Kind) -> list[tuple[bytes, bytes]]:
    """Every security header an answer of ``kind`` carries (Strict-Transport-Security aside), as ASGI pairs."""
    pairs = {**COMMON, "Content-Security-Policy": CSP[kind]}
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in pairs.items()]


class SecurityHeadersMiddleware:
    """Add the security headers of the answer's kind to every HTTP response; Strict-Transport-Security when the
    request came over HTTPS (or always, with ``HSTS_ALWAYS`` behind a TLS-terminating proxy)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.by_kind = {kind: header_pairs(kind) for kind in Kind}
        hsts = (b"strict-transport-security", f"max-age={settings.hsts_seconds}".encode())
        self.hsts = hsts if settings.hsts_seconds > 0 else None
        self.hsts_always = settings.hsts_always

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.by_kind[kind_of(scope["path"], scope.get("root_path", ""))]
        if self.hsts is not None and (self.hsts_always or scope.get("scheme") == "https"):
            extra = [*extra, self.hsts]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
