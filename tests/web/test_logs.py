"""The log filter on its own: what it takes out of a record, and what it leaves for uvicorn's formatters."""

from __future__ import annotations

import io
import json
import logging

import pytest
from uvicorn.logging import AccessFormatter

from web.logs import JsonFormatter, RedactSecrets, current_request_id, log_format, redact

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXBhcnQtb2YtdGhlLXRva2Vu"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"GET /ws/command?token={JWT}&since=4", "GET /ws/command?token=[redacted]&since=4"),
        ("GET /ws/command?since=4&token=forged.token.value", "GET /ws/command?since=4&token=[redacted]"),
        (f"Authorization: Bearer {JWT}", "Authorization: Bearer [redacted]"),
        (
            f"Sec-WebSocket-Protocol: commandpost.bearer, {JWT}",
            "Sec-WebSocket-Protocol: commandpost.bearer, [redacted]",
        ),
        ("GET /api/v1/incidents?limit=10", "GET /api/v1/incidents?limit=10"),
    ],
)
def test_tokens_are_redacted_whole(line: str, expected: str) -> None:
    assert redact(line) == expected


def _record(msg: str, args: object, exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, msg, args, exc_info)  # type: ignore[arg-type]


def test_an_access_log_record_keeps_its_shape() -> None:
    record = _record('%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5000", "GET", f"/api/v1/me?token={JWT}", "1.1", 200))
    assert RedactSecrets().filter(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(record)
    assert line == '127.0.0.1:5000 - "GET /api/v1/me?token=[redacted] HTTP/1.1" 200 OK'


def test_an_exception_text_is_redacted() -> None:
    try:
        raise ValueError(f"could not use {JWT}")
    except ValueError as exc:
        record = _record("failed", None, (type(exc), exc, exc.__traceback__))
    RedactSecrets().filter(record)
    text = logging.Formatter().format(record)
    assert "Traceback" in text and "could not use [redacted]" in text and "c2lnbmF0dXJl" not in text


def test_a_json_line_carries_the_request_id_and_no_token_in_any_field() -> None:
    record = _record("%s %s", ("GET", f"/api/v1/me?token={JWT}"))
    record.fields = {"user": "duty.one", "note": f"Authorization: Bearer {JWT}"}
    assert RedactSecrets().filter(record)
    reset = current_request_id.set("req-1")
    try:
        line = JsonFormatter().format(record)
    finally:
        current_request_id.reset(reset)
    parsed = json.loads(line)
    assert JWT.split(".")[2] not in line
    assert parsed["request_id"] == "req-1" and parsed["user"] == "duty.one" and parsed["logger"] == "uvicorn.access"
    assert parsed["message"] == "GET /api/v1/me?token=[redacted]"
    assert parsed["note"] == "Authorization: Bearer [redacted]"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_text_at_a_terminal_and_json_elsewhere() -> None:
    assert log_format("auto", _Terminal()) == "text"
    assert log_format("auto", io.StringIO()) == "json"
    assert log_format("text", io.StringIO()) == "text" and log_format("json", _Terminal()) == "json"
