"""Fixtures of the gis tests: the hand-written mini city, loaded into the test's rolled-back transaction."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Settings
from gis.io.files import ZipLimits
from gis.io.osm_import import import_osm
from gis.io.transfer import zip_limits
from gis.schemas import ImportLimits, OsmReport
from tests.conftest import shared_data_dir

T = TypeVar("T")
FIXTURES = Path(__file__).parent / "fixtures"
MINI_CITY = FIXTURES / "mini_city.osm"


def chengdu_dir() -> Path:
    """The shared Chengdu extract, or a skip that says why (the only skip these tests allow)."""
    folder = shared_data_dir() / "chengdu"
    if not (folder / "chengdu_core_2018.osm.pbf").is_file():
        pytest.skip(f"../shared/data not present: {folder} has no Chengdu extract")
    return folder


def shared_file(relative: str) -> Path:
    """A file of the shared real-data folder, or a skip that says which (the only skip these tests allow)."""
    path = shared_data_dir() / relative
    if not path.is_file():
        pytest.skip(f"../shared/data not present: no {path}")
    return path


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The web-mercator tile x/y holding a point."""
    n = 1 << z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


@pytest.fixture
async def mini_city(session: AsyncSession) -> OsmReport:
    report = await import_osm(session, path=MINI_CITY, demo_units=True)
    await session.commit()
    return report


@pytest.fixture
def limits(settings: Settings) -> ZipLimits:
    return zip_limits(ImportLimits.of(settings))


def reader_pids() -> set[int]:
    """The layer readers running now: the children of the reader server (gis.io.read_process), seen in /proc."""
    from gis.io.read_process import SERVER

    server = SERVER.pid
    if server is None:
        return set()
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after the command name: state, ppid, ...
        except (OSError, IndexError):
            continue
        if int(fields[1]) == server:
            found.add(int(stat.parent.name))
    return found


async def wait_for(condition: Callable[[], T | None], *, what: str, seconds: float = 60.0) -> T:
    """Poll ``condition`` until it gives something truthy (bounded), for things only the OS can tell (processes)."""
    try:
        async with asyncio.timeout(seconds):
            while not (value := condition()):
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"no {what} within {seconds:g} s") from None
    return value
