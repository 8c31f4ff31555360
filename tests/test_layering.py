"""The import direction of DESIGN.md: web → command → plans → incidents → gis | notify → core. A package imports only
from those to its right (gis and notify not from each other); only web imports fastapi or starlette, only notify
and web redis, only gis geopandas; nothing imports web; outside each domain package (gis, incidents, plans, command,
notify) and its own tests, only its door (``<package>.service``, ``<package>.schemas``) is imported, and outside
incidents/reader only the reader's door. Checked on every import statement, top-level or inside a function."""

from __future__ import annotations

import ast
import sys
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


# ---------------------------------------------------------------------------------------------------- the text reader
# incidents/reader/ is a door of its own: everyone else (incidents proper included) calls incidents.reader, whose
# __init__ is the door; its modules are private. Only the reader's own tests (tests/incidents/reader/) reach inside.
# The reader is pure: it may import the taxonomy and the intake shapes of incidents, the standard library's non-I/O
# modules, and nothing else (no database, web or network library, no core.db, no file or socket).
READER = ROOT / "incidents" / "reader"
READER_TESTS = ROOT / "tests" / "incidents" / "reader"
READER_PRIVATE = frozenset(p.stem for p in READER.glob("*.py") if p.stem != "__init__")
READER_MAY_USE = ("incidents.reader", "incidents.taxonomy", "incidents.schemas")
STDLIB_IO = frozenset(
    {
        "asyncio", "concurrent", "dbm", "fileinput", "ftplib", "glob", "http", "io", "mmap", "multiprocessing", "os",
        "pathlib", "pickle", "select", "selectors", "shelve", "shutil", "signal", "smtplib", "socket", "sqlite3",
        "ssl", "subprocess", "tempfile", "threading", "urllib",
    }
)  # fmt: skip


