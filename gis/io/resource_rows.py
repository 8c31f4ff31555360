"""Resource rows from a checked layer, column by column (a 100,000-row file must not cost a Python loop per row).

The same rules as a single resource: a known type, a name (``name``, else ``name_zh``, else ``name_en``), a status
only for units (``available`` when none is given), capacity from ``capacity`` JSON and the ``beds``/``places``/...
columns, every other column kept in ``properties``. The first broken rule of a row is its reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from gis.io.layers import CheckedLayer
from gis.io.schemas import RowProblem
from gis.models import UnitStatus

CAPACITY_COLUMNS = ("beds", "places", "shelter_places", "stock")
TEXT = pa.large_string()  # what pandas keeps its Arrow-backed text in


def _text(frame: pd.DataFrame, *names: str) -> pa.Array:
    """The first of ``names`` present, as stripped text, blanks and missing values null (an Arrow array: the rules
    below run in Arrow's compute functions, not a Python loop per row)."""
    for name in names:
        if name in frame.columns:
            values = pa.array(frame[name].astype("string").array)  # numbers as pandas writes them: 1 -> "1"
            if isinstance(values, pa.ChunkedArray):  # read in several Arrow batches
                values = values.combine_chunks()
            stripped = pc.utf8_trim_whitespace(values.cast(TEXT))
            return pc.if_else(pc.equal(stripped, ""), pa.scalar(None, TEXT), stripped)
    return pa.nulls(len(frame), TEXT)


def _objects(values: pa.Array) -> np.ndarray[Any, Any]:
    """An Arrow array as a numpy array of Python objects (None for null), what the COPY takes."""
    return values.to_numpy(zero_copy_only=False)


def _at(values: pa.Array, at: np.ndarray[Any, Any]) -> list[Any]:
    """The values at some positions, as Python objects: a bad row's value for its reason (only bad rows pay)."""
    return values.take(pa.array(at)).to_pylist()


def _mask(condition: pa.Array) -> np.ndarray[Any, Any]:
    """An Arrow boolean array as a numpy mask, null as false."""
    return pc.fill_null(condition, False).to_numpy(zero_copy_only=False).astype(bool, copy=False)


class _Reasons:
    """The first reason per row (by position in the chunk): a later rule never overwrites an earlier one.

    A reason that names the row's value is a function of the positions it concerns, called only for those rows
    (most files have none, and formatting a message for each of 100,000 rows costs more than checking them).
    """

    def __init__(self, size: int) -> None:
        self.values = np.full(size, None, dtype=object)
        self.taken = np.zeros(size, dtype=bool)

    def add(self, mask: np.ndarray[Any, Any], reason: str | Callable[[np.ndarray[Any, Any]], list[str]]) -> None:
        fresh = mask & ~self.taken
        if not fresh.any():
            return
        where = np.flatnonzero(fresh)
        if isinstance(reason, str):
            self.values[where] = reason
        else:
            self.values[where] = np.array(reason(where), dtype=object)
        self.taken |= fresh


def _json_objects(frame: pd.DataFrame, name: str, reasons: _Reasons) -> list[dict[str, Any]]:
    """A column of JSON objects: dicts (GDAL reads JSON-valued properties as such) or JSON text."""
    parsed: list[dict[str, Any]] = [{} for _ in range(len(frame))]
    if name not in frame.columns:
        return parsed
    bad = np.zeros(len(frame), dtype=bool)
    for i, value in enumerate(frame[name].to_numpy(dtype=object)):
        if (
            value is None
            or value is pd.NA
            or (isinstance(value, float) and np.isnan(value))
            or (isinstance(value, str) and not value.strip())
        ):
            continue
        obj = value
        if isinstance(value, str):
            try:
                obj = json.loads(value)
            except ValueError:
                obj = None
        if isinstance(obj, dict):
            parsed[i] = obj
        else:
            bad[i] = True
    reasons.add(bad, f"{name} is not a JSON object")
    return parsed


def _numbers(text: pa.Array) -> np.ndarray[Any, Any]:
    """Text as numbers (float, NaN where absent or not a number), as pandas reads them."""
    return pd.to_numeric(pd.Series(_objects(text), dtype=object), errors="coerce").to_numpy(
        dtype=float, na_value=np.nan
    )


def _capacity(frame: pd.DataFrame, reasons: _Reasons) -> list[str]:
    present = [c for c in CAPACITY_COLUMNS if c in frame.columns]
    if "capacity" not in frame.columns and not present:
        return ["{}"] * len(frame)
    base = _json_objects(frame, "capacity", reasons)
    numbers = {}
    for column in present:
        text = _text(frame, column)
        number = _numbers(text)
        reasons.add(_mask(text.is_valid()) & np.isnan(number), f"{column} is not a number")
        numbers[column] = number
    out = []
    for i, obj in enumerate(base):
        capacity = dict(obj)
        for column, number in numbers.items():
            value = number[i]
            if not np.isnan(value):
                capacity[column] = int(value) if float(value).is_integer() else float(value)
        out.append(json.dumps(capacity, ensure_ascii=False))
    return out


def _strip_nulls(value: Any) -> Any:
    """What PostgreSQL's ``jsonb_strip_nulls`` does: object fields whose value is null go, at every depth."""
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def _properties(frame: pd.DataFrame, reserved: set[str], reasons: _Reasons) -> list[str]:
    """Every other column of a row as a JSON object, without null fields (a column empty on this row)."""
    extra = [c for c in frame.columns if c not in reserved and c != frame.geometry.name]
    given = "properties" in frame.columns
    if not extra and not given:
        return ["{}"] * len(frame)
    lines = (
        frame[extra].to_json(orient="records", lines=True, force_ascii=False, date_format="iso").splitlines()
        if extra
        else ["{}"] * len(frame)
    )
    if given:
        base = _json_objects(frame, "properties", reasons)
        lines = [json.dumps({**b, **json.loads(line)}, ensure_ascii=False) for b, line in zip(base, lines, strict=True)]
    # Only a line with a null in it needs parsing again; most have none.
    return [
        json.dumps(_strip_nulls(json.loads(line)), ensure_ascii=False) if "null" in line else line for line in lines
    ]


_EWKB_POINT = (1).to_bytes(1, "little") + (0x20000001).to_bytes(4, "little") + (4326).to_bytes(4, "little")


def point_ewkb(points: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """2-D points as EWKB with SRID 4326 (what PostGIS takes in binary), a numpy array of bytes."""
    out = np.empty(len(points), dtype=object)
    out[:] = point_ewkb_array(points).to_pylist()
    return out


def point_ewkb_array(points: np.ndarray[Any, Any]) -> pa.Array:
    """``point_ewkb`` as an Arrow binary array. A 2-D point's EWKB is a fixed 9-byte header (byte order, the type
    with its SRID flag, the SRID) and its x, y as little-endian doubles, so it is built from the coordinates in
    numpy, with no Python object per point; giving every geometry an SRID and writing it (``shapely.set_srid``,
    ``to_wkb``) cost several times that. Anything but non-empty points is written the general way."""
    if len(points) == 0 or not np.all(shapely.get_type_id(points) == 0) or shapely.is_empty(points).any():
        ewkbs = shapely.to_wkb(shapely.set_srid(points, 4326), include_srid=True, output_dimension=2, byte_order=1)
        return pa.array(list(ewkbs), pa.binary())
    ewkb = np.empty(len(points), dtype=[("header", "V9"), ("xy", "<f8", 2)])
    ewkb["header"] = np.frombuffer(_EWKB_POINT, dtype="V9")[0]
    ewkb["xy"] = shapely.get_coordinates(points)
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(25), len(points), [None, pa.py_buffer(ewkb)])
    return fixed.cast(pa.binary())


# The columns of a chunk of resource rows: the file row, then the registry's columns (the point as EWKB).
COLUMNS = (
    "row", "type", "name", "name_zh", "name_en", "capacity", "home_station_id", "agency", "status", "source",
    "external_id", "properties", "wkb",
)  # fmt: skip
JSONB_COLUMNS = frozenset({"capacity", "properties"})  # JSON text, loaded as jsonb


def home_station_ids(checked: CheckedLayer) -> set[int]:
    """The home station ids a layer names (to look up in the registry before its rows are made)."""
    text = _text(checked.frame, "home_station_id")
    if text.null_count == len(text):
        return set()
    number = _numbers(text)
    return {int(v) for v in np.unique(number[_whole(number)])}


def resource_row_chunks(
    checked: CheckedLayer,
    *,
    kinds: dict[str, str],
    source: str,
    reserved: set[str],
    size: int,
    stations: Collection[int] = (),
) -> Iterator[pa.RecordBatch]:
    """The good rows of ``size`` file rows at a time, as Arrow record batches of ``COLUMNS`` (the others go to
    ``checked.rejected``), so that a loader can COPY one chunk while the next is made. ``stations``: the home
    stations named (``home_station_ids``) that the registry holds. What spans the file (an external id that
    repeats an earlier row's, the count of geometries moved to their centroid) is worked out once, before the
    first chunk."""
    frame = checked.frame
    row_source = pc.coalesce(_text(frame, "source"), pa.scalar(source, TEXT))
    external = _text(frame, "external_id")
    first_row = None
    if external.null_count < len(external):  # the first file row of each (source, external id)
        keys = pd.DataFrame({"source": _objects(row_source), "external": _objects(external)})
        first_row = frame["row"].groupby([keys["source"], keys["external"]]).transform("first").to_numpy(float)
    moved = int((shapely.get_type_id(frame.geometry.values) != 0).sum())
    if moved:
        checked.notes.append(f"{moved} non-point geometries placed at their centroid")
    held = pa.array(sorted(stations), pa.int64())
    for start in range(0, len(frame), size):
        yield _rows(
            checked,
            frame.iloc[start : start + size],
            kinds=kinds,
            reserved=reserved,
            stations=held,
            row_source=row_source.slice(start, size),
            external=external.slice(start, size),
            first_row=None if first_row is None else first_row[start : start + size],
        )


IDENTIFIER_CHARS = 200  # source and external_id: an identifier cut short would name another row
TEXT_CHARS = 200  # name, name_zh, name_en, agency: display text, cut to fit


def _rows(
    checked: CheckedLayer,
    frame: pd.DataFrame,
    *,
    kinds: dict[str, str],
    reserved: set[str],
    stations: pa.Array,
    row_source: pa.Array,
    external: pa.Array,
    first_row: np.ndarray[Any, Any] | None,
) -> pa.RecordBatch:
    rows = frame["row"].to_numpy()
    reasons = _Reasons(len(frame))
    type_key = _text(frame, "type", "resource_type")
    reasons.add(_mask(type_key.is_null()), "missing type")
    known = _mask(pc.is_in(type_key, value_set=pa.array(list(kinds), TEXT)))
    reasons.add(~known, lambda at: [f"unknown type {t!r}" for t in _at(type_key, at)])
    name_zh, name_en, agency = _text(frame, "name_zh"), _text(frame, "name_en"), _text(frame, "agency")
    name = pc.coalesce(_text(frame, "name"), name_zh, name_en)
    reasons.add(_mask(name.is_null()), "missing name")
    units = pa.array([key for key, kind in kinds.items() if kind == "unit"], TEXT)
    unit = _mask(pc.is_in(type_key, value_set=units))
    is_unit = pa.array(unit)
    given = _text(frame, "status")
    status = pc.if_else(pc.and_(is_unit, given.is_null()), pa.scalar(UnitStatus.available.value, TEXT), given)
    listed = _mask(pc.is_in(status, value_set=pa.array(list(UnitStatus.__members__), TEXT)))
    reasons.add(unit & ~listed, lambda at: [f"unknown status {s!r}" for s in _at(status, at)])
    reasons.add(
        known & ~unit & _mask(status.is_valid()),
        lambda at: [
            f"a {t} is a facility and has no status (got {s!r})"
            for t, s in zip(_at(type_key, at), _at(status, at), strict=True)
        ],
    )
    home_ids = _home_station_ids(frame, reasons)
    for label, values in (("external_id", external), ("source", row_source)):
        too_long = _mask(pc.greater(pc.utf8_length(values), IDENTIFIER_CHARS))
        reasons.add(too_long, f"{label} is longer than {IDENTIFIER_CHARS} characters")
    for label, values in (("name", name), ("name_zh", name_zh), ("name_en", name_en), ("agency", agency),
                          ("type", type_key), ("external_id", external), ("source", row_source)):  # fmt: skip
        reasons.add(_mask(pc.match_substring(values, "\x00")), f"{label} contains a NUL character")
    capacity = pa.array(_capacity(frame, reasons), TEXT)
    properties = pa.array(_properties(frame, reserved, reasons), TEXT)
    for label, values in (("capacity", capacity), ("properties", properties)):  # jsonb holds no NUL either
        reasons.add(_mask(pc.match_substring(values, "\\u0000")), f"{label} contains a NUL character")
    if first_row is not None:
        duplicate = _mask(external.is_valid()) & (first_row != rows)
        reasons.add(
            duplicate,
            lambda at: [
                f"external id {e!r} repeats row {int(first)}"
                for e, first in zip(_at(external, at), first_row[at], strict=True)
            ],
        )
    if home_ids.null_count < len(home_ids):
        unknown = _mask(home_ids.is_valid()) & ~_mask(pc.is_in(home_ids, value_set=stations))
        reasons.add(unknown, lambda at: [f"home station {h} does not exist" for h in _at(home_ids, at)])
    geoms = frame.geometry.values
    not_points = shapely.get_type_id(geoms) != 0
    points = np.where(not_points, shapely.centroid(geoms), geoms) if not_points.any() else geoms
    bad = reasons.taken
    checked.rejected.extend(
        RowProblem(row=int(r), reason=str(why)) for r, why in zip(rows[bad], reasons.values[bad], strict=True)
    )

    def shown(values: pa.Array) -> pa.Array:
        return pc.utf8_slice_codeunits(values, 0, TEXT_CHARS)

    batch = pa.RecordBatch.from_arrays(
        [
            pa.array(rows, pa.int32()), type_key, shown(name), shown(name_zh), shown(name_en),
            capacity, home_ids, shown(agency), pc.if_else(is_unit, status, pa.scalar(None, TEXT)),
            row_source, external, properties, point_ewkb_array(points),
        ],
        names=list(COLUMNS),
    )  # fmt: skip
    return batch.filter(pa.array(~bad)) if bad.any() else batch


BIGINT = 2**63


def _home_station_ids(frame: pd.DataFrame, reasons: _Reasons) -> pa.Array:
    """The home station ids given (null where none is), whole numbers that fit a resource id."""
    text = _text(frame, "home_station_id")
    if text.null_count == len(text):
        return pa.nulls(len(frame), pa.int64())
    number = _numbers(text)
    reasons.add(
        _mask(text.is_valid()) & ~np.isfinite(number),
        lambda at: [f"home_station_id {g!r} is not a number" for g in _at(text, at)],
    )
    whole = _whole(number)
    reasons.add(
        np.isfinite(number) & ~whole, lambda at: [f"home_station_id {g!r} is not a resource id" for g in _at(text, at)]
    )
    return pa.array(np.where(whole, number, 0).astype(np.int64), pa.int64(), mask=~whole)


def _whole(number: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Which numbers can be a resource id: whole and within bigint."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(number) & (np.floor(number) == number) & (np.abs(number) < BIGINT)
