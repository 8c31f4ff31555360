"""Turning checked layer rows into table rows for each kind of layer, and loading them in bulk.

Each row either becomes a table row or is reported with its reason. Loading goes through PostgreSQL's COPY into a
temporary table, then one ``INSERT ... SELECT ... ON CONFLICT`` into the real table, inside the caller's
transaction: a file loads completely or not at all, and rows with a known (source, external_id) are updated
instead of added twice.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import shapely

from core.errors import Invalid
from gis.io.layers import CheckedLayer
from gis.io.schemas import LayerKind, RowProblem

Progress = Callable[[int], None]


class RowError(ValueError):
    """Why one row cannot be taken."""


# Columns with a meaning of their own; everything else a file carries is kept in ``properties``.
RESERVED = {
    "row", "geometry", "id", "type", "name", "name_zh", "name_en", "agency", "status", "home_station_id",
    "capacity", "beds", "places", "shelter_places", "stock", "external_id", "source", "properties", "created_at",
    "updated_at", "version", "last_fix_at", "distance_m", "admin_level", "code", "osm_relation", "kind", "buffer_m",
    "area_km2", "area_m2",
}  # fmt: skip
CAPACITY_COLUMNS = ("beds", "places", "shelter_places", "stock")


def _blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )


def _text(record: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = record.get(name)
        if not _blank(value):
            return str(value).strip()
    return None


def _number(record: dict[str, Any], name: str) -> float | None:
    value = record.get(name)
    if _blank(value):
        return None
    try:
        number = float(str(value))
    except (TypeError, ValueError):
        raise RowError(f"{name} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise RowError(f"{name} {value!r} is not a number")
    return number


def _int(record: dict[str, Any], name: str) -> int | None:
    number = _number(record, name)
    return None if number is None else int(number)


def _json_object(record: dict[str, Any], name: str) -> dict[str, Any]:
    value = record.get(name)
    if _blank(value):
        return {}
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(str(value))
    except ValueError:
        raise RowError(f"{name} is not a JSON object") from None
    if not isinstance(parsed, dict):
        raise RowError(f"{name} is not a JSON object")
    return parsed


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value if isinstance(value, str | int | float | bool) else str(value)


def _properties(record: dict[str, Any]) -> str:
    props = _json_object(record, "properties")
    props.update({k: _plain(v) for k, v in record.items() if k not in RESERVED and not _blank(v)})
    return json.dumps(props, ensure_ascii=False)


def jurisdiction_row(record: dict[str, Any], *, source: str, row: int) -> tuple[Any, ...]:
    """(name, name_en, admin_level, code, source, external_id, properties)."""
    name = _text(record, "name", "name_zh", "name_en")
    if name is None:
        raise RowError("missing name")
    external = _text(record, "external_id", "osm_relation", "code") or f"row:{row}"
    return (
        name[:200],
        _text(record, "name_en"),
        _int(record, "admin_level"),
        _text(record, "code"),
        _text(record, "source") or source,
        external,
        _properties(record),
    )


def zone_row(
    record: dict[str, Any], *, source: str, row: int, geom_type: int, kind: str | None, buffer_m: float | None
) -> tuple[Any, ...]:
    """(name, kind, buffer_m, source, external_id, properties)."""
    zone_kind = _text(record, "kind") or kind
    if zone_kind is None:
        raise RowError("missing kind (a 'kind' column, or a default kind for the file)")
    buffer = _number(record, "buffer_m")
    buffer = buffer if buffer is not None else (buffer_m or 0.0)
    if buffer < 0:
        raise RowError(f"buffer_m {buffer} is negative")
    if geom_type in (0, 1, 2, 4, 5) and buffer <= 0:  # points and lines cover no area without a buffer
        raise RowError("a point or line hazard needs buffer_m > 0 (a 'buffer_m' column, or a default for the file)")
    external = _text(record, "external_id") or f"row:{row}"
    return (
        _text(record, "name"),
        zone_kind[:64],
        buffer,
        _text(record, "source") or source,
        external,
        _properties(record),
    )


POLYGONAL = (3, 6)  # shapely type ids: Polygon, MultiPolygon
GEOMETRY_NAMES = {
    0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString",
    6: "MultiPolygon", 7: "GeometryCollection",
}  # fmt: skip


def table_rows(
    checked: CheckedLayer,
    kind: LayerKind,
    *,
    source: str,
    zone_kind: str | None = None,
    buffer_m: float | None = None,
) -> list[tuple[Any, ...]]:
    """The rows of a jurisdictions or hazard zones layer, each ``(file row, *columns, wkb)``; rows that cannot be
    taken go to ``checked.rejected``. (Resources: ``gis.io.resource_rows``, column by column.)"""
    if kind is LayerKind.resources:
        raise ValueError("resource rows are made by gis.io.resource_rows.resource_row_chunks")
    frame = checked.frame
    geoms = frame.geometry.values
    type_ids = shapely.get_type_id(geoms)
    wkbs = shapely.to_wkb(geoms, include_srid=False, output_dimension=2)
    records = frame.drop(columns=[frame.geometry.name]).to_dict("records")
    out: list[tuple[Any, ...]] = []
    seen: dict[tuple[str, str], int] = {}
    for record, wkb, type_id in zip(records, wkbs, type_ids, strict=True):
        row = int(record["row"])
        try:
            if kind is LayerKind.jurisdictions:
                if type_id not in POLYGONAL:
                    got = GEOMETRY_NAMES.get(int(type_id), str(type_id))
                    raise RowError(f"a jurisdiction must be a polygon (got {got})")
                values = jurisdiction_row(record, source=source, row=row)
                key = (values[4], values[5])
            else:
                values = zone_row(
                    record, source=source, row=row, geom_type=int(type_id), kind=zone_kind, buffer_m=buffer_m
                )
                key = (values[3], values[4])
            if key[1] is not None:
                if key in seen:
                    raise RowError(f"external id {key[1]!r} repeats row {seen[key]}")
                seen[key] = row
        except RowError as exc:
            checked.rejected.append(RowProblem(row=row, reason=str(exc)))
            continue
        out.append((row, *values, wkb))
    return out


def require_rows(loaded: int, checked: CheckedLayer, *, name: str) -> None:
    """A file none of whose rows could be taken is an error, not an empty success."""
    if not loaded:
        first = "; ".join(f"row {p.row}: {p.reason}" for p in checked.rejected[:3])
        raise Invalid(
            f"{name}: no row could be imported" + (f" ({first})" if first else " (the file has no rows)"), field="file"
        )
