"""A scene photo's bytes, judged and cleaned without decoding the picture: which of the three formats a phone sends
(JPEG, PNG, WebP) it is by its magic bytes, and its location metadata removed by walking the container's segments.

Nothing here hands the file to an image decoder (a decoder is a large attack surface for a file from the field, and
the service has no use for pixels): the container structure is walked with bounds checks, and a file whose structure
does not hold together is refused as not an image. What "location" means per format:

- JPEG: the Exif segment's GPS directory is blanked in place (its entries and the values they point to zeroed, its
  entry count set to 0), so orientation and the camera's other tags stay; XMP segments (which may repeat the
  position as text) are dropped.
- PNG: ``eXIf`` is blanked the same way; ``tEXt``/``iTXt``/``zTXt`` chunks (where XMP lives) are dropped.
- WebP: the ``EXIF`` chunk is blanked the same way, the ``XMP `` chunk dropped (and its flag cleared in ``VP8X``).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator

JPEG, PNG, WEBP = "image/jpeg", "image/png", "image/webp"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GPS_IFD_TAG = 0x8825
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
XMP_JPEG = b"http://ns.adobe.com/xap/1.0/\x00"
PNG_TEXT = {b"tEXt", b"iTXt", b"zTXt"}


class NotAnImage(ValueError):
    """The bytes are not a JPEG, PNG or WebP file whose structure holds together."""


def sniff(head: bytes) -> str | None:
    """The media type by the file's first bytes, or None when it is none of the three."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(PNG_SIGNATURE):
        return PNG
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    return None


def strip_location(data: bytes, media_type: str) -> bytes:
    """The file with its location metadata removed (see the module docstring). NotAnImage if its structure breaks."""
    if media_type == JPEG:
        return _jpeg(data)
    if media_type == PNG:
        return _png(data)
    if media_type == WEBP:
        return _webp(data)
    raise NotAnImage(f"not a photo format we keep: {media_type}")


# ---------------------------------------------------------------------------------------------------- Exif (TIFF)


def blank_gps(tiff: bytearray, start: int = 0) -> None:
    """Zero the GPS directory of the TIFF structure at ``tiff[start:]`` in place (a no-op when there is none)."""
    if len(tiff) < start + 8:
        raise NotAnImage("the Exif block is cut short")
    order = {b"II": "<", b"MM": ">"}.get(bytes(tiff[start : start + 2]))
    if order is None:
        raise NotAnImage("the Exif block has no byte order")

    def read(fmt: str, at: int) -> int:
        if at < start or at + struct.calcsize(fmt) > len(tiff):
            raise NotAnImage("an Exif offset points outside the block")
        return int(struct.unpack_from(order + fmt, tiff, at)[0])

    ifd0 = start + read("I", start + 4)
    gps = None
    for entry in _entries(read, ifd0):
        if read("H", entry) == GPS_IFD_TAG:
            gps = start + read("I", entry + 8)
    if gps is None:
        return
    for entry in _entries(read, gps):
        kind, count = read("H", entry + 2), read("I", entry + 4)
        size = TYPE_SIZES.get(kind, 1) * count
        if size > 4:
            value = start + read("I", entry + 8)
            if value + size > len(tiff):
                raise NotAnImage("an Exif GPS value runs past the block")
            tiff[value : value + size] = bytes(size)
        tiff[entry : entry + 12] = bytes(12)
    tiff[gps : gps + 2] = bytes(2)  # an empty directory, with no next one (the zeroed bytes after it)


def _entries(read: Callable[[str, int], int], ifd: int) -> Iterator[int]:
    count = read("H", ifd)
    if count > 1000:
        raise NotAnImage("an Exif directory claims too many entries")
    for i in range(count):
        entry = ifd + 2 + 12 * i
        read("I", entry + 8)  # bounds check of the whole entry
        yield entry


# ---------------------------------------------------------------------------------------------------------- JPEG


def _jpeg(data: bytes) -> bytes:
    out = bytearray(data[:2])
    at = 2
    while at < len(data):
        if data[at] != 0xFF:
            raise NotAnImage("a JPEG segment does not start with a marker")
        marker = data[at + 1] if at + 1 < len(data) else 0
        if marker == 0xFF:  # fill byte
            out.append(0xFF)
            at += 1
            continue
        if marker == 0xDA or marker == 0xD9:  # start of scan: the picture follows, no more metadata
            out += data[at:]
            return bytes(out)
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            out += data[at : at + 2]
            at += 2
            continue
        if at + 4 > len(data):
            raise NotAnImage("a JPEG segment is cut short")
        length = struct.unpack_from(">H", data, at + 2)[0]
        end = at + 2 + length
        if length < 2 or end > len(data):
            raise NotAnImage("a JPEG segment runs past the file")
        segment = bytearray(data[at:end])
        if marker == 0xE1 and segment[4:10] == b"Exif\x00\x00":
            blank_gps(segment, 10)
        elif marker == 0xE1 and bytes(segment[4 : 4 + len(XMP_JPEG)]) == XMP_JPEG:
            at = end
            continue
        out += segment
        at = end
    raise NotAnImage("the JPEG has no picture")


# ----------------------------------------------------------------------------------------------------------- PNG


def _png(data: bytes) -> bytes:
    out = bytearray(PNG_SIGNATURE)
    at = len(PNG_SIGNATURE)
    while at + 12 <= len(data):
        length = struct.unpack_from(">I", data, at)[0]
        kind = data[at + 4 : at + 8]
        end = at + 12 + length
        if end > len(data):
            raise NotAnImage("a PNG chunk runs past the file")
        if kind in PNG_TEXT:
            at = end
            continue
        if kind == b"eXIf":
            body = bytearray(data[at + 8 : at + 8 + length])
            blank_gps(body)
            crc = zlib.crc32(kind + body)
            out += struct.pack(">I", length) + kind + body + struct.pack(">I", crc)
        else:
            out += data[at:end]
        at = end
        if kind == b"IEND":
            return bytes(out)
    raise NotAnImage("the PNG has no end")


# ---------------------------------------------------------------------------------------------------------- WebP


def _webp(data: bytes) -> bytes:
    chunks = bytearray()
    at = 12
    while at + 8 <= len(data):
        kind = data[at : at + 4]
        length = struct.unpack_from("<I", data, at + 4)[0]
        end = at + 8 + length + (length & 1)
        if at + 8 + length > len(data):
            raise NotAnImage("a WebP chunk runs past the file")
        body = bytearray(data[at + 8 : at + 8 + length])
        if kind == b"XMP ":
            at = end
            continue
        if kind == b"EXIF":
            blank_gps(body, 6 if body.startswith(b"Exif\x00\x00") else 0)
        if kind == b"VP8X" and body:
            body[0] &= ~0x04 & 0xFF  # no XMP any more
        chunks += kind + struct.pack("<I", length) + body + (b"\x00" if length & 1 else b"")
        at = end
    if not chunks:
        raise NotAnImage("the WebP holds no chunk")
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + bytes(chunks)
