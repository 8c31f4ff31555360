"""The row rules of a resources layer, column by column: what a good row becomes, and the reason a bad one is not
taken (no database: the rules are plain functions of the file)."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pyarrow as pa
import shapely
from shapely.geometry import Point

from gis.io.importer import RESERVED
from gis.io.layers import CheckedLayer, check_geometry
from gis.io.resource_rows import COLUMNS, resource_row_chunks

KINDS = {"hospital": "facility", "shelter": "facility", "ambulance": "unit", "fire_engine": "unit"}


def _rows(frame: gpd.GeoDataFrame, *, size: int = 1000, stations: set[int] | None = None) -> tuple[Any, CheckedLayer]:
    checked = check_geometry(frame, [], polygons=False)
    chunks = list(
        resource_row_chunks(
            checked, kinds=KINDS, source="import:t", reserved=RESERVED, size=size, stations=stations or set()
        )
    )
    assert all(chunk.schema.names == list(COLUMNS) for chunk in chunks)
    rows = [row for chunk in chunks for row in chunk.to_pylist()]
    return rows, checked


def _frame(columns: dict[str, list[Any]]) -> gpd.GeoDataFrame:
    count = len(next(iter(columns.values())))
    points = [Point(104.0 + i / 1000, 30.6) for i in range(count)]
    return gpd.GeoDataFrame(columns, geometry=points, crs="EPSG:4326")


def test_a_good_row_becomes_its_registry_columns() -> None:
    frame = _frame(
        {
            "type": [" ambulance ", "hospital"],
            "name": [None, "华西医院" + "院" * 300],
            "name_zh": ["救护车 7", None],
            "beds": [None, "4300"],
            "home_station_id": ["12.0", None],
            "ward": ["A", None],
        }
    )
    rows, checked = _rows(frame, stations={12})
    assert checked.rejected == []
    unit, hospital = rows
    assert unit["type"] == "ambulance" and unit["name"] == "救护车 7" and unit["status"] == "available"
    assert unit["home_station_id"] == 12 and unit["properties"] == '{"ward":"A"}' and unit["capacity"] == "{}"
    assert hospital["status"] is None and hospital["capacity"] == '{"beds": 4300}' and hospital["properties"] == "{}"
    assert len(hospital["name"]) == 200 and hospital["name"].startswith("华西医院"), "display text is cut to fit"
    assert shapely.from_wkb(unit["wkb"]).equals(Point(104.0, 30.6)) and unit["source"] == "import:t"


def test_each_bad_row_gets_its_first_broken_rule() -> None:
    frame = _frame(
        {
            "type": ["hospital", "hospital", "ambulance", "ambulance", "ambulance", "hospital", "shelter", "shelter"],
            "name": ["a\x00b", "ok", "ok", "ok", "ok", "ok", "ok", "ok"],
            "external_id": [None, "x" * 201, None, None, None, None, "s-1", "s-1"],
            "home_station_id": [None, None, "2.5", "inf", "7", None, None, None],
            "status": [None, None, None, None, None, "available", None, None],
            "ward": [None, None, None, None, None, None, "nul \x00 here", None],
        }
    )
    rows, checked = _rows(frame, stations={1})
    assert [(p.row, p.reason) for p in checked.rejected] == [
        (1, "name contains a NUL character"),
        (2, "external_id is longer than 200 characters"),
        (3, "home_station_id '2.5' is not a resource id"),
        (4, "home_station_id 'inf' is not a number"),
        (5, "home station 7 does not exist"),
        (6, "a hospital is a facility and has no status (got 'available')"),
        (7, "properties contains a NUL character"),
        (8, "external id 's-1' repeats row 7"),  # the file names s-1 twice, whatever became of row 7
    ]
    assert rows == []


def test_a_file_read_in_several_arrow_batches_reads_as_one() -> None:
    """GDAL hands a large file over in batches; pandas then holds each column as a chunked Arrow array."""
    table = pa.Table.from_batches(
        [
            pa.record_batch({"type": ["hospital", "ambulance"], "name": ["H1", "A1"]}),
            pa.record_batch({"type": ["shelter", "spaceship"], "name": ["S1", "X1"]}),
        ]
    )
    frame = gpd.GeoDataFrame(
        table.to_pandas(), geometry=[Point(104.0, 30.6), Point(104.1, 30.6), Point(104.2, 30.6), Point(104, 30)]
    )
    frame = frame.set_crs("EPSG:4326")
    rows, checked = _rows(frame, size=3)
    assert [row["name"] for row in rows] == ["H1", "A1", "S1"]
    assert [(p.row, p.reason) for p in checked.rejected] == [(4, "unknown type 'spaceship'")]
