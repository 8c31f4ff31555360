"""What goes in and out of layer import and export: the kinds of layer, the limits a read runs under, and the
reports. Plain types, cheap to import: the web worker names them without loading GDAL, pandas or Arrow."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel, Field

from core.settings import Settings
from gis.roads.schemas import GraphReport


class LayerKind(StrEnum):
    """The layers a file can be imported into."""

    resources = "resources"
    jurisdictions = "jurisdictions"
    hazard_zones = "hazard_zones"


class Layer(StrEnum):
    """The layers that can be exported."""

    resources = "resources"
    jurisdictions = "jurisdictions"
    hazard_zones = "hazard_zones"
    roads = "roads"


class ExportFormat(StrEnum):
    geojson = "geojson"
    gpkg = "gpkg"


@dataclass(frozen=True)
class ImportLimits:
    """What reading one layer file may take: how large a zip may expand (bytes, and times its packed size), rows,
    wall-clock seconds and memory of the reader process (settings: ``max_unzipped_mb``, ``max_zip_ratio``,
    ``import_*``). The defaults are core.settings' defaults."""

    max_unzipped_bytes: int = 2_000_000_000
    max_zip_ratio: float = 100.0
    max_rows: int = 1_000_000
    max_read_seconds: float = 300.0
    max_read_memory_mb: int = 4096

    @classmethod
    def of(cls, settings: Settings) -> ImportLimits:
        """The limits the operator configured."""
        return cls(
            max_unzipped_bytes=settings.max_unzipped_mb * 1_000_000,
            max_zip_ratio=settings.max_zip_ratio,
            max_rows=settings.import_max_rows,
            max_read_seconds=settings.import_read_seconds,
            max_read_memory_mb=settings.import_read_memory_mb,
        )


class RowProblem(BaseModel):
    """One row a layer import could not take as it was, and why. ``row`` counts from 1 in file order."""

    row: int
    reason: str


class ImportReport(BaseModel):
    """What a layer or OSM import did: rows loaded, rows refused (and why), rows repaired (and how)."""

    kind: str
    file: str
    imported: int = 0
    rejected: list[RowProblem] = Field(default_factory=list)
    repaired: list[RowProblem] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


@dataclass
class OsmReport:
    """What an OpenStreetMap import loaded: facilities by type, jurisdictions, road ways, demo units, the boundaries
    it skipped (and why) and the routing graph it built."""

    file: str
    facilities: dict[str, int] = field(default_factory=dict)
    jurisdictions: int = 0
    roads: int = 0
    places: int = 0  # named things and addresses made searchable (GET /places)
    demo_units: int = 0
    incomplete_boundaries: list[str] = field(default_factory=list)
    graph: GraphReport | None = None
