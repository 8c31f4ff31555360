"""Layer import and export, as the CLI and the upload endpoint call them (keyword-only, flush-only services)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid
from core.events import queue_event
from gis import repository
from gis.io.files import ZipLimits, clean_name
from gis.io.importer import RESERVED, require_rows, table_rows
from gis.io.layers import check_geometry, read_layer
from gis.io.load import CHUNK, Loaded, ahead, bulk_load, bulk_upsert
from gis.io.read_process import ReadLimits, release_memory
from gis.io.resource_rows import home_station_ids, resource_row_chunks
from gis.io.schemas import ExportFormat, ImportLimits, ImportReport, Layer, LayerKind
from gis.models import HazardZone, Jurisdiction, Resource, RoadWay

Progress = Callable[[int], None]


def zip_limits(limits: ImportLimits) -> ZipLimits:
    """How far a zip may expand, as the checks before a read take it."""
    return ZipLimits(max_total_bytes=limits.max_unzipped_bytes, max_ratio=limits.max_zip_ratio)


def read_limits(limits: ImportLimits) -> ReadLimits:
    """What the reader process may take, as it is told."""
    return ReadLimits(
        max_rows=limits.max_rows, max_seconds=limits.max_read_seconds, max_memory_mb=limits.max_read_memory_mb
    )


async def import_layer(
    session: AsyncSession,
    *,
    path: Path,
    kind: LayerKind,
    limits: ZipLimits,
    read_limits: ReadLimits | None = None,
    name: str | None = None,
    crs: str | None = None,
    zone_kind: str | None = None,
    buffer_m: float | None = None,
    strict: bool = False,
    on_read: Callable[[int], None] | None = None,
    on_progress: Progress | None = None,
) -> ImportReport:
    """Load one layer file into its table: every row loaded or reported, the file all or nothing.

    The file is read in a child process under ``read_limits`` (rows, seconds, memory; defaults: core.settings'),
    and the work on its rows runs in worker threads: the event loop only waits. ``strict``: any row that cannot be
    taken refuses the whole file (Invalid, with the report in ``extra``). ``on_read`` hears the number of rows
    read; ``on_progress`` the rows loaded so far, chunk by chunk.
    """
    try:
        return await _import_layer(
            session,
            path=path,
            kind=kind,
            limits=limits,
            read_limits=read_limits,
            name=clean_name(name or path.name),
            crs=crs,
            zone_kind=zone_kind,
            buffer_m=buffer_m,
            strict=strict,
            on_read=on_read,
            on_progress=on_progress,
        )
    finally:  # the frame and its rows are gone by now: hand their memory back
        await asyncio.to_thread(release_memory)


async def _import_layer(
    session: AsyncSession,
    *,
    path: Path,
    kind: LayerKind,
    limits: ZipLimits,
    read_limits: ReadLimits | None,
    name: str,
    crs: str | None,
    zone_kind: str | None,
    buffer_m: float | None,
    strict: bool,
    on_read: Callable[[int], None] | None,
    on_progress: Progress | None,
) -> ImportReport:
    frame, notes = await read_layer(path, name=name, crs=crs, zip_limits=limits, limits=read_limits)
    frame.columns = [str(c).lower() if c != frame.geometry.name else c for c in frame.columns]
    if on_read is not None:
        on_read(len(frame))
    checked = await asyncio.to_thread(check_geometry, frame, notes, polygons=kind is LayerKind.jurisdictions)
    del frame
    source = f"import:{name}"
    # All or nothing: rows are loaded as they are made, so a file refused afterwards (strict, or no good row)
    # is taken back out with the savepoint, whatever the caller then does with its transaction.
    savepoint = await session.begin_nested()
    try:
        if kind is LayerKind.resources:
            kinds = await repository.resource_types(session)
            stations = await _registered(session, await asyncio.to_thread(home_station_ids, checked))
            made = resource_row_chunks(
                checked, kinds=kinds, source=source, reserved=RESERVED, size=CHUNK, stations=stations
            )
            async with contextlib.aclosing(ahead(made)) as chunks:  # an error: the thread making the next chunk ends
                loaded = await bulk_load(session, kind, chunks, expected=len(checked.frame), on_progress=on_progress)
        else:
            rows = await asyncio.to_thread(
                table_rows, checked, kind, source=source, zone_kind=zone_kind, buffer_m=buffer_m
            )
            loaded = await bulk_upsert(session, kind, rows, on_progress=on_progress) if rows else Loaded(0, 0, False, 0)
        checked.rejected.sort(key=lambda p: p.row)
        report = ImportReport(
            kind=kind.value, file=name, rejected=checked.rejected, repaired=checked.repaired, notes=checked.notes
        )
        if strict and report.rejected:
            raise Invalid(
                f"{name}: {len(report.rejected)} row(s) cannot be imported; nothing was loaded",
                field="file",
                report=report.model_dump(mode="json"),
            )
        require_rows(loaded.rows, checked, name=name)
    except BaseException:
        await savepoint.rollback()
        raise
    await savepoint.commit()
    report.imported = loaded.rows
    report.notes.append(f"{loaded.inserted} added, {loaded.updated} updated, {loaded.unchanged} unchanged")
    if loaded.bulk:
        report.notes.append(f"loaded in bulk: the {kind.value} table was locked and its indexes built after the load")
    queue_event(session, type="layer.imported", data=_event_data(report, loaded.inserted, loaded.updated))
    return report


def _event_data(report: ImportReport, inserted: int, updated: int) -> dict[str, Any]:
    return {
        "kind": report.kind,
        "file": report.file,
        "imported": report.imported,
        "inserted": inserted,
        "updated": updated,
        "rejected": len(report.rejected),
        "repaired": len(report.repaired),
    }


async def _registered(session: AsyncSession, ids: set[int]) -> set[int]:
    """Which of ``ids`` are resources in the registry (a layer's home stations, looked up once, before its rows are
    made: the COPY that loads them holds the connection)."""
    if not ids:
        return set()
    return set(await session.scalars(select(Resource.id).where(Resource.id.in_(sorted(ids)))))


def _export_query(layer: Layer) -> Any:
    if layer is Layer.resources:
        geom = Resource.location
        columns = [c for c in Resource.__table__.c if c.name != "location"]
    elif layer is Layer.jurisdictions:
        geom = Jurisdiction.geom
        columns = [c for c in Jurisdiction.__table__.c if c.name != "geom"]
    elif layer is Layer.hazard_zones:
        geom = HazardZone.geom
        columns = [c for c in HazardZone.__table__.c if c.name not in ("geom", "area")]
    else:
        geom = RoadWay.geom
        columns = [c for c in RoadWay.__table__.c if c.name != "geom"]
    return select(*columns, func.ST_AsBinary(geom).label("wkb")).order_by(columns[0])


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, pd.Timestamp) or hasattr(value, "isoformat"):
        return value.isoformat()
    return value


async def export_layer(
    session: AsyncSession, *, layer: Layer, format: ExportFormat, directory: Path | None = None
) -> Path:
    """Write a whole layer to a GeoJSON or GeoPackage file (EPSG:4326) and return its path; the caller removes it.

    JSON columns (capacity, properties, tags) become JSON text, times RFC 3339 text, so that importing the file
    again gives the same rows.
    """
    rows = (await session.execute(_export_query(layer))).mappings().all()
    records = [{k: _cell(v) for k, v in row.items() if k != "wkb"} for row in rows]
    geometry = shapely.from_wkb([bytes(row["wkb"]) for row in rows]) if rows else []
    frame = gpd.GeoDataFrame(pd.DataFrame.from_records(records), geometry=gpd.GeoSeries(geometry), crs="EPSG:4326")
    directory = directory or Path(tempfile.mkdtemp(prefix="commandpost-export-"))
    suffix = ".geojson" if format is ExportFormat.geojson else ".gpkg"
    path = directory / f"{layer.value}{suffix}"
    driver = "GeoJSON" if format is ExportFormat.geojson else "GPKG"
    import pyogrio  # GDAL, loaded only by an export (writing our own rows): imports read files in a child process

    await asyncio.to_thread(pyogrio.write_dataframe, frame, path, driver=driver, layer=layer.value)
    return path
