"""What PostgreSQL can store, so that input it would refuse is refused at the door with a 422, not a 500 later.

- Integers: ``bigint`` holds -2**63 .. 2**63-1 (every id), ``integer`` -2**31 .. 2**31-1 (versions, counts).
- Text: PostgreSQL's ``text`` and ``jsonb`` cannot hold U+0000, and UTF-8 cannot encode a lone surrogate
  (U+D800..U+DFFF without its pair), which JSON's ``\\ud800`` escape and Python's ``str`` both allow.
- JSON objects kept in ``jsonb`` columns (a resource's capacity, properties): bounded in size and depth.

``json_problem`` walks a decoded JSON document for all of these at once; the web door runs it on every JSON body.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import AfterValidator, Field

PG_BIGINT_MAX = 2**63 - 1
PG_BIGINT_MIN = -(2**63)
PG_INT_MAX = 2**31 - 1

# Nesting deeper than this in any JSON body is refused (a real document of ours nests 8 levels at most: a plan's
# MultiPolygon area); it also keeps a hostile "[[[[...]]]]" from exhausting the parser's recursion.
MAX_JSON_DEPTH = 32
# A jsonb object of our own schemas (capacity, properties): at most this many bytes as JSON, this deep.
MAX_OBJECT_BYTES = 16 * 1024
MAX_OBJECT_DEPTH = 6

Id = Annotated[int, Field(ge=1, le=PG_BIGINT_MAX, description="a row id (PostgreSQL bigint)")]
Version = Annotated[int, Field(ge=1, le=PG_INT_MAX, description="the version you read")]


def text_problem(value: str) -> str | None:
    """Why PostgreSQL could not store this text, or None when it can."""
    if "\x00" in value:
        return "contains a NUL character (U+0000), which cannot be stored"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone surrogate (an unpaired \\ud800-\\udfff escape), which is not text"
    return None


def ascii_whole_number(text: str, *, maximum: int = PG_BIGINT_MAX) -> int | None:
    """``text`` as a whole number from 0 to ``maximum`` written in ASCII digits, or None.

    ``str.isdigit()`` alone is not a test for that: it takes '²' (which ``int()`` then refuses, a 500) and '١'
    (which ``int()`` reads as 1); and ``int()`` of a 5,000-digit string is an error of its own."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(maximum)):
        return None
    value = int(text)
    return value if value <= maximum else None


def integer_problem(value: int) -> str | None:
    """Why a whole number could not be stored in a ``bigint``, or None."""
    if not PG_BIGINT_MIN <= value <= PG_BIGINT_MAX:
        return "is out of range: whole numbers must fit in 64 bits (at most 9223372036854775807)"
    return None


def _children(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key}", item
    else:
        for index, item in enumerate(value):
            yield f"{path}.{index}", item


def json_problem(document: Any, *, root: str = "body") -> tuple[str, str] | None:
    """The first value of a decoded JSON document that cannot be stored, as ``(where, why)``; None when all can.

    Checks every string (object keys included), every whole number (64 bits), every other number (finite: Python's
    JSON reader turns ``NaN``, ``Infinity`` and ``1e999`` into floats no column holds) and the nesting depth.
    Iterative, so the depth check itself cannot overflow the stack.
    """
    stack: list[tuple[str, Any, int]] = [(root, document, 0)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value)
        elif isinstance(value, bool) or value is None:
            problem = None
        elif isinstance(value, int):
            problem = integer_problem(value)
        elif isinstance(value, float):
            problem = None if math.isfinite(value) else "must be a finite number"
        elif isinstance(value, dict | list):
            if depth >= MAX_JSON_DEPTH:
                return path, f"is nested too deeply (more than {MAX_JSON_DEPTH} levels)"
            if isinstance(value, dict):
                bad_key = next((k for k in value if text_problem(k)), None)
                if bad_key is not None:
                    return path, f"has a key that {text_problem(bad_key)}"
            stack.extend((child, item, depth + 1) for child, item in _children(value, path))
            continue
        else:
            problem = None
        if problem is not None:
            return path, problem
    return None


def _bounded_object(value: dict[str, Any]) -> dict[str, Any]:
    problem = json_problem(value, root="value")
    if problem is not None:
        where, why = problem
        raise ValueError(f"{where} {why}")
    if _depth(value) > MAX_OBJECT_DEPTH:
        raise ValueError(f"nests more than {MAX_OBJECT_DEPTH} levels deep")
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > MAX_OBJECT_BYTES:
        raise ValueError(f"is {size} bytes as JSON; at most {MAX_OBJECT_BYTES} are kept")
    return value


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


JsonObject = Annotated[
    dict[str, Any],
    AfterValidator(_bounded_object),
    Field(description=f"a JSON object of at most {MAX_OBJECT_BYTES} bytes, {MAX_OBJECT_DEPTH} levels deep"),
]
