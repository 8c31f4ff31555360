"""What the service's logs may not hold: bearer tokens, and the values of failed SQL statements.

``RedactSecrets`` is a logging filter. It rewrites every record before it is written:

- a JWT anywhere (``eyJ...``), the value of a ``token=`` / ``access_token=`` query parameter and of a ``Bearer``
  credential become ``[redacted]``, whole: uvicorn's access log and its ``WebSocket /ws/command?token=...`` lines, our
  own messages and exception texts alike;
- a database error (SQLAlchemy's, asyncpg's) is written as its class, SQLSTATE, constraint/table/column names and
  the SQL text with its placeholders, never the driver's message: PostgreSQL and asyncpg quote values in them
  (``invalid input for query argument $1: 'the value'``, ``DETAIL: Key (username)=(...)``, ``Failing row
  contains (...)``). Tracebacks keep their frames. (The engine also hides parameters: ``hide_parameters=True``.)

``commandpost serve`` puts the filter on every handler of its logging configuration (``logging_config``); the app
also puts it on uvicorn's loggers, for servers configured otherwise.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

import asyncpg
from sqlalchemy import exc as sa_exc

REDACTED = "[redacted]"
_SECRETS = [
    (re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"((?:access_)?token=)[^&\s\"'#]+", re.IGNORECASE), rf"\1{REDACTED}"),
    (re.compile(r"(bearer[\s:]+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE), rf"\1{REDACTED}"),
]


def redact(text: str) -> str:
    """``text`` with every token in it replaced by ``[redacted]``."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _is_db_error(exc: BaseException) -> bool:
    return (
        isinstance(exc, sa_exc.StatementError | asyncpg.PostgresError | asyncpg.InterfaceError)
        or type(exc).__module__.startswith(("asyncpg", "sqlalchemy.dialects"))
        or hasattr(exc, "sqlstate")
    )


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and what caused it (or was being handled when it arose), outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return chain


def describe_db_error(exc: BaseException) -> str | None:
    """A database error without the values in it: class, SQLSTATE, names, SQL text; None when it is no such error."""
    chain = _chain(exc)
    if not any(_is_db_error(e) for e in chain):
        return None
    statement = next((e.statement for e in chain if isinstance(e, sa_exc.StatementError) and e.statement), None)
    server = next((e for e in chain if isinstance(e, asyncpg.PostgresError)), None)
    details = [f"SQLSTATE {server.sqlstate}"] if server is not None and server.sqlstate else []
    for name in ("constraint_name", "table_name", "column_name", "data_type_name"):
        value = getattr(server, name, None)
        if value:
            details.append(f"{name.removesuffix('_name')} {value}")
    text = type(exc).__name__ + (f" ({', '.join(details)})" if details else "")
    return text + (f" in: {' '.join(statement.split())[:500]}" if statement else "")


def _safe_traceback(exc: BaseException) -> str:
    """A traceback with every frame and no exception message (for chains holding a database error), in Python's
    order: the first cause first."""
    parts = []
    chain = _chain(exc)
    for current, later in zip(reversed(chain), [*reversed(chain[:-1]), None], strict=True):
        frames = "".join(traceback.format_tb(current.__traceback__))
        summary = describe_db_error(current) if _is_db_error(current) else type(current).__name__
        parts.append(f"Traceback (most recent call last):\n{frames}{summary}")
        if later is not None:
            how = "was the direct cause of" if later.__cause__ is current else "was being handled when"
            parts.append(f"\nThe above exception {how} the following exception:\n")
    return "\n".join(parts)


def _safe_arg(arg: Any) -> Any:
    if isinstance(arg, str):
        return redact(arg)
    if isinstance(arg, int | float | bool) or arg is None:
        return arg
    if isinstance(arg, BaseException):
        described = describe_db_error(arg)
        if described is not None:
            return described
    text = str(arg)
    cleaned = redact(text)
    return cleaned if cleaned != text else arg


class RedactSecrets(logging.Filter):
    """Takes tokens and database values out of a record before any handler writes it (see the module's doc)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, dict):
            record.args = {key: _safe_arg(value) for key, value in record.args.items()}
        elif record.args:
            record.args = tuple(_safe_arg(arg) for arg in record.args)
        # Formatters write ``exc_text`` when it is set, instead of formatting the exception themselves.
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            exc = record.exc_info[1]
            if describe_db_error(exc) is not None:
                record.exc_text = _safe_traceback(exc)
            else:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def install_redaction() -> None:
    """Put the filter on uvicorn's loggers and on the root logger's handlers (once), wherever logging came from."""
    targets: list[logging.Filterer] = [logging.getLogger(name) for name in _UVICORN_LOGGERS]
    for name in (None, *_UVICORN_LOGGERS):
        targets.extend(logging.getLogger(name).handlers)
    for target in targets:
        if not any(isinstance(f, RedactSecrets) for f in target.filters):
            target.addFilter(RedactSecrets())


# The id of the request being served (set by web/observe.py's RequestRecorder), for every line written meanwhile.
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC), ``level``, ``logger``, ``message``, ``request_id`` when a request
    is being served, the record's ``fields`` (the access line's route, status, duration_ms, user, client) and
    ``exception``. Every text in it goes through ``redact`` once more: whatever a field holds, no token leaves."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id.get()
        if request_id is not None:
            line["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        # Each text once more through ``redact``, before JSON escapes it (after, a pattern could eat an escape).
        clean = {key: redact(v) if isinstance(v, str) else v for key, v in line.items()}
        return json.dumps(clean, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """A line for a person at a terminal: time, level, logger, message, and the access line's request id and user."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            user = fields.get("user") or "-"
            text += f" [request {fields.get('request_id')}, user {user}, route {fields.get('route')}]"
        return redact(text)


def log_format(setting: str, stream: TextIO | None = None) -> str:
    """``json`` or ``text`` for ``COMMANDPOST_LOG_FORMAT`` (``auto``: text when standard error is a terminal)."""
    if setting != "auto":
        return setting
    stream = stream or sys.stderr
    return "text" if stream.isatty() else "json"


def logging_config(form: str = "auto", *, level: str = "info") -> dict[str, Any]:
    """The logging configuration of ``serve`` and ``scheduler``: every line through ``RedactSecrets``, written by
    one handler on standard error as JSON or text (``log_format``); uvicorn's loggers, ours (warnings and up) and
    the access line of every request (``commandpost.access``, at ``level``: uvicorn's own access log is off)."""
    formatter = JsonFormatter if log_format(form) == "json" else TextFormatter
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "line",
        "filters": ["redact"],
        "stream": "ext://sys.stderr",
    }
    loggers = {name: {"handlers": ["default"], "level": "INFO", "propagate": False} for name in _UVICORN_LOGGERS}
    loggers["commandpost.access"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": f"{__name__}.RedactSecrets"}},
        "formatters": {"line": {"()": f"{formatter.__module__}.{formatter.__name__}"}},
        "handlers": {"default": handler},
        "loggers": loggers,
        "root": {"handlers": ["default"], "level": "WARNING"},
    }
