"""The import direction of DESIGN.md: web → command → plans → incidents → gis | notify → core. A package imports only
from those to its right (gis and notify not from each other); only web imports fastapi or starlette, only notify
and web redis, only gis geopandas; nothing imports web. Checked on every import statement, top-level or inside a
function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["web", "command", "plans", "incidents", "gis", "notify", "core"]
ALLOWED = {
    "web": {"command", "plans", "incidents", "gis", "notify", "core"},
    "command": {"plans", "incidents", "gis", "notify", "core"},
    "plans": {"incidents", "gis", "notify", "core"},
    "incidents": {"gis", "notify", "core"},
    "gis": {"core"},
    "notify": {"core"},
    "core": set(),
}
WEB_ONLY = {"fastapi", "starlette"}
# Libraries only some packages may use: redis in notify (and web, which opens the client); geopandas in gis.
ONLY_IN = {"redis": {"notify", "web"}, "geopandas": {"gis"}}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


@pytest.mark.parametrize("package", ORDER)
def test_imports_follow_the_design(package: str) -> None:
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, name in _imports(path):
            where = f"{path.relative_to(ROOT)}:{line} imports {name}"
            if name in ALLOWED and name != package and name not in ALLOWED[package]:
                wrong.append(where)
            if name in WEB_ONLY and package != "web":
                wrong.append(where)
            if name in ONLY_IN and package not in ONLY_IN[name]:
                wrong.append(where)
    assert wrong == [], "\n".join(wrong)


def test_the_checker_sees_a_wrong_import(tmp_path: Path) -> None:
    """The check above would notice: a module importing web from inside a function is found."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from web.app import create_app\n    return create_app\n", encoding="utf-8")
    assert (2, "web") in _imports(module)
