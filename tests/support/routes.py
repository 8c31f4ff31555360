"""Every route of an app, through the routers it includes: this FastAPI keeps an included router's routes behind a
wrapper in ``app.routes``, so a plain walk over ``app.routes`` sees none of the ``/api/v1`` routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI


def walk_routes(app: FastAPI) -> Iterator[tuple[str, Any]]:
    """(full path, route) of every route and mount, in order, included routers opened up."""

    def walk(routes: list[Any], prefix: str) -> Iterator[tuple[str, Any]]:
        for route in routes:
            if hasattr(route, "original_router"):  # an included router
                yield from walk(route.original_router.routes, prefix + route.include_context.prefix)
            elif hasattr(route, "path"):
                yield prefix + route.path, route

    yield from walk(app.routes, "")