def _targets(path: Path) -> list[tuple[int, str]]:
    """What each import statement brings in, fully dotted: ``from a.b import c`` gives ``a.b.c`` (a submodule or a
    name, either way what the code reaches for); relative imports are resolved against the file's package."""
    package = path.relative_to(ROOT).parent.parts if path.is_relative_to(ROOT) else ()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _where(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def _private_reader_imports(path: Path) -> list[str]:
    return [
        f"{_where(path)}:{line} imports {name}"
        for line, name in _targets(path)
        if name.startswith("incidents.reader.") and name.split(".")[2] in READER_PRIVATE
    ]


def _impure_reader_imports(path: Path) -> list[str]:
    def allowed(name: str) -> bool:
        top = name.split(".")[0]
        if top in sys.stdlib_module_names:
            return top not in STDLIB_IO
        return any(name == door or name.startswith(door + ".") for door in READER_MAY_USE)

    return [f"{_where(path)}:{line} imports {name}" for line, name in _targets(path) if not allowed(name)]


def _python_files() -> list[Path]:
    skip = {"node_modules", "__pycache__"}
    return [
        p
        for p in sorted(ROOT.rglob("*.py"))
        if not any(part.startswith(".") or part in skip for part in p.relative_to(ROOT).parts)
    ]


def test_only_the_reader_reaches_inside_the_reader() -> None:
    outside = [p for p in _python_files() if not p.is_relative_to(READER) and not p.is_relative_to(READER_TESTS)]
    assert any(p.name == "intake.py" for p in outside) and len(outside) > 100, "the scan found the code base"
    wrong = [hit for path in outside for hit in _private_reader_imports(path)]
    assert wrong == [], "import incidents.reader (its door), not its modules:\n" + "\n".join(wrong)


def test_the_reader_is_pure() -> None:
    modules = sorted(READER.glob("*.py"))
    assert {"classifier", "facts"} <= READER_PRIVATE and len(modules) > 5
    wrong = [hit for path in modules for hit in _impure_reader_imports(path)]
    assert wrong == [], "\n".join(wrong)


def test_the_reader_checks_see_wrong_imports(tmp_path: Path) -> None:
    """Both reader rules would notice: a private module reached from outside (three spellings, one inside a function)
    and a reader module reaching for a database, a file, or incidents outside its allowance."""
    outsider = tmp_path / "m.py"
    outsider.write_text(
        "from incidents.reader import classify, classifier\n"
        "import incidents.reader.facts\n"
        "def f():\n    from incidents.reader.numbers import parse_en\n    return parse_en\n",
        encoding="utf-8",
    )
    hits = _private_reader_imports(outsider)
    assert [hit.split(" imports ")[1] for hit in hits] == [
        "incidents.reader.classifier",
        "incidents.reader.facts",
        "incidents.reader.numbers.parse_en",
    ]
    reader_module = tmp_path / "r.py"
    reader_module.write_text(
        "import re\nfrom typing import Final\nfrom incidents.taxonomy import SUBTYPES\n"
        "from incidents.reader import cues\nfrom pathlib import Path\nimport sqlalchemy\n"
        "from incidents import repository\nfrom core.db import engine\n",
        encoding="utf-8",
    )
    assert [hit.split(" imports ")[1] for hit in _impure_reader_imports(reader_module)] == [
        "pathlib.Path",
        "sqlalchemy",
        "incidents.repository",
        "core.db.engine",
    ]


# ---------------------------------------------------------------------------------------------------- the doors
# A domain package's door is its service module and its schemas (DESIGN.md "Packages"): outside the package and its
# own tests (tests/<package>/), code imports only those of its modules, in any spelling, top-level or inside a function.
# That holds for the other packages, web, bench, migrations and the tests of the others alike. A model of another
# package that needs a foreign key to the package's table names the table in a string ("incident.id") and imports
# nothing. incidents.reader is a door of its own (its rules are above).
DOMAINS = ("gis", "incidents", "plans", "command", "notify")
DOORS = ("service", "schemas")
OWN_DOORS = {"incidents": ("reader",)}


def _behind_the_door(package: str, path: Path) -> list[tuple[int, str]]:
    """The modules (or names) of ``package`` that a file imports other than through its door."""
    doors = tuple(f"{package}.{door}" for door in (*DOORS, *OWN_DOORS.get(package, ())))
    return [
        (line, name)
        for line, name in _targets(path)
        if (name == package or name.startswith(package + "."))
        and not any(name == door or name.startswith(door + ".") for door in doors)
    ]


def _outside(package: str) -> list[Path]:
    inside = (ROOT / package, ROOT / "tests" / package)
    return [p for p in _python_files() if not any(p.is_relative_to(where) for where in inside)]


@pytest.mark.parametrize("package", DOMAINS)
def test_other_packages_use_only_the_service_and_schemas(package: str) -> None:
    """web, the other packages, bench, migrations and the tests of the others reach ``package`` through its door."""
    checked = _outside(package)
    # The walk covers the app, the benches, the migrations and the tests of web; not the package or its own tests.
    assert {ROOT / "web" / "app.py", ROOT / "bench" / "map.py", ROOT / "migrations" / "env.py"} <= set(checked)
    assert ROOT / "tests" / "web" / "test_live.py" in checked
    assert not any(p.is_relative_to(ROOT / package) for p in checked)
    wrong = [
        f"{_where(path)}:{line} imports {name}" for path in checked for line, name in _behind_the_door(package, path)
    ]
    assert wrong == [], f"outside {package}/, import {package}.service or {package}.schemas only:\n" + "\n".join(wrong)


@pytest.mark.parametrize("package", DOMAINS)
def test_the_checker_sees_a_way_around_the_door(package: str, tmp_path: Path) -> None:
    """Each way of naming a module behind the door is found, inside a function too; the door itself is not, nor a
    package whose name merely begins like this one."""
    module = tmp_path / "m.py"
    module.write_text(
        f"from {package} import service, schemas\n"
        f"from {package}.schemas import Thing\n"
        f"import {package}.service\n"
        f"from {package} import models\n"
        f"import {package}.deep.inside\n"
        f"import {package}\n"
        f"import {package}_elsewhere.models\n"
        "def f():\n"
        f"    from {package}.repository import get\n"
        "    return get\n",
        encoding="utf-8",
    )
    assert _behind_the_door(package, module) == [
        (4, f"{package}.models"),
        (5, f"{package}.deep.inside"),
        (6, package),
        (9, f"{package}.repository.get"),
    ]
