"""Resource rows from a checked layer, column by column (a 100,000-row file must not cost a Python loop per row).

The same rules as a single resource: a known type, a name (``name``, else ``name_zh``, else ``name_en``), a status
only for units (``available`` when none is given), capacity from ``capacity`` JSON and the ``beds``/``places``/...
columns, every other column kept in ``properties``. The first broken rule of a row is its reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import shapely

from gis.layers import CheckedLayer
from gis.models import UnitStatus
from gis.schemas import RowProblem

CAPACITY_COLUMNS = ("beds", "places", "shelter_places", "stock")


def _text(frame: pd.DataFrame, *names: str) -> pd.Series:
    """The first of ``names`` present, as stripped text, blanks as None (object dtype)."""
    for name in names:
        if name in frame.columns:
            values = frame[name].astype("string").str.strip()
            return values.astype(object).where(values.notna() & (values != ""), None)
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


class _Reasons:
    """The first reason per row: a later rule never overwrites an earlier one.

    A reason that names the row's value is a function of the rows it concerns, called only for those rows (most
    files have none, and formatting a message for each of 100,000 rows costs more than checking them).
    """

    def __init__(self, index: pd.Index) -> None:
        self.values = pd.Series("", index=index, dtype=object)
        self.taken = np.zeros(len(index), dtype=bool)

    def add(self, mask: pd.Series, reason: str | Callable[[pd.Series], pd.Series]) -> None:
        fresh = mask.to_numpy(dtype=bool, na_value=False) & ~self.taken
        if not fresh.any():
            return
        rows = mask.index[fresh]
        self.values[rows] = reason if isinstance(reason, str) else reason(rows)
        self.taken |= fresh


def _json_objects(frame: pd.DataFrame, name: str, reasons: _Reasons) -> pd.Series:
    """A column of JSON objects: dicts (GDAL reads JSON-valued properties as such) or JSON text."""
    parsed = pd.Series([{}] * len(frame), index=frame.index, dtype=object)
    if name not in frame.columns:
        return parsed
    bad = pd.Series(False, index=frame.index)
    for i, value in frame[name].items():
        if (
            value is None
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


def _capacity(frame: pd.DataFrame, reasons: _Reasons) -> list[str]:
    present = [c for c in CAPACITY_COLUMNS if c in frame.columns]
    if "capacity" not in frame.columns and not present:
        return ["{}"] * len(frame)
    base = _json_objects(frame, "capacity", reasons)
    numbers = {}
    for column in present:
        text = _text(frame, column)
        number = pd.to_numeric(text, errors="coerce")
        reasons.add(text.notna() & number.isna(), f"{column} is not a number")
        numbers[column] = number
    out = []
    for i, obj in base.items():
        capacity = dict(obj)
        for column, number in numbers.items():
            value = number[i]
            if pd.notna(value):
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
    """2-D points as EWKB with SRID 4326 (what PostGIS takes in binary). Giving every geometry an SRID first
    (``shapely.set_srid``) copies them all and cost four times the WKB itself; a 2-D point's WKB is 21 bytes
    (byte order, type, x, y), so its EWKB is a fixed header (the SRID flag on the type, then the SRID) and its x, y.
    """
    wkb = shapely.to_wkb(points, output_dimension=2, byte_order=1)  # little-endian
    if len(wkb) == 0 or not np.all(shapely.get_type_id(points) == 0) or shapely.is_empty(points).any():
        return shapely.to_wkb(shapely.set_srid(points, 4326), include_srid=True, output_dimension=2, byte_order=1)
    coordinates = np.frombuffer(b"".join(wkb), dtype=np.uint8).reshape(-1, 21)[:, 5:]
    ewkb = np.empty((len(wkb), 25), dtype=np.uint8)
    ewkb[:, :9] = np.frombuffer(_EWKB_POINT, dtype=np.uint8)
    ewkb[:, 9:] = coordinates
    blob = ewkb.tobytes()
    out = np.empty(len(wkb), dtype=object)
    out[:] = [blob[i : i + 25] for i in range(0, len(blob), 25)]
    return out


def resource_rows(
    checked: CheckedLayer, *, kinds: dict[str, str], source: str, reserved: set[str]
) -> list[tuple[Any, ...]]:
    """``(file row, type, name, name_zh, name_en, capacity, home_station_id, agency, status, source, external_id,
    properties, ewkb)`` for each good row (the point as EWKB, SRID 4326 in it); the others go to
    ``checked.rejected``."""
    size = max(len(checked.frame), 1)
    chunks = resource_row_chunks(checked, kinds=kinds, source=source, reserved=reserved, size=size)
    return [row for chunk in chunks for row in chunk]


def resource_row_chunks(
    checked: CheckedLayer, *, kinds: dict[str, str], source: str, reserved: set[str], size: int
) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of ``resource_rows``, made ``size`` file rows at a time, so that a loader can COPY one chunk while
    the next is made. What spans the file (an external id that repeats an earlier row's, the count of geometries
    moved to their centroid) is worked out once, before the first chunk."""
    frame = checked.frame
    row_source = _text(frame, "source").fillna(source)
    external = _text(frame, "external_id")
    first_row = frame["row"].groupby([row_source, external]).transform("first") if external.notna().any() else None
    moved = int((shapely.get_type_id(frame.geometry.values) != 0).sum())
    if moved:
        checked.notes.append(f"{moved} non-point geometries placed at their centroid")
    for start in range(0, len(frame), size):
        part = frame.iloc[start : start + size]
        firsts = None if first_row is None else first_row.iloc[start : start + size]
        yield _rows(
            checked,
            part,
            kinds=kinds,
            reserved=reserved,
            row_source=row_source.iloc[start : start + size],
            external=external.iloc[start : start + size],
            first_row=firsts,
        )


