"""The GeoDataFrame of a layer a reader process read (gis.io.read_process): what ``pyogrio.read_dataframe(...,
use_arrow=True)`` makes of the same Arrow table, column for column. pyogrio's own code cannot run here: importing
it loads GDAL, which stays out of the web process.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from pyproj.exceptions import CRSError

from core.errors import Invalid
from gis.io.read_process import RawLayer


def frame_from_arrow(raw: RawLayer, *, name: str) -> gpd.GeoDataFrame:
    """The layer as a GeoDataFrame in its own CRS. Text that is not UTF-8, geometry that is not WKB and an unknown
    CRS are the file's faults, answered as such. ``raw`` is spent: its table's buffers go to the frame."""
    meta = raw.meta
    table, raw.table = raw.table, pa.table({})  # to_pandas(self_destruct) leaves the table unusable
    geometry_name = meta["geometry_name"] or "wkb_geometry"
    wkb = None
    if geometry_name in table.column_names:
        wkb = table.column(geometry_name)
        table = table.drop_columns([geometry_name])
    try:
        frame = table.to_pandas(self_destruct=True)
        del table
        geometry = _geometries(wkb) if wkb is not None else np.full(len(frame), None, dtype=object)
        frame = _as_pyogrio_types(frame, meta)
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, index=frame.index), crs=meta["crs"])
    except UnicodeDecodeError:
        raise Invalid(f"cannot read {name}: its text is not UTF-8 (nor declared in another encoding)") from None
    except (shapely.errors.GEOSException, ValueError, TypeError, CRSError) as exc:
        text = str(exc).strip().splitlines()
        raise Invalid(f"cannot read {name}: {text[0][:300] if text else type(exc).__name__}", field="file") from None


def _as_pyogrio_types(frame: pd.DataFrame, meta: dict[str, Any]) -> pd.DataFrame:
    """Datetimes that GDAL gave as text parsed, JSON fields parsed, as pyogrio does by default."""
    for dtype, column in zip(meta["dtypes"], meta["fields"], strict=True):
        if dtype is not None and dtype.startswith("datetime") and dtype != "datetime64[D]":
            frame[column] = _datetimes(frame[column])
    for subtype, column in zip(meta["ogr_subtypes"], meta["fields"], strict=True):
        if subtype == "OFSTJSON" and pd.api.types.infer_dtype(frame[column]) == "string":
            with contextlib.suppress(ValueError):  # pyogrio too leaves a column that is not all JSON as text
                frame[column] = frame[column].map(json.loads, na_action="ignore")
    return frame


def _datetimes(values: pd.Series[Any]) -> pd.Series[Any]:
    """A datetime column GDAL gave as ISO 8601 text, parsed as pyogrio does by default: mixed offsets in UTC,
    millisecond precision; text that does not parse stays text."""
    try:
        parsed = pd.to_datetime(values, format="ISO8601")
    except (ValueError, TypeError, OverflowError) as exc:
        if "Mixed timezones" not in str(exc):
            return values
        try:
            parsed = pd.to_datetime(values, utc=True, format="ISO8601")
        except (ValueError, TypeError, OverflowError):
            return values
    return parsed.dt.as_unit("ms") if parsed.dtype.kind == "M" else parsed


def _geometries(wkb: pa.ChunkedArray) -> np.ndarray[Any, Any]:
    values = wkb.combine_chunks()
    if isinstance(values, pa.ExtensionArray):
        values = values.storage
    return np.asarray(shapely.from_wkb(values.to_numpy(zero_copy_only=False)), dtype=object)
