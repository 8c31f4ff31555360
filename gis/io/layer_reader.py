"""The reader side of reading a layer file: only ever imported by the reader server (gis.io.read_server) and so
inherited by the readers it forks, never in the web process, so that GDAL is never loaded there.

Before GDAL opens anything it is cut off from the network (every virtual file system but /vsimem/ removed, proxies
pointed at a dead port) and left with one driver: the one the file's bytes call for. The file is checked and, if
zipped, taken out by Python first (gis.io.files, gis.io.geopackage). Rows are counted while reading; memory and CPU
time are capped by the kernel. The rows go back as an Arrow IPC file beside a small JSON result.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc
import pyogrio
import pyogrio._ogr
import shapely
from pyogrio.raw import read_arrow

from core.errors import CommandpostError, Invalid, TooLarge
from gis.io.files import LayerFormat, extract_layer, sniff_format
from gis.io.geopackage import feature_table
from gis.io.read_process import FRAME, RESULT, ReadJob

DRIVERS = {LayerFormat.geojson: "GeoJSON", LayerFormat.gpkg: "GPKG", LayerFormat.shapefile: "ESRI Shapefile"}
KEPT_FILE_SYSTEMS = {b"/vsimem/"}  # the process's own memory: drivers may use it for scratch space
DEAD_PROXY = "127.0.0.1:9"  # the discard port: nothing listens there, so a request that slips through fails
NETWORK_OFF = {
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".commandpost-no-network",
    "GDAL_HTTP_PROXY": DEAD_PROXY,
    "GDAL_HTTPS_PROXY": DEAD_PROXY,
    "GDAL_HTTP_TIMEOUT": "1",
    "GDAL_HTTP_CONNECTTIMEOUT": "1",
    "GDAL_HTTP_MAX_RETRY": "0",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_VRT_ENABLE_PYTHON": "NO",
    "OGR_SQLITE_ALLOW_EXTERNAL_ACCESS": "NO",
    "ALLOW_VIRTUAL_OGR_FROM_TRIGGER_AND_VIEW": "NO",
    "GDAL_PAM_ENABLED": "NO",
}
# curl honours these itself; no_proxy would let a local address bypass the dead proxy.
PROXY_VARIABLES = ("no_proxy", "NO_PROXY", "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                   "ALL_PROXY", "ftp_proxy", "FTP_PROXY")  # fmt: skip
GDAL_ERRORS = (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, UnicodeDecodeError, ValueError, OSError)
CSV_ERRORS = (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError)
LON_NAMES = ("lon", "lng", "long", "longitude", "x")
LAT_NAMES = ("lat", "latitude", "y")


def run(job: ReadJob) -> None:
    """Read ``job``'s file into ``job.workdir`` (the process's whole life; it exits when this returns).

    Any other exception is a fault of ours, not of the file: the reader prints it and exits without a result,
    which the parent answers as "could not be read" (gis.io.read_server)."""
    _limit_resources(job)
    _network_off()
    try:
        result: dict[str, Any] = _read(job)
    except CommandpostError as exc:
        result = {"error": exc.code, "detail": exc.detail, "field": getattr(exc, "field", None)}
    except MemoryError:
        detail = (
            f"{job.name} needs more memory to read than the {job.limits.max_memory_mb} MB allowed "
            "(COMMANDPOST_IMPORT_READ_MEMORY_MB)"
        )
        result = {"error": TooLarge.code, "detail": detail, "field": "file"}
    (Path(job.workdir) / RESULT).write_text(json.dumps(result), encoding="utf-8")


def _limit_resources(job: ReadJob) -> None:
    memory = job.limits.max_memory_mb * 2**20
    cpu = int(job.limits.max_seconds) + 1  # a backstop: the parent kills the process at the wall-clock limit
    for which, soft, hard in (
        (resource.RLIMIT_AS, memory, memory),
        (resource.RLIMIT_CPU, cpu, cpu + 5),
        (resource.RLIMIT_CORE, 0, 0),
    ):
        _, ceiling = resource.getrlimit(which)
        if ceiling != resource.RLIM_INFINITY:
            soft, hard = min(soft, ceiling), min(hard, ceiling)
        resource.setrlimit(which, (soft, hard))


def _network_off() -> None:
    for name in PROXY_VARIABLES:
        os.environ.pop(name, None)
    os.environ["PROJ_NETWORK"] = "OFF"
    os.environ.update(NETWORK_OFF)  # GDAL reads its options from the environment too
    pyogrio.set_gdal_config_options(NETWORK_OFF)


def _gdal() -> ctypes.CDLL:
    """GDAL's C API: looked up through pyogrio's own extension module, which links the very libgdal it uses."""
    gdal = ctypes.CDLL(pyogrio._ogr.__file__)
    gdal.GDALGetDriverCount.restype = ctypes.c_int
    gdal.GDALGetDriver.restype = ctypes.c_void_p
    gdal.GDALGetDriver.argtypes = [ctypes.c_int]
    gdal.GDALGetDriverShortName.restype = ctypes.c_char_p
    gdal.GDALGetDriverShortName.argtypes = [ctypes.c_void_p]
    gdal.GDALDeregisterDriver.argtypes = [ctypes.c_void_p]
    gdal.VSIGetFileSystemsPrefixes.restype = ctypes.POINTER(ctypes.c_char_p)
    gdal.VSIRemovePluginHandler.argtypes = [ctypes.c_char_p]
    return gdal


def only_driver(keep: str | None) -> list[str]:
    """Deregister every GDAL driver but ``keep`` (None: all of them) and remove every virtual file system but
    /vsimem/, then check it took: returns the drivers left. Irreversible in this process, which reads one file."""
    gdal = _gdal()
    for index in reversed(range(gdal.GDALGetDriverCount())):
        driver = gdal.GDALGetDriver(index)
        if gdal.GDALGetDriverShortName(driver).decode() != keep:
            gdal.GDALDeregisterDriver(driver)
    prefixes = gdal.VSIGetFileSystemsPrefixes()
    found: list[bytes] = []
    while prefixes[len(found)]:
        found.append(prefixes[len(found)])
    for prefix in found:
        if prefix not in KEPT_FILE_SYSTEMS:
            gdal.VSIRemovePluginHandler(prefix)
    left = [gdal.GDALGetDriverShortName(gdal.GDALGetDriver(i)).decode() for i in range(gdal.GDALGetDriverCount())]
    if left != ([keep] if keep else []):
        raise RuntimeError(f"GDAL drivers left registered: {left}")
    return left


def _read(job: ReadJob) -> dict[str, Any]:
    path, name, workdir = Path(job.path).resolve(), job.name, Path(job.workdir)
    fmt = sniff_format(path, name=name)
    notes: list[str] = []
    if fmt is LayerFormat.csv:
        only_driver(None)
        table, meta = _read_csv(path, name=name, max_rows=job.limits.max_rows)
    else:
        layer = None
        if fmt is LayerFormat.shapefile_zip:
            (workdir / "layer").mkdir()
            path, fmt = extract_layer(path, into=workdir / "layer", limits=job.zip_limits, name=name)
        if fmt is LayerFormat.gpkg:
            layer, notes = feature_table(path, name=name)
        only_driver(DRIVERS[fmt])
        table, meta = _read_gdal(path, layer=layer, name=name, fmt=fmt, max_rows=job.limits.max_rows)
    if table.num_rows > job.limits.max_rows:
        raise TooLarge(
            f"{name} has more than the {job.limits.max_rows:,} rows allowed in one import (COMMANDPOST_IMPORT_MAX_ROWS)"
        )
    with pa.OSFile(str(workdir / FRAME), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return {"rows": table.num_rows, "meta": meta, "notes": notes}


def _read_gdal(
    path: Path, *, layer: str | None, name: str, fmt: LayerFormat, max_rows: int
) -> tuple[pa.Table, dict[str, Any]]:
    """GDAL's Arrow stream, as pyogrio.read_dataframe asks for it (datetimes as text), one row past the limit."""
    try:
        meta, table = read_arrow(str(path), layer=layer, max_features=max_rows + 1, datetime_as_string=True)
    except GDAL_ERRORS as exc:
        raise Invalid(f"cannot read {name} as {fmt.value}: {_first_line(exc)}", field="file") from None
    kept = {key: meta[key] for key in ("crs", "geometry_name")}
    for key in ("fields", "dtypes", "ogr_subtypes"):
        kept[key] = [None if v is None else str(v) for v in meta[key]]
    return table, kept


