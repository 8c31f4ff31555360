"""docs/configuration.md, made from core/settings.py: every ``COMMANDPOST_`` variable with its default, its limits and
the comment that explains it in the source, so that the source stays the one place a setting is described.

``python -m core.settings_doc`` rewrites the file; ``--check`` only says whether it is current (exit status 1 when
not). tests/core/test_settings_doc.py fails when the file is stale or a field has no comment, so a new setting cannot
go undocumented.

How the comments are read (``tokenize`` and ``ast``, never by importing anything but the settings): a line
``# --- Topic ---`` starts a section; a block of comment lines directly above a field describes it and the fields on
the lines directly after it (no blank line, no comment between), which it must name and the table points back to; a
comment at the end of a field's own line is that field's note. Field names in the text become the variables' names.
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import os
import re
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from core.settings import PROJECT_ROOT, Settings

SETTINGS_SOURCE = Path(__file__).with_name("settings.py")
SETUP_SCRIPT = PROJECT_ROOT / "scripts" / "setup"
DOC = PROJECT_ROOT / "docs" / "configuration.md"
PREFIX = "COMMANDPOST_"
TOPIC = re.compile(r"^#\s*---\s*(.+?)\s*---\s*$")

INTRO = """\
# Configuration

<!-- Made by `python -m core.settings_doc` from the comments in core/settings.py: change those, then run it again
(tests/core/test_settings_doc.py fails while this file is stale). -->

Every setting is an environment variable named `COMMANDPOST_` and the setting's name (upper or lower case alike),
e.g. `COMMANDPOST_TOKEN_MINUTES=30`. They are also read from `.env` files, one `COMMANDPOST_NAME=value` a line:
the one at the project root, then one in the working directory. Where the same variable is set twice, the process
environment wins over both files, and the working directory's `.env` over the project root's; anything not set
keeps the default below. `scripts/setup` writes the secrets and the local URLs into the project root's `.env`.

- Values: numbers as digits (`1.5`), switches as `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`), objects as
  JSON (`'{"I": 30, ...}'`), lists as JSON or comma-separated (`10.0.0.5,10.1.0.0/16`). An empty value of an
  optional URL, host, user name, key or secret means unset.
- Checks: a value outside its limits, or not of its type, stops the service and every `commandpost` command at
  start with exit status 2, naming each setting and the rule it breaks (never the value). A variable this table
  does not name is ignored, so a misspelt one changes nothing.
- The values in force: each process reads them once, when it starts (restart to change them). To see them as the
  service would, from the directory it runs in:
  `.venv/bin/python -c 'from core.settings import get_settings; print(get_settings())'` (secrets print as
  `**********`; a password inside `DATABASE_URL` or `REDIS_URL` is printed as it is).
