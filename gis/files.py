"""What kind of layer file this is, and whether it is safe to open: formats by name and by content, zip bombs.

Nothing here trusts a file name: a file says what it is by its first bytes, and a zip says how large it would grow
before anything is expanded.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from core.errors import Invalid, TooLarge


class LayerFormat(StrEnum):
    geojson = "geojson"
    gpkg = "gpkg"
    shapefile_zip = "shapefile_zip"
    csv = "csv"


_BY_SUFFIX = {
    ".geojson": LayerFormat.geojson,
    ".json": LayerFormat.geojson,
    ".gpkg": LayerFormat.gpkg,
    ".zip": LayerFormat.shapefile_zip,
    ".csv": LayerFormat.csv,
    ".txt": LayerFormat.csv,
}
SQLITE_MAGIC = b"SQLite format 3\x00"
ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class ZipLimits:
    max_total_bytes: int
    max_ratio: float


def sniff_format(path: Path, *, name: str | None = None) -> LayerFormat:
    """The format of a layer file: its content decides, its name only breaks ties (GeoJSON vs CSV are both text)."""
    name = name or path.name
    with path.open("rb") as fh:
        head = fh.read(512)
    if not head:
        raise Invalid(f"{name} is empty", field="file")
    if head.startswith(SQLITE_MAGIC):
        return LayerFormat.gpkg
    if head.startswith(ZIP_MAGIC):
        return LayerFormat.shapefile_zip
    by_name = _BY_SUFFIX.get(Path(name).suffix.lower())
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        return LayerFormat.geojson
    if by_name in (LayerFormat.gpkg, LayerFormat.shapefile_zip):
        raise Invalid(f"{name} is not a readable {by_name.value} file (truncated or damaged?)", field="file")
    if by_name is LayerFormat.csv or (by_name is None and _looks_like_csv(head)):
        return LayerFormat.csv
    raise Invalid(
        f"{name}: unknown format (accepted: GeoJSON, GeoPackage, zipped Shapefile, CSV with lon/lat columns)",
        field="file",
    )


def _looks_like_csv(head: bytes) -> bool:
    try:
        first_line = head.decode("utf-8").splitlines()[0]
    except (UnicodeDecodeError, IndexError):
        return False
    return "," in first_line and "\x00" not in first_line


def check_zip(path: Path, *, limits: ZipLimits, name: str | None = None) -> str:
    """Refuse a zip that would expand past the limits; return the member to read (the .shp, or the one layer file).

    Sizes come from the central directory, checked before anything is decompressed. A directory that lies about
    them makes the later read fail on a CRC or size error, which is reported as a damaged file.
    """
    name = name or path.name
    try:
        with zipfile.ZipFile(path) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise Invalid(f"{name} is not a readable zip file: {exc}", field="file") from None
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if total > limits.max_total_bytes:
        raise TooLarge(
            f"{name} would expand to {total / 1e6:.0f} MB, more than the {limits.max_total_bytes / 1e6:.0f} MB allowed"
        )
    if total / packed > limits.max_ratio:
        raise TooLarge(
            f"{name} expands {total / packed:.0f}-fold, beyond the {limits.max_ratio:.0f}:1 allowed (zip bomb?)"
        )
    members = [i.filename for i in infos if not Path(i.filename).name.startswith((".", "__MACOSX"))]
    shps = [m for m in members if m.lower().endswith(".shp")]
    if len(shps) == 1:
        return shps[0]
    if len(shps) > 1:
        raise Invalid(f"{name} holds {len(shps)} shapefiles; upload one per zip", field="file")
    layers = [m for m in members if Path(m).suffix.lower() in (".geojson", ".json", ".gpkg")]
    if len(layers) == 1:
        return layers[0]
    raise Invalid(f"{name} holds no shapefile (.shp with its .shx and .dbf)", field="file")
