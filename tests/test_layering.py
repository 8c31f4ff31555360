"""The import direction of DESIGN.md: web → command → plans → incidents → gis | notify → core. A package imports only
from those to its right (gis and notify not from each other); only web imports fastapi or starlette, only notify
and web redis, only gis geopandas; nothing imports web; and outside gis, only gis's door (gis.service, gis.schemas)
is imported. Checked on every import statement, top-level or inside a function."""

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


# gis's door: outside gis/ (and gis's own tests), code imports only these of its modules. A model of another package
# that needs a foreign key to a gis table names the table in a string ("resource.id") and imports nothing.
GIS_DOOR = {"gis.service", "gis.schemas"}
_SKIPPED = {".git", ".venv", "node_modules", "__pycache__"}


def _gis_imports(path: Path) -> list[tuple[int, str]]:
    """Every gis module a file imports, by its full name (``from gis import models`` is ``gis.models``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name == "gis" or a.name.startswith("gis.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "gis":
            found += [(node.lineno, f"gis.{a.name}") for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("gis."):
            found.append((node.lineno, str(node.module)))
    return found


def _outside_gis() -> list[Path]:
    paths = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if _SKIPPED & set(parts) or parts[0] == "gis" or parts[:2] == ("tests", "gis"):
            continue
        paths.append(path)
    return paths


def test_other_packages_use_only_gis_service_and_schemas() -> None:
    """web, command, plans, incidents, bench, migrations and the tests of other packages reach gis through its door."""
    checked = _outside_gis()
    assert ROOT / "web" / "app.py" in checked and ROOT / "bench" / "map.py" in checked  # the walk covers them
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in checked
        for line, name in _gis_imports(path)
        if name not in GIS_DOOR
    ]
    assert wrong == [], "\n".join(wrong)


def test_the_checker_sees_a_way_around_gis_door(tmp_path: Path) -> None:
    """Each way of naming a gis module behind the door is found, inside a function too; the door itself is not."""
    module = tmp_path / "m.py"
    module.write_text(
        "from gis import service, schemas\n"
        "from gis.schemas import ResourceIn\n"
        "import gis.service\n"
        "from gis import models\n"
        "import gis.roads.routing\n"
        "def f():\n"
        "    from gis.io.transfer import import_layer\n"
        "    return import_layer\n",
        encoding="utf-8",
    )
    found = _gis_imports(module)
    assert [(line, name) for line, name in found if name not in GIS_DOOR] == [
        (4, "gis.models"),
        (5, "gis.roads.routing"),
        (7, "gis.io.transfer"),
    ]
    assert {name for _, name in found} >= GIS_DOOR