def _rows(
    checked: CheckedLayer,
    frame: pd.DataFrame,
    *,
    kinds: dict[str, str],
    reserved: set[str],
    row_source: pd.Series,
    external: pd.Series,
    first_row: pd.Series | None,
) -> list[tuple[Any, ...]]:
    reasons = _Reasons(frame.index)
    type_key = _text(frame, "type", "resource_type")
    reasons.add(type_key.isna(), "missing type")
    known = type_key.isin(list(kinds))
    reasons.add(~known, lambda rows: "unknown type " + type_key[rows].map(repr))
    name = _text(frame, "name").fillna(_text(frame, "name_zh")).fillna(_text(frame, "name_en"))
    reasons.add(name.isna(), "missing name")
    status = _text(frame, "status")
    is_unit = type_key.isin([key for key, kind in kinds.items() if kind == "unit"])
    status = status.where(~is_unit | status.notna(), UnitStatus.available.value)
    reasons.add(
        is_unit & ~status.isin(list(UnitStatus.__members__)), lambda rows: "unknown status " + status[rows].map(repr)
    )
    reasons.add(
        known & ~is_unit & status.notna(),
        lambda rows: (
            "a " + type_key[rows].astype(str) + " is a facility and has no status (got " + status[rows].map(repr) + ")"
        ),
    )
    status = status.where(is_unit, None)
    home_text = _text(frame, "home_station_id")
    home = pd.to_numeric(home_text, errors="coerce")
    reasons.add(
        home_text.notna() & home.isna(),
        lambda rows: "home_station_id " + home_text[rows].map(repr) + " is not a number",
    )
    capacity = _capacity(frame, reasons)
    properties = _properties(frame, reserved, reasons)
    if first_row is not None:
        duplicate = external.notna() & (first_row != frame["row"])
        reasons.add(
            duplicate,
            lambda rows: "external id " + external[rows].map(repr) + " repeats row " + first_row[rows].astype(str),
        )
    geoms = frame.geometry.values
    not_points = shapely.get_type_id(geoms) != 0
    points = np.where(not_points, shapely.centroid(geoms), geoms) if not_points.any() else geoms
    wkb = point_ewkb(points)
    bad = reasons.taken
    checked.rejected.extend(
        RowProblem(row=int(r), reason=str(why))
        for r, why in zip(frame["row"].to_numpy()[bad], reasons.values.to_numpy()[bad], strict=True)
    )
    keep = ~bad
    home_values = home.to_numpy(dtype=float, na_value=np.nan)[keep]
    home_ids = (
        [None if v != v else int(v) for v in home_values] if home_text.notna().any() else [None] * len(home_values)
    )
    columns = [
        frame["row"].to_numpy()[keep].tolist(), type_key.to_numpy()[keep], name.str.slice(0, 200).to_numpy()[keep],
        _text(frame, "name_zh").to_numpy()[keep], _text(frame, "name_en").to_numpy()[keep],
        np.asarray(capacity, dtype=object)[keep], home_ids, _text(frame, "agency").to_numpy()[keep],
        status.to_numpy()[keep], row_source.to_numpy()[keep], external.to_numpy()[keep],
        np.asarray(properties, dtype=object)[keep], wkb[keep],
    ]  # fmt: skip
    return list(zip(*columns, strict=True))
