"""``commandpost import-osm`` and ``commandpost import-layer``: map data from files into the registry.

gis (and with it geopandas, pyogrio and pyarrow) is imported inside each command, only when it runs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from web.cli.common import Failure, load_settings, say, unit_of_work

if TYPE_CHECKING:
    from tqdm import tqdm

    from core.settings import Settings

# gis.schemas.LayerKind's values, spelt out so that `--help` loads no gis (tests/web/test_cli_usage.py checks).
LAYER_KINDS = ("resources", "jurisdictions", "hazard_zones")


def _existing_file(file: str) -> Path:
    path = Path(file)
    if not path.is_file():
        raise Failure(f"no such file: {path}")
    return path


@click.command("import-osm", short_help="import an OpenStreetMap extract (.osm, .osm.bz2, .osm.pbf)")
@click.argument("file")
@click.option("--demo-units", is_flag=True, help="Also place synthetic units at the stations.")
def import_osm_command(file: str, demo_units: bool) -> None:
    """Import an OpenStreetMap extract FILE (.osm, .osm.bz2, .osm.pbf): facilities, boundaries, roads, the
    road graph, and the places to search (every named thing and address, with all its name:* variants)."""
    settings = load_settings()
    asyncio.run(_import_osm(settings, path=Path(file), demo_units=demo_units))  # gis refuses a missing file


async def _import_osm(settings: Settings, *, path: Path, demo_units: bool) -> None:
    from core.audit import record_audit
    from gis import service as gis

    async with unit_of_work(settings) as session:
        speeds = gis.road_speeds(overrides=settings.road_speeds_kmh)
        report = await gis.import_osm(session, path=path, demo_units=demo_units, speeds=speeds)
        await record_audit(
            session,
            action="layers.import_osm",
            outcome="ok",
            actor="cli",
            target={"file": path.name, "demo_units": report.demo_units},
        )
    facilities = ", ".join(f"{n} {t}" for t, n in sorted(report.facilities.items())) or "none"
    say(f"imported from {report.file}: facilities: {facilities}")
    say(f"  jurisdictions: {report.jurisdictions}, road ways: {report.roads}, demo units: {report.demo_units}")
    say(f"  places to search (streets, named places, facilities, addresses, stations): {report.places}")
    for reason in report.incomplete_boundaries:
        say(f"  skipped incomplete boundary {reason}")
    if report.graph is not None:
        say(f"  road graph: {report.graph.summary()}")


@click.command("import-layer", short_help="import a layer file (GeoJSON, GeoPackage, zipped Shapefile, CSV)")
@click.argument("file")
@click.option("--kind", required=True, type=click.Choice(LAYER_KINDS), help="What the rows are.")
@click.option("--crs", help="The CRS of a file that names none (e.g. EPSG:32648).")
@click.option("--zone-kind", help="Hazard zones: the kind of rows without a 'kind' column.")
@click.option("--buffer-m", type=float, help="Hazard zones: the buffer of rows without 'buffer_m'.")
@click.option("--strict", is_flag=True, help="Refuse the whole file if any row is bad.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def import_layer_command(
    file: str, kind: str, crs: str | None, zone_kind: str | None, buffer_m: float | None, strict: bool, quiet: bool
) -> None:
    """Import a layer FILE (GeoJSON, GeoPackage, zipped Shapefile, CSV with lon/lat); bad rows are reported
    and left out, or refuse the whole file with --strict."""
    settings = load_settings()
    path = _existing_file(file)
    asyncio.run(
        _import_layer(
            settings, path=path, kind=kind, quiet=quiet, crs=crs, zone_kind=zone_kind, buffer_m=buffer_m, strict=strict
        )
    )


async def _import_layer(
    settings: Settings,
    *,
    path: Path,
    kind: str,
    quiet: bool,
    crs: str | None,
    zone_kind: str | None,
    buffer_m: float | None,
    strict: bool,
) -> None:
    from tqdm import tqdm

    from core.audit import record_audit
    from gis import service as gis
    from gis.schemas import ImportLimits, LayerKind

    with tqdm(desc=f"importing {path.name}", unit="row", disable=quiet) as bar:
        async with unit_of_work(settings) as session:
            report = await gis.import_layer(
                session,
                path=path,
                kind=LayerKind(kind),
                limits=ImportLimits.of(settings),
                crs=crs,
                zone_kind=zone_kind,
                buffer_m=buffer_m,
                strict=strict,
                on_read=lambda n: _set_total(bar, n),
                on_progress=lambda n: _advance(bar, n),
            )
            target = {"kind": kind, "file": path.name, "imported": report.imported}
            await record_audit(session, action="layers.import", outcome="ok", actor="cli", target=target)
    say(f"imported {report.imported} {kind} from {report.file}")
    for note in report.notes:
        say(f"  note: {note}")
    for problem in report.repaired:
        say(f"  repaired row {problem.row}: {problem.reason}")
    for problem in report.rejected:
        say(f"  rejected row {problem.row}: {problem.reason}")
    if report.rejected:
        say(f"{len(report.rejected)} row(s) rejected")


def _set_total(bar: tqdm[Any], total: int) -> None:
    bar.total = total
    bar.refresh()


def _advance(bar: tqdm[Any], rows: int) -> None:
    bar.update(rows)