def _read_csv(path: Path, *, name: str, max_rows: int) -> tuple[pa.Table, dict[str, Any]]:
    """A CSV with lon/lat columns, read by pandas as text; the points go as WKB like GDAL's."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", nrows=max_rows + 1)
    except CSV_ERRORS as exc:
        raise Invalid(f"cannot read {name} as csv: {_first_line(exc)}", field="file") from None
    columns = {c.lower().strip(): c for c in table.columns}
    lon_col = next((columns[n] for n in LON_NAMES if n in columns), None)
    lat_col = next((columns[n] for n in LAT_NAMES if n in columns), None)
    if lon_col is None or lat_col is None:
        raise Invalid(f"{name}: a CSV layer needs lon and lat columns (e.g. 'lon,lat' or 'longitude,latitude')")
    lon = pd.to_numeric(table[lon_col].str.strip(), errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(table[lat_col].str.strip(), errors="coerce").to_numpy(dtype=float)
    geometry = shapely.points(lon, lat)
    geometry[~(np.isfinite(lon) & np.isfinite(lat))] = None
    rest = table.drop(columns=[lon_col, lat_col]).replace("", None)
    geometry_name = "geometry"
    while geometry_name in rest.columns:  # a column of the file may have the name
        geometry_name += "_"
    arrow = pa.Table.from_pandas(rest, preserve_index=False)
    arrow = arrow.append_column(geometry_name, pa.array(shapely.to_wkb(geometry), pa.binary()))
    fields = [str(c) for c in rest.columns]
    meta = {"crs": None, "geometry_name": geometry_name, "fields": fields, "dtypes": [None] * len(fields),
            "ogr_subtypes": ["OFSTNone"] * len(fields)}  # fmt: skip
    return arrow, meta


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
