"""Reading plan documents from untrusted YAML or JSON: safe constructors only, no alias bombs, no duplicate keys,
a size cap, and validation errors that name the field and, for YAML, the line it is on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from core.errors import Invalid, TooLarge

MAX_DOCUMENT_BYTES = 1024 * 1024
# A plan needs no anchors; a few are tolerated, and each alias is counted so "billion laughs" cannot expand.
MAX_ALIASES = 16
MAX_NODES = 200_000
MAX_PROBLEMS = 20

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document: the field (dotted path), what is wrong, and the line when known."""

    field: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.field} (line {self.line})" if self.line else self.field
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "message": self.message, "line": self.line}


def refuse(problems: list[Problem], *, what: str = "the plan") -> Invalid:
    """An Invalid error listing every problem (the first few in the detail, all in ``problems``)."""
    shown = "; ".join(str(p) for p in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    return Invalid(
        f"{what} is not valid: {shown}{more}",
        field=problems[0].field if problems else None,
        problems=[p.as_dict() for p in problems[:MAX_PROBLEMS]],
    )


class _SafeLoader(yaml.SafeLoader):
    """The safe loader, counting aliases and nodes and refusing duplicate mapping keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.aliases = 0
        self.nodes = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise yaml.MarkedYAMLError(
                    problem=f"more than {MAX_ALIASES} aliases (*name): refused as a possible YAML bomb",
                    problem_mark=mark,
                )
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise yaml.MarkedYAMLError(
                problem=f"more than {MAX_NODES} nodes", problem_mark=self.peek_event().start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode):
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key {key!r} (first on line {seen[key]})",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


@dataclass(frozen=True)
class Parsed:
    """A document as Python data, and its YAML node tree (``None`` for JSON) for line numbers."""

    data: Any
    node: Node | None


def _text(raw: bytes | str, *, max_bytes: int) -> str:
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise TooLarge(f"the document is {size:,} bytes; at most {max_bytes:,} are accepted")
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid(f"the document is not UTF-8 text (byte {exc.start})", field="body") from None


def parse_yaml(raw: bytes | str, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> Parsed:
    """One YAML document, safely; Invalid with the line and column of a syntax error."""
    text = _text(raw, max_bytes=max_bytes)
    loader = _SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        where = f" at line {line}, column {mark.column + 1}" if mark else ""
        message = f"{exc.context + ': ' if exc.context else ''}{exc.problem}"
        raise Invalid(f"YAML error{where}: {message}", field="body", line=line) from None
    except yaml.YAMLError as exc:
        raise Invalid(f"YAML error: {exc}", field="body") from None
    except RecursionError:
        raise Invalid("the YAML document is nested too deeply", field="body") from None
    finally:
        loader.dispose()
    return Parsed(data=data, node=node)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def parse_json(raw: bytes | str, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> Parsed:
    """One JSON document; Invalid with the line of a syntax error or the duplicate key."""
    text = _text(raw, max_bytes=max_bytes)
    try:
        return Parsed(data=json.loads(text, object_pairs_hook=_no_duplicates), node=None)
    except json.JSONDecodeError as exc:
        raise Invalid(f"JSON error at line {exc.lineno}, column {exc.colno}: {exc.msg}", field="body") from None
    except ValueError as exc:
        raise Invalid(f"JSON error: {exc}", field="body") from None
    except RecursionError:
        raise Invalid("the JSON document is nested too deeply", field="body") from None


def line_of(node: Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the YAML node at pydantic location ``loc``: a mapping entry's key line, a sequence
    item's own line; the nearest ancestor's when the field is missing (e.g. a required key)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child: Node | None = None
        if isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, ScalarNode) and key_node.value == str(part):
                    # The key's line: the value may start on the next line, or be an alias defined far above.
                    child, line = value_node, key_node.start_mark.line + 1
                    break
        elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            return line
        node = child
    return line


def _message(error: Any) -> str:
    kind, message = error["type"], str(error["msg"])
    if kind == "extra_forbidden":
        name = error["loc"][-1] if error["loc"] else "?"
        if len(error["loc"]) >= 2 and error["loc"][-2] == "levels":
            return f"{name!r} is not a response level; use I, II, III or IV"
        return f"unknown field {name!r}"
    if kind == "missing":
        return "this field is required"
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _field(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif part == "[key]":
            continue  # a dict key's own error: the path already ends with the key
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts) or "document"


def problems_of(exc: ValidationError, node: Node | None) -> list[Problem]:
    """The validation errors as problems, each with its field path and (YAML) line."""
    out: list[Problem] = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        # Errors inside a tagged union or a wrapper carry internal parts (e.g. "function-after[...]"): drop them.
        loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p and p != "[key]")))
        out.append(Problem(field=_field(loc), message=_message(error), line=line_of(node, loc)))
    return out


def validate(model: type[M], parsed: Parsed, *, what: str = "the plan") -> M:
    """Validate ``parsed`` as ``model``; Invalid listing every problem, with lines for YAML."""
    if not isinstance(parsed.data, dict):
        kind = type(parsed.data).__name__ if parsed.data is not None else "nothing"
        raise Invalid(f"{what} must be a mapping of fields, got {kind}", field="body")
    try:
        return model.model_validate(parsed.data)
    except ValidationError as exc:
        raise refuse(problems_of(exc, parsed.node), what=what) from None
