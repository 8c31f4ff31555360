"""Reading a layer file into checked rows: GeoJSON, GeoPackage, zipped Shapefile or CSV (read in a child process:
gis.io.read_process), any CRS (reprojected to EPSG:4326), and a report of each row that could not be taken as it was,
instead of failing the file or dropping rows in silence.

Policy for bad geometry: a self-intersecting (invalid) polygon is repaired with GEOS MakeValid (the algorithm
behind PostGIS ``ST_MakeValid``) and listed under ``repaired``; a row is rejected when the repair leaves no area of
the kind the layer needs, when the geometry is missing, or when coordinates are outside lon/lat ranges.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from core.errors import Invalid
from gis.io.arrow_frame import frame_from_arrow
from gis.io.files import ZipLimits
from gis.io.read_process import ReadJob, ReadLimits, read_in_child
from gis.io.schemas import RowProblem

log = logging.getLogger(__name__)

WGS84 = CRS.from_epsg(4326)


@dataclass
class CheckedLayer:
    """The rows of a file that passed, with their geometry in EPSG:4326, and what happened to the others.

    ``rows`` keeps the file's row numbers (from 1) in ``row``; ``rejected``/``repaired`` refer to them.
    """

    frame: gpd.GeoDataFrame
    rejected: list[RowProblem] = field(default_factory=list)
    repaired: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def reject(self, mask: np.ndarray[Any, Any], reason: str | np.ndarray[Any, Any]) -> None:
        """Move the rows under ``mask`` from ``frame`` to ``rejected`` with a reason (one, or one per row)."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        rows = self.frame["row"].to_numpy()[mask]
        reasons = [reason] * len(rows) if isinstance(reason, str) else list(np.asarray(reason)[mask])
        self.rejected.extend(RowProblem(row=int(r), reason=str(why)) for r, why in zip(rows, reasons, strict=True))
        self.frame = self.frame.loc[~mask].reset_index(drop=True)


async def read_layer(
    path: Path,
    *,
    name: str | None = None,
    crs: str | None = None,
    zip_limits: ZipLimits,
    limits: ReadLimits | None = None,
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Read any supported layer file into a GeoDataFrame in its own CRS, plus notes on what was assumed.

    The file is read in a child process (gis.io.read_process); the frame is made from its rows in a worker thread.
    """
    name = name or path.name
    with tempfile.TemporaryDirectory(prefix="commandpost-read-") as workdir:
        job = ReadJob(path=str(path), name=name, workdir=workdir, zip_limits=zip_limits, limits=limits or ReadLimits())
        raw = await read_in_child(job)
        frame = await asyncio.to_thread(frame_from_arrow, raw, name=name)
    notes = list(raw.notes)
    if crs is not None:
        try:
            frame = frame.set_crs(CRS.from_user_input(crs), allow_override=True)
        except CRSError as exc:
            raise Invalid(f"unknown CRS {crs!r}: {_first_line(exc)}", field="crs") from None
    elif frame.crs is None:
        frame = frame.set_crs(WGS84)
        notes.append("the file names no CRS: coordinates taken as lon/lat (EPSG:4326)")
    return frame, notes


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def check_geometry(frame: gpd.GeoDataFrame, notes: list[str], *, polygons: bool) -> CheckedLayer:
    """Reproject to EPSG:4326, reject rows without usable coordinates, repair invalid polygons.

    ``polygons``: the layer needs areas (jurisdictions), so repair keeps only the polygonal part.
    """
    frame = frame.rename_geometry("geometry") if frame.geometry.name != "geometry" else frame
    frame = frame.reset_index(drop=True)
    frame.insert(0, "row", np.arange(1, len(frame) + 1))
    checked = CheckedLayer(frame=frame, notes=list(notes))
    geoms = checked.frame.geometry.values
    checked.reject(shapely.is_missing(geoms) | shapely.is_empty(geoms), "missing geometry (no coordinates)")
    if checked.frame.crs is not None and not CRS(checked.frame.crs).equals(WGS84, ignore_axis_order=True):
        source = CRS(checked.frame.crs)
        checked.notes.append(f"reprojected from {source.to_string()} to EPSG:4326")
        checked.frame = checked.frame.to_crs(WGS84)
    _reject_out_of_range(checked)
    _repair_invalid(checked, polygons=polygons)
    return checked


def _reject_out_of_range(checked: CheckedLayer) -> None:
    bounds = shapely.bounds(checked.frame.geometry.values)
    finite = np.isfinite(bounds).all(axis=1)
    checked.reject(~finite, "coordinates are not numbers")
    if not len(checked.frame):
        return
    bounds = shapely.bounds(checked.frame.geometry.values)
    minx, miny, maxx, maxy = bounds[:, 0], bounds[:, 1], bounds[:, 2], bounds[:, 3]
    lat_bad = (miny < -90) | (maxy > 90)
    lon_bad = (minx < -180) | (maxx > 180)
    # A latitude beyond ±90 that would be a fine longitude, next to a longitude that would be a fine latitude:
    # the pair was written lat, lon.
    swapped = lat_bad & ~lon_bad & (minx >= -90) & (maxx <= 90) & (miny >= -180) & (maxy <= 180)
    bad = lat_bad | lon_bad
    reasons = np.full(len(bad), "", dtype=object)
    for i in np.flatnonzero(bad):
        x, y = minx[i], miny[i]
        reasons[i] = (
            f"coordinates look swapped (lat/lon): x={x:.6g}, y={y:.6g}; longitude comes first"
            if swapped[i]
            else f"coordinates out of range for lon/lat: x={x:.6g}, y={y:.6g} (a projected CRS not declared?)"
        )
    checked.reject(bad, reasons)


def _repair_invalid(checked: CheckedLayer, *, polygons: bool) -> None:
    geoms = checked.frame.geometry.values
    invalid = ~shapely.is_valid(geoms)
    if not invalid.any():
        return
    idx = np.flatnonzero(invalid)
    reasons = shapely.is_valid_reason(geoms[idx])
    repaired = shapely.make_valid(geoms[idx])
    if polygons:
        repaired = np.array([_polygonal(g) for g in repaired], dtype=object)
    ok = ~(shapely.is_missing(repaired) | shapely.is_empty(repaired))
    rows = checked.frame["row"].to_numpy()
    new_geoms = np.array(geoms, dtype=object)
    new_geoms[idx[ok]] = repaired[ok]
    checked.frame = checked.frame.set_geometry(
        gpd.GeoSeries(new_geoms, crs=checked.frame.crs, index=checked.frame.index)
    )
    for row, why in zip(rows[idx[ok]], np.asarray(reasons)[ok], strict=True):
        checked.repaired.append(RowProblem(row=int(row), reason=f"invalid geometry ({why}) repaired with MakeValid"))
    bad = np.zeros(len(checked.frame), dtype=bool)
    bad[idx[~ok]] = True
    why_bad = np.full(len(bad), "", dtype=object)
    why_bad[idx[~ok]] = [f"invalid geometry that cannot be repaired ({r})" for r in np.asarray(reasons)[~ok]]
    checked.reject(bad, why_bad)


def _polygonal(geometry: shapely.Geometry | None) -> shapely.Geometry | None:
    """The polygon parts of a repaired geometry (MakeValid may add slivers of lines or points)."""
    if geometry is None:
        return None
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    parts = [g for g in getattr(geometry, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else None
