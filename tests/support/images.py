"""Small image files made by hand (no imaging library): a real PNG, and the containers of the three photo formats
with an Exif block that holds a GPS position (and XMP that repeats it), to check what the server keeps."""

from __future__ import annotations

import struct
import zlib

# The position in the Exif GPS directory: 30°39'27.12" N, 104°3'52.8" E, as rationals whose bytes are easy to find.
LATITUDE = struct.pack("<6I", 30, 1, 39, 1, 2712, 100)
LONGITUDE = struct.pack("<6I", 104, 1, 3, 1, 528, 10)
XMP = b'<x:xmpmeta><rdf:Description exif:GPSLatitude="30,39.452N"/></x:xmpmeta>'
ORIENTATION = 6  # rotated: a tag that must survive the stripping


def exif_tiff() -> bytes:
    """A little-endian TIFF block: IFD0 with Orientation and the GPS pointer; a GPS IFD with latitude and longitude."""
    ifd0_at, gps_at = 8, 8 + 2 + 2 * 12 + 4
    values_at = gps_at + 2 + 4 * 12 + 4
    ifd0 = struct.pack("<H", 2)
    ifd0 += struct.pack("<HHIHH", 0x0112, 3, 1, ORIENTATION, 0)  # Orientation, SHORT, inline
    ifd0 += struct.pack("<HHII", 0x8825, 4, 1, gps_at) + struct.pack("<I", 0)
    gps = struct.pack("<H", 4)
    gps += struct.pack("<HHI4s", 1, 2, 2, b"N\x00\x00\x00")  # GPSLatitudeRef
    gps += struct.pack("<HHII", 2, 5, 3, values_at)  # GPSLatitude, 3 RATIONAL
    gps += struct.pack("<HHI4s", 3, 2, 2, b"E\x00\x00\x00")  # GPSLongitudeRef
    gps += struct.pack("<HHII", 4, 5, 3, values_at + 24)  # GPSLongitude
    gps += struct.pack("<I", 0)
    block = b"II*\x00" + struct.pack("<I", ifd0_at) + ifd0 + gps + LATITUDE + LONGITUDE
    assert len(b"II*\x00" + struct.pack("<I", ifd0_at) + ifd0) == gps_at
    return block


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def jpeg_with_gps() -> bytes:
    """A JPEG's container: Exif (with GPS) and XMP segments, then a (dummy) scan; no decoder ever looks at it."""
    return (
        b"\xff\xd8"
        + _segment(0xE1, b"Exif\x00\x00" + exif_tiff())
        + _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP)
        + _segment(0xDB, bytes(65))
        + _segment(0xDA, b"\x00" * 10)
        + b"\x12\x34\x56"
        + b"\xff\xd9"
    )


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int = 64, height: int = 48, rgb: tuple[int, int, int] = (200, 40, 30), gps: bool = False) -> bytes:
    """A real PNG of one colour (with a diagonal stripe); with ``gps``, an eXIf chunk with the position and XMP."""
    rows = b""
    for y in range(height):
        row = bytearray()
        for x in range(width):
            row += bytes((255, 255, 255)) if abs(x - y * width // height) < 3 else bytes(rgb)
        rows += b"\x00" + bytes(row)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    extra = (
        _chunk(b"eXIf", exif_tiff()) + _chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP) if gps else b""
    )
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + extra
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


def webp_with_gps() -> bytes:
    """A WebP's RIFF container: VP8X (EXIF and XMP flagged), a (dummy) VP8L picture chunk, EXIF and XMP."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return kind + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")

    vp8x = bytes([0x08 | 0x04, 0, 0, 0]) + (63).to_bytes(3, "little") + (47).to_bytes(3, "little")
    chunks = chunk(b"VP8X", vp8x) + chunk(b"VP8L", b"\x2f" + bytes(20)) + chunk(b"EXIF", exif_tiff())
    chunks += chunk(b"XMP ", XMP)
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks
