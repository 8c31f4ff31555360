"""What kind of layer file this is, and whether it may be opened: formats by content, zip bombs, a zipped layer
taken out of its archive under names we choose.

Nothing here trusts a file name: a file says what it is by its first bytes (the name only tells GeoJSON from CSV
text), a zip says how large it would grow before anything is expanded, and a path inside an archive is never used
as a path.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath

from core.errors import Invalid, TooLarge


class LayerFormat(StrEnum):
    geojson = "geojson"
    gpkg = "gpkg"
    shapefile_zip = "shapefile_zip"
    shapefile = "shapefile"  # taken out of its zip: a .shp with its .shx and .dbf beside it
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
SHAPEFILE_MAGIC = b"\x00\x00\x27\x0a"  # the file code 9994, big-endian, that opens a .shp and a .shx
# The SQLite header's application_id (offset 68): GeoPackage 1.2 and later, 1.1, 1.0.
GEOPACKAGE_IDS = (b"GPKG", b"GP11", b"GP10")
NAME_CHARS = 100


@dataclass(frozen=True)
class ZipLimits:
    max_total_bytes: int
    max_ratio: float


def clean_name(raw: str | None) -> str:
    """A client's file name fit to show in a report, an audit row or a row's ``source``: its last path part, no
    control characters, at most 100 characters (the suffix kept). Never a path: files get names we choose."""
    last = re.split(r"[/\\]", raw or "")[-1]
    name = "".join(c for c in last if c.isprintable()).strip()
    if name in ("", ".", ".."):
        return "upload"
    if len(name) > NAME_CHARS:
        suffix = PurePosixPath(name).suffix
        suffix = suffix if len(suffix) <= 10 else ""
        name = name[: NAME_CHARS - len(suffix)] + suffix
    return name


def sniff_format(path: Path, *, name: str | None = None) -> LayerFormat:
    """The format of a layer file: its content decides, its name only breaks ties (GeoJSON vs CSV are both text).

    A GeoPackage must say so in its header (a bare SQLite file is not one); GeoJSON is JSON text that opens with
    ``{``.
    """
    name = name or path.name
    with path.open("rb") as fh:
        head = fh.read(512)
    if not head:
        raise Invalid(f"{name} is empty", field="file")
    if head.startswith(SQLITE_MAGIC):
        if head[68:72] not in GEOPACKAGE_IDS:
            raise Invalid(f"cannot read {name} as gpkg: an SQLite file that is not a GeoPackage", field="file")
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


def check_zip(path: Path, *, limits: ZipLimits, name: str | None = None) -> list[zipfile.ZipInfo]:
    """Refuse a zip that would expand past the limits; return the members that make its layer: a .shp with its
    .shx and .dbf (and .prj, .cpg when there), or its one GeoJSON or GeoPackage file.

    Sizes come from the central directory, checked before anything is decompressed; ``extract_layer`` counts
    again while it expands, so a directory that lies about them gains nothing.
    """
    name = name or path.name
    try:
        with zipfile.ZipFile(path) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
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
    members = [i for i in infos if not PurePosixPath(i.filename).name.startswith((".", "__MACOSX"))]
    members = [i for i in members if "__MACOSX" not in PurePosixPath(i.filename).parts]
    shps = [i for i in members if i.filename.lower().endswith(".shp")]
    if len(shps) > 1:
        raise Invalid(f"{name} holds {len(shps)} shapefiles; upload one per zip", field="file")
    if shps:
        return _shapefile_parts(shps[0], members, name=name)
    layers = [i for i in members if PurePosixPath(i.filename).suffix.lower() in (".geojson", ".json", ".gpkg")]
    if len(layers) == 1:
        return layers
    raise Invalid(f"{name} holds no shapefile (.shp with its .shx and .dbf)", field="file")


def _shapefile_parts(shp: zipfile.ZipInfo, members: list[zipfile.ZipInfo], *, name: str) -> list[zipfile.ZipInfo]:
    stem = shp.filename[:-4].lower()
    siblings: dict[str, zipfile.ZipInfo] = {}
    for info in members:
        base, dot, suffix = info.filename.lower().rpartition(".")
        if dot and base == stem and f".{suffix}" in (".shx", ".dbf", ".prj", ".cpg"):
            if f".{suffix}" in siblings:
                raise Invalid(f"{name} holds two .{suffix} files for {shp.filename}", field="file")
            siblings[f".{suffix}"] = info
    if ".shx" not in siblings or ".dbf" not in siblings:
        raise Invalid(f"{name} holds no shapefile (.shp with its .shx and .dbf)", field="file")
    extras = [info for suffix, info in siblings.items() if suffix not in (".shx", ".dbf")]
    return [shp, siblings[".shx"], siblings[".dbf"], *extras]


def extract_layer(path: Path, *, into: Path, limits: ZipLimits, name: str) -> tuple[Path, LayerFormat]:
    """Take a zip's layer out into the empty directory ``into``, as ``layer.<suffix>`` files, and say what it is.

    Each member is streamed out with the limits counted on the bytes actually written. A .shp (and its .shx)
    must open with the Shapefile file code; a lone layer file must be GeoJSON or a GeoPackage by its content.
    """
    parts = check_zip(path, limits=limits, name=name)
    written = 0
    packed = sum(i.compress_size for i in parts) or 1
    targets = []
    with zipfile.ZipFile(path) as archive:
        for info in parts:
            suffix = PurePosixPath(info.filename).suffix.lower()
            target = into / f"layer{'.json' if suffix == '.geojson' else suffix}"
            try:
                with archive.open(info) as source, target.open("wb") as out:
                    while chunk := source.read(1 << 20):
                        written += len(chunk)
                        _check_expansion(written, packed, limits, name=name)
                        out.write(chunk)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
                raise Invalid(f"{name}: cannot take {info.filename} out of the zip ({exc})", field="file") from None
            targets.append(target)
    first = targets[0]
    if first.suffix != ".shp":
        kind = sniff_format(first, name=f"{name}/{parts[0].filename}")
        if kind not in (LayerFormat.geojson, LayerFormat.gpkg):
            raise Invalid(f"{name}: {parts[0].filename} is not a GeoJSON or GeoPackage file", field="file")
        return first, kind
    for part in targets[:2]:  # the .shp, then its .shx
        with part.open("rb") as fh:
            if fh.read(4) != SHAPEFILE_MAGIC:
                raise Invalid(f"{name}: its {part.suffix} is not a Shapefile part (wrong file code)", field="file")
    return first, LayerFormat.shapefile


def _check_expansion(written: int, packed: int, limits: ZipLimits, *, name: str) -> None:
    if written > limits.max_total_bytes:
        raise TooLarge(f"{name} expands past the {limits.max_total_bytes / 1e6:.0f} MB allowed")
    if written > 1_000_000 and written / packed > limits.max_ratio:
        raise TooLarge(f"{name} expands beyond the {limits.max_ratio:.0f}:1 allowed (zip bomb?)")
