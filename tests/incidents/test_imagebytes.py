"""The photo bytes core: formats known by their magic bytes; the GPS position gone from every container while the
rest of the Exif block (orientation) stays; a file whose structure breaks is refused, never guessed at."""

from __future__ import annotations

import struct

import pytest

from incidents import imagebytes
from tests.support import images

MADE = {
    imagebytes.JPEG: images.jpeg_with_gps(),
    imagebytes.PNG: images.png(gps=True),
    imagebytes.WEBP: images.webp_with_gps(),
}


@pytest.mark.parametrize("media_type", list(MADE))
def test_each_format_is_known_and_loses_its_position(media_type: str) -> None:
    data = MADE[media_type]
    assert imagebytes.sniff(data[:16]) == media_type
    assert images.LATITUDE in data and images.XMP in data
    kept = imagebytes.strip_location(data, media_type)
    assert images.LATITUDE not in kept and images.LONGITUDE not in kept and b"GPSLatitude" not in kept
    assert imagebytes.sniff(kept[:16]) == media_type
    orientation = struct.pack("<HHIHH", 0x0112, 3, 1, images.ORIENTATION, 0)
    assert orientation in kept, "the rest of the Exif block stays"


def test_a_png_stays_a_valid_png() -> None:
    kept = imagebytes.strip_location(images.png(gps=True), imagebytes.PNG)
    assert kept.endswith(b"IEND\xaeB`\x82") and b"IDAT" in kept and b"iTXt" not in kept


def test_a_webp_keeps_its_sizes_and_drops_the_xmp_flag() -> None:
    kept = imagebytes.strip_location(images.webp_with_gps(), imagebytes.WEBP)
    assert struct.unpack_from("<I", kept, 4)[0] == len(kept) - 8
    assert kept[20] & 0x04 == 0 and kept[20] & 0x08 == 0x08 and b"XMP " not in kept


@pytest.mark.parametrize(
    "data",
    [b"GIF89a" + bytes(20), b"%PDF-1.7\n", b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"", b"\xff\xd8"],
    ids=["gif", "pdf", "svg", "empty", "two-bytes"],
)
def test_other_files_are_not_photos(data: bytes) -> None:
    assert imagebytes.sniff(data[:16]) is None or data == b"\xff\xd8"
    if data == b"\xff\xd8":
        assert imagebytes.sniff(data) is None


@pytest.mark.parametrize("cut", [5, 30, 60, 100])
def test_a_cut_jpeg_is_refused(cut: int) -> None:
    with pytest.raises(imagebytes.NotAnImage):
        imagebytes.strip_location(images.jpeg_with_gps()[:cut], imagebytes.JPEG)


def test_an_exif_offset_outside_the_block_is_refused() -> None:
    tiff = bytearray(images.exif_tiff())
    struct.pack_into("<I", tiff, 4, 10_000)  # IFD0 far past the end
    with pytest.raises(imagebytes.NotAnImage):
        imagebytes.blank_gps(tiff)