"""


@dataclass(frozen=True)
class Described:
    """A field as its comments describe it: the block above it (or above the first field of its run) and its note."""

    name: str
    topic: str
    text: str = ""  # the comment block over its run of fields
    lead: str | None = None  # the first field of that run, when it is not this one
    note: str = ""  # the comment on its own line


@dataclass
class _Reader:
    topic: str = "Settings"
    block: list[str] = field(default_factory=list)
    run_text: str = ""
    run_lead: str | None = None
    run_end: int = -1  # the last line of the previous field, to know whether the next one continues its run


def describe(source: str, class_name: str = "Settings") -> list[Described]:
    """Every field of ``class_name`` in ``source``, in order, with the comments that describe it."""
    lines = source.splitlines()
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    comments = {t.start[0]: t.string for t in tokens if t.type == tokenize.COMMENT}
    cls = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == class_name)
    fields = [n for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)]
    reader, found, line = _Reader(), [], cls.lineno + 1
    for node in fields:
        assert isinstance(node.target, ast.Name)
        for number in range(line, node.lineno):  # the lines between the previous field and this one
            text = lines[number - 1].strip()
            heading = TOPIC.match(text)
            if heading:
                reader.topic, reader.block = heading.group(1), []
            elif text.startswith("#"):
                reader.block.append(text.lstrip("#").strip())
            else:
                reader.block = []
        name = node.target.id
        if reader.block:
            reader.run_text, reader.run_lead = " ".join(reader.block), name
        elif reader.run_end != node.lineno - 1:
            reader.run_text, reader.run_lead = "", None
        end = node.end_lineno or node.lineno
        notes = [comments[n].lstrip("#").strip() for n in range(node.lineno, end + 1) if n in comments]
        lead = reader.run_lead if reader.run_lead != name else None
        found.append(Described(name, reader.topic, reader.run_text, lead, " ".join(notes)))
        reader.block, reader.run_end, line = [], end, end + 1
    return found


def undocumented(entries: list[Described]) -> list[str]:
    """The fields nothing describes: no note on their line, and no comment block above them, nor one above their run
    that names them (so a field added below a group is not taken as described by the group's words)."""
    return [e.name for e in entries if not e.note and not (e.text and (e.lead is None or _names(e.text, e.name)))]


def _names(text: str, name: str) -> bool:
    return re.search(rf"\b{re.escape(name)}\b", text, flags=re.IGNORECASE) is not None


def written_by_setup(script: str) -> set[str]:
    """The settings ``scripts/setup`` writes into ``.env`` (lower case): each ``COMMANDPOST_X=`` it echoes or prints."""
    return {m.lower() for m in re.findall(r"(?:echo|print\(f?)\s*\"" + PREFIX + r"([A-Z0-9_]+)=", script)}


def variable(name: str) -> str:
    return PREFIX + name.upper()


def render(
    entries: list[Described] | None = None, model: type[Settings] = Settings, setup_writes: set[str] | None = None
) -> str:
    """The whole Markdown reference: the intro, then one table per topic in the order of the source."""
    entries = entries if entries is not None else describe(SETTINGS_SOURCE.read_text(encoding="utf-8"))
    if setup_writes is None:
        setup_writes = written_by_setup(SETUP_SCRIPT.read_text(encoding="utf-8"))
    missing = set(model.model_fields) ^ {e.name for e in entries}
    if missing:
        raise ValueError(f"the source and the model disagree on the fields: {', '.join(sorted(missing))}")
    names = {n: f"`{n.upper()}`" for n in model.model_fields}
    out, topic = [INTRO], None
    for entry in entries:
        if entry.topic != topic:
            topic = entry.topic
            out += [f"\n## {_cell(topic, names)}\n", "| Variable | Default | Type and limits | What it does |"]
            out.append("|-|-|-|-|")
        info = model.model_fields[entry.name]
        row = [f"`{variable(entry.name)}`", _default(entry.name, info, entry.name in setup_writes), _limits(info)]
        out.append("| " + " | ".join([*row, _what(entry, names)]) + " |")
    return "\n".join(out) + "\n"


def _what(entry: Described, names: dict[str, str]) -> str:
    parts = [entry.note] if entry.note else []
    if entry.lead:
        parts.append(f"See `{variable(entry.lead)}` above.")
    elif entry.text:
        parts.insert(0, entry.text)
    return _cell(" ".join(parts), names)


def _cell(text: str, names: dict[str, str]) -> str:
    """Comment text as a table cell: field names as the variables' names, examples as code, nothing that breaks
    the table or reads as HTML."""
    pieces = re.split(r"(``?[^`]+``?|COMMANDPOST_[A-Z0-9_]+='[^']*')", text)
    for i, piece in enumerate(pieces):
        if i % 2:
            pieces[i] = piece if piece.startswith("`") else f"`{piece}`"
            continue
        piece = piece.replace("<", "&lt;").replace(">", "&gt;")
        pieces[i] = re.sub(r"\b[A-Za-z][A-Za-z0-9_]*\b", lambda m: names.get(m.group(0).lower(), m.group(0)), piece)
    return "".join(pieces).replace("|", "\\|")


def _default(name: str, info: FieldInfo, by_setup: bool) -> str:
    secret = _is_secret(info.annotation)
    value = info.get_default(call_default_factory=True)
    if secret or value is None:
        if by_setup:
            return "unset; `scripts/setup` writes " + ("a random one" if secret else "one") + " into `.env`"
        return "unset"
    shown = _value(value)
    shown = shown if shown == "empty" else f"`{shown}`"
    return shown + ("; `scripts/setup` may write another into `.env`" if by_setup else "")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Path):  # shown from the project root, not as this machine's absolute path
        return Path(os.path.relpath(value, PROJECT_ROOT)).as_posix()
    if isinstance(value, list) and not value:
        return "empty"
    if isinstance(value, dict | list):  # JSON, as it is written in the variable (30, not 30.0)
        return json.dumps(_whole(value), ensure_ascii=False)
    return str(value)


def _whole(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_whole(v) for v in value]
    return value


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in get_args(annotation)


def _limits(info: FieldInfo) -> str:
    kind = _kind(info.annotation)
    bounds: dict[str, Any] = {}
    for item in info.metadata:
        for attribute in ("ge", "gt", "le", "lt", "pattern"):
            if getattr(item, attribute, None) is not None:
                bounds[attribute] = getattr(item, attribute)
    parts = []
    if "ge" in bounds and "le" in bounds:
        parts.append(f"{_value(float(bounds['ge']))}–{_value(float(bounds['le']))}")
    else:
        symbols = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
        parts += [f"{symbols[k]} {_value(float(v))}" for k, v in bounds.items() if k in symbols]
    if "pattern" in bounds:
        parts.append(f"matching `{bounds['pattern']}`")
    return ", ".join([kind, *parts]).replace("|", "\\|")


def _kind(annotation: Any) -> str:
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in get_args(annotation))
    if args and get_origin(annotation) not in (dict, list):  # X | None
        return _kind(args[0])
    kinds: dict[Any, str] = {
        bool: "`true` or `false`",
        int: "integer",
        float: "number",
        str: "text",
        Path: "path",
        SecretStr: "text (secret)",
    }
    if annotation in kinds:
        return kinds[annotation]
    if get_origin(annotation) is dict:
        return "JSON object"
    if get_origin(annotation) is list:
        return "list (JSON or comma-separated)"
    raise ValueError(f"no wording for the type {annotation!r}: add it to core/settings_doc.py")


def main(argv: list[str] | None = None) -> int:
    """Write docs/configuration.md, or with ``--check`` say whether it is current."""
    parser = argparse.ArgumentParser(prog="python -m core.settings_doc", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/configuration.md is not current")
    args = parser.parse_args(argv)
    entries = describe(SETTINGS_SOURCE.read_text(encoding="utf-8"))
    lacking = undocumented(entries)
    if lacking:
        print(f"no comment describes: {', '.join(lacking)} (core/settings.py)", file=sys.stderr)
        return 1
    text = render(entries)
    if args.check:
        current = DOC.is_file() and DOC.read_text(encoding="utf-8") == text
        state = "current" if current else "stale: run python -m core.settings_doc"
        print(f"{DOC.relative_to(PROJECT_ROOT)} is {state}")
        return 0 if current else 1
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC.relative_to(PROJECT_ROOT)}: {len(entries)} settings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
