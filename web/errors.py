"""The one place where errors become HTTP: ``{"error": code, "detail": text}`` for every failure, 422 included."""

from __future__ import annotations

import logging
import socket
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from core import errors
from web.audit import audit_failure, is_audited
from web.state import state_of

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[errors.CommandpostError], int] = {
    errors.Invalid: 422,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.UnsupportedMedia: 415,
    errors.TooManyRequests: 429,
    errors.Unavailable: 503,
}

CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    503: "unavailable",
}

# Failures of the database connection itself (not of a statement): the API answers 503 and retries later work.
_DB_DOWN = (
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    sa_exc.TimeoutError,
)
# SQLSTATE query_canceled: PostgreSQL cancelled the statement (its statement timeout, or an operator): a 503 too.
_CANCELLED = "57014"
# SQLSTATEs of a database going away or coming back (class 08: the connection is gone; 57P01-57P03: shut down by an
# operator or a crash, or still starting up): the database is unavailable, not the request wrong.
_RESTARTING = ("08", "57P01", "57P02", "57P03")
# SQLSTATEs of a transaction that lost a race PostgreSQL broke (a deadlock, a serialization failure): nothing was
# written; the same request again succeeds.
_LOST_RACE = ("40P01", "40001")


def _sqlstate(exc: Exception) -> str:
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    return str(getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None) or "")


def error_body(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The error shape of API.md."""
    return {"error": code, "detail": detail, **extra}


async def _respond(
    request: Request, status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    if is_audited(request):
        await audit_failure(request, state_of(request).audit_bursts, outcome=code, status_code=status)
    return JSONResponse(error_body(code, detail, **extra), status_code=status, headers=headers)


def _status_of(exc: errors.CommandpostError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.CommandpostError)
    status = _status_of(exc)
    extra = dict(exc.extra)
    if isinstance(exc, errors.Invalid) and exc.field:
        extra["field"] = exc.field
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if extra.get("retry_after") is not None:  # 429, and a 503 that knows when to come back
        headers = {"Retry-After": str(extra["retry_after"])}
    return await _respond(request, status, exc.code, exc.detail, headers, **extra)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc) or "request"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [{"field": _field_name(e["loc"]), "message": e["msg"]} for e in exc.errors()]
    detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5]) or "the request is not valid"
    return await _respond(request, 422, "invalid", detail, fields=fields)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = CODE_BY_STATUS.get(exc.status_code, "http_error")
    if exc.status_code == 404 and exc.detail == "Not Found":
        detail = f"no such resource: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    else:
        detail = str(exc.detail)
    return await _respond(request, exc.status_code, code, detail, dict(exc.headers or {}))


def _data_exception(exc: Exception) -> bool:
    """PostgreSQL's class 22 ("data exception": a number out of range, a NUL in text, a bad date...), or asyncpg
    refusing to encode an argument (an integer beyond 64 bits, a lone surrogate): the input's fault, not ours."""
    cause = exc.orig.__cause__ if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    return isinstance(cause, asyncpg.DataError | UnicodeEncodeError) or str(getattr(cause, "sqlstate", "")).startswith(
        "22"
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, sa_exc.IntegrityError):
        return await _respond(request, 409, "conflict", "the change conflicts with existing data")
    if _data_exception(exc):
        # A safety net behind the door (web/door.py and the schemas): whatever slipped through is still a 4xx.
        log.warning("data exception during %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return await _respond(request, 422, "invalid", _DATA_DETAIL)
    state = _sqlstate(exc)
    if (
        isinstance(exc, _DB_DOWN)
        or state.startswith(_RESTARTING)
        or (
            isinstance(exc, sa_exc.DBAPIError)
            and (exc.connection_invalidated or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError))
        )
    ):
        # No audit row: it would wait on the same absent database (a connect timeout more) and be lost anyway.
        log.warning("database unavailable during %s %s (not audited): %s", request.method, request.url.path, exc)
        body = error_body("unavailable", "the database is unavailable; try again shortly")
        return JSONResponse(body, status_code=503)
    if state in _LOST_RACE:
        log.warning(
            "transaction lost a race during %s %s (%s): nothing written", request.method, request.url.path, state
        )
        detail = "the change met another at the same moment and was not made; send it again"
        return await _respond(request, 503, "unavailable", detail, headers={"Retry-After": "1"})
    if state == _CANCELLED:
        log.warning("statement cancelled during %s %s: %s", request.method, request.url.path, exc)
        return await _respond(request, 503, "unavailable", "the database took too long to answer; try again shortly")
    return await _unexpected(request, exc)


_DATA_DETAIL = (
    "a value in the request cannot be stored: a number out of range, or text that is not valid (NUL, a lone surrogate)"
)


async def _unencodable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("unencodable text during %s %s", request.method, request.url.path)
    return await _respond(request, 422, "invalid", _DATA_DETAIL)


async def _redis_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("redis unavailable during %s %s: %s", request.method, request.url.path, exc)
    return await _respond(request, 503, "unavailable", "the message bus (Redis) is unavailable; try again shortly")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    reference = getattr(request.state, "request_id", "-")
    log.error("unhandled error in %s %s (request %s)", request.method, request.url.path, reference, exc_info=exc)
    # The request id layer sits outside Starlette's error middleware (web/app.py), so this answer carries it too.
    return await _respond(request, 500, "internal", f"an internal error occurred (reference {reference})")


def install(app: FastAPI) -> None:
    """Register every handler on ``app``."""
    app.add_exception_handler(errors.CommandpostError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for exc_type in (sa_exc.SQLAlchemyError, *_DB_DOWN):
        app.add_exception_handler(exc_type, _database_error)
    app.add_exception_handler(UnicodeEncodeError, _unencodable)
    app.add_exception_handler(RedisConnectionError, _redis_error)
    app.add_exception_handler(RedisTimeoutError, _redis_error)
    app.add_exception_handler(Exception, _unexpected)
