"""Who may write what (DESIGN.md "Transactions and events"): event rows only the unit of work, as it commits
(core/events.py); timeline rows only incidents (incidents.service.record). Checked on the source, so that a new
module cannot write an event early or a timeline entry of its own without this failing."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["core", "gis", "notify", "incidents", "plans", "command", "web"]
# Constructing the ORM row, or SQL that inserts into the table, is writing it.
WRITERS = {"Event": {"core/events.py"}, "TimelineEntry": {"incidents/repository.py"}}
TABLES = {"event": {"core/events.py"}, "incident_timeline": {"incidents/repository.py"}}


def _sources() -> list[tuple[str, str]]:
    return [
        (str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"))
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    ]


# Where the ORM classes live: a call counts when it names one of them as imported from there.
HOMES = {"Event": "core.events", "TimelineEntry": "incidents.models"}


def _constructed(source: str) -> set[str]:
    """The row classes of WRITERS this module instantiates (``Event(...)`` after ``from core.events import Event``,
    or ``m.TimelineEntry(...)`` after ``import incidents.models as m``; asyncio's Event is another class)."""
    tree = ast.parse(source)
    names: dict[str, str] = {}  # local name -> row class
    modules: dict[str, str] = {}  # local name -> module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if HOMES.get(alias.name) == node.module:
                    names[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                modules[alias.asname or alias.name] = alias.name
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in names:
            found.add(names[func.id])
        elif (
            isinstance(func, ast.Attribute)
            and func.attr in HOMES
            and HOMES[func.attr] == modules.get(ast.unparse(func.value))
        ):
            found.add(func.attr)
    return found


def test_only_the_unit_of_work_writes_events_and_only_incidents_the_timeline() -> None:
    wrong = []
    for where, source in _sources():
        wrong += [f"{where} builds {name} rows" for name in _constructed(source) if where not in WRITERS[name]]
        if "add_timeline" in source and not where.startswith("incidents/"):
            wrong.append(f"{where} adds timeline entries itself (incidents.service.record is the way)")
        for table, allowed in TABLES.items():
            if re.search(rf"insert\s+into\s+{table}\b", source, re.IGNORECASE) and where not in allowed:
                wrong.append(f"{where} inserts into {table}")
    assert wrong == [], "\n".join(wrong)


def test_the_check_sees_a_writer() -> None:
    assert _constructed("from core.events import Event\nsession.add(Event(type='x.y', data={}))\n") == {"Event"}
    assert _constructed("import incidents.models as m\nm.TimelineEntry(incident_id=1, kind='k')\n") == {"TimelineEntry"}
