"""Which table of a GeoPackage may be read, decided by Python's sqlite3 before GDAL opens the file.

A GeoPackage is an SQLite database, and a database can compute its rows: a view (a recursive one never ends), a
virtual table (VirtualOGR reads other files), a generated column. GDAL would read any of them as a layer. Only a
plain table is read, and a file whose GeoPackage tables or listed layers are anything else is refused whole: GDAL
reads its system tables and lists its layers when it opens the file, before we choose one.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from urllib.parse import quote

from core.errors import Invalid

# SQLite's own R*Tree module: what a GeoPackage's spatial index is made of, and computes nothing from the file.
SPATIAL_INDEX_MODULE = "rtree"
# Stop a statement after this many SQLite virtual machine steps (thousands): the checks read a few small tables.
STEP_BUDGET = 10_000
_USING = re.compile(r"\bUSING\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)


def feature_table(path: Path, *, name: str) -> tuple[str, list[str]]:
    """The layer to read (the first listed table with features, else with attributes) and notes about it.

    The database is opened read-only and immutable, with ``trusted_schema`` off, and every statement runs
    under a step budget: nothing in the file gets to run long or touch anything else.
    """
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as exc:
        raise Invalid(f"cannot read {name} as gpkg: {exc}", field="file") from None
    try:
        _budget(conn)
        conn.execute("PRAGMA trusted_schema = OFF")
        objects = _schema(conn)
        _refuse_computed(objects, name=name)
        layers = _listed_layers(conn, objects, name=name)
        layer = layers[0]
        _refuse_generated_columns(conn, layer, name=name)
    except sqlite3.Error as exc:
        raise Invalid(f"cannot read {name} as gpkg: {exc}", field="file") from None
    finally:
        conn.close()
    notes = [f"{name} holds {len(layers)} layers: the first, {layer!r}, was read"] if len(layers) > 1 else []
    return layer, notes


def _budget(conn: sqlite3.Connection) -> None:
    steps = 0

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 1 if steps > STEP_BUDGET else 0  # non-zero interrupts the statement

    conn.set_progress_handler(tick, 1000)


def _schema(conn: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    """Every table and view of the database: lower-case name -> (type, SQL that made it)."""
    rows = conn.execute("SELECT name, type, coalesce(sql, '') FROM sqlite_master WHERE type IN ('table', 'view')")
    return {str(n).lower(): (str(t), str(sql)) for n, t, sql in rows}


def _kind(entry: tuple[str, str]) -> str:
    """'table', 'view', or 'virtual table using <module>'."""
    kind, sql = entry
    if kind == "table" and sql.lstrip().upper().startswith("CREATE VIRTUAL"):
        module = _USING.search(sql)
        return f"virtual table using {module.group(1).lower() if module else 'an unknown module'}"
    return kind


def _refuse_computed(objects: dict[str, tuple[str, str]], *, name: str) -> None:
    for table, entry in objects.items():
        kind = _kind(entry)
        if table.startswith("gpkg_") and kind != "table":
            raise Invalid(f"{name}: its {table} is a {kind}; a GeoPackage's own tables must be tables", field="file")
        if kind.startswith("virtual") and kind != f"virtual table using {SPATIAL_INDEX_MODULE}":
            raise Invalid(f"{name}: {table} is a {kind}; only tables are read", field="file")
    if "gpkg_contents" not in objects:
        raise Invalid(f"cannot read {name} as gpkg: it has no gpkg_contents table", field="file")


def _listed_layers(conn: sqlite3.Connection, objects: dict[str, tuple[str, str]], *, name: str) -> list[str]:
    """The vector layers gpkg_contents lists, features first (as GDAL lists them), each checked a plain table."""
    listed = conn.execute(
        "SELECT table_name, data_type FROM gpkg_contents "
        "ORDER BY CASE data_type WHEN 'features' THEN 0 WHEN 'attributes' THEN 1 ELSE 2 END, rowid"
    ).fetchall()
    for table, _ in listed:
        kind = _kind(objects.get(str(table).lower(), ("missing", "")))
        if kind != "table":
            shown = "missing" if kind == "missing" else f"a {kind}"
            raise Invalid(f"{name}: its layer {table!r} is {shown}; only tables are read", field="file")
    layers = [str(table) for table, data_type in listed if data_type in ("features", "attributes")]
    if not layers:
        raise Invalid(f"cannot read {name} as gpkg: it lists no vector layer", field="file")
    return layers


def _refuse_generated_columns(conn: sqlite3.Connection, layer: str, *, name: str) -> None:
    # table_xinfo's hidden: 2 and 3 are generated columns (virtual, stored), computed by an expression in the file.
    rows = conn.execute("SELECT name FROM pragma_table_xinfo(?) WHERE hidden IN (2, 3)", (layer,)).fetchall()
    if rows:
        raise Invalid(f"{name}: layer {layer!r} has generated columns; only plain columns are read", field="file")
