"""Arrow batches as binary COPY data: what PostgreSQL reads back is what the batch held, NULLs and all."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import driver_connection
from gis.io.binary_copy import HEADER, TRAILER, copy_rows
from gis.io.resource_rows import point_ewkb

_TABLE = """CREATE TEMP TABLE copied (n int, big bigint, label varchar(20), note text, doc jsonb, raw bytea,
    place geometry(Point, 4326)) ON COMMIT DROP"""


def _batch() -> pa.RecordBatch:
    places = point_ewkb(shapely.points([104.06, 104.07, 104.08, 104.09], [30.66, 30.67, 30.68, 30.69]))
    return pa.record_batch(
        {
            "n": pa.array([1, -2, None, 2**31 - 1], pa.int32()),
            "big": pa.array([None, 2**62, -(2**62), 0], pa.int64()),
            "label": pa.array(["华西医院", "", None, "x" * 20], pa.large_string()),
            "note": pa.array([None, "tab\tnew\nline\\", "é", "ümlaut"], pa.string()),
            "doc": pa.array(['{"beds": 3}', None, '{"名": [1, null]}', "{}"], pa.string()),
            "raw": pa.array([b"\x00\xff", b"", None, bytes(range(256))], pa.binary()),
            "place": pa.array(list(places), pa.binary()),
        }
    )


def _stream(batch: pa.RecordBatch) -> bytes:
    return HEADER + copy_rows(batch, jsonb={"doc"}) + TRAILER


async def _copy_and_read(session: AsyncSession, payload: bytes) -> list[dict[str, object]]:
    await session.execute(text(_TABLE))
    conn = await driver_connection(session)
    await conn.copy_to_table("copied", source=io.BytesIO(payload), format="binary")
    rows = await session.execute(text("SELECT n, big, label, note, doc, raw, ST_AsEWKT(place) AS place FROM copied"))
    return [dict(r) for r in rows.mappings()]


async def test_a_batch_reads_back_field_for_field(session: AsyncSession) -> None:
    batch = _batch()
    got = await _copy_and_read(session, _stream(batch))
    expected = batch.to_pylist()
    assert len(got) == len(expected) == 4
    for row, want in zip(got, expected, strict=True):
        assert row["n"] == want["n"] and row["big"] == want["big"]
        assert row["label"] == want["label"] and row["note"] == want["note"]
        assert row["doc"] == (None if want["doc"] is None else json.loads(want["doc"]))
        assert (None if row["raw"] is None else bytes(row["raw"])) == want["raw"]
        assert str(row["place"]).startswith("SRID=4326;POINT(104.0")
    assert got[1]["label"] == "" and got[2]["label"] is None, "an empty string is not NULL"


async def test_a_slice_of_a_batch_and_chunks_in_one_stream(session: AsyncSession) -> None:
    """Arrow slices share their parent's buffers at an offset; two chunks' rows can follow one header."""
    batch = _batch()
    payload = copy_rows(batch.slice(1, 2), jsonb={"doc"}) + copy_rows(batch.slice(3), jsonb={"doc"})
    manual_header = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # as the manual spells it, not our constant
    got = await _copy_and_read(session, manual_header + payload + b"\xff\xff")
    assert [r["n"] for r in got] == [-2, None, 2**31 - 1]
    assert [r["label"] for r in got] == ["", None, "x" * 20]


async def test_many_rows(session: AsyncSession) -> None:
    count = 25_000
    names = [None if i % 7 == 0 else f"单位 {i}" for i in range(count)]
    places = point_ewkb(shapely.points(np.full(count, 104.0), np.full(count, 30.6)))
    batch = pa.record_batch(
        {
            "n": pa.array(np.arange(count, dtype=np.int32)),
            "big": pa.array([i * 3 if i % 5 else None for i in range(count)], pa.int64()),
            "label": pa.array(names, pa.string()),
            "note": pa.nulls(count, pa.string()),
            "doc": pa.array([json.dumps({"i": i}) for i in range(count)]),
            "raw": pa.nulls(count, pa.binary()),
            "place": pa.array(list(places), pa.binary()),
        }
    )
    await _copy_and_read(session, _stream(batch))
    total, labelled, summed, doc_sum = (
        await session.execute(
            text("SELECT count(*), count(label), sum(big), sum((doc->>'i')::int) FROM copied WHERE note IS NULL")
        )
    ).one()
    assert total == count and labelled == sum(n is not None for n in names)
    assert summed == sum(i * 3 for i in range(count) if i % 5) and doc_sum == sum(range(count))


def test_an_unsupported_column_type_is_refused() -> None:
    with pytest.raises(TypeError, match="no binary COPY form"):
        copy_rows(pa.record_batch({"when": pa.array([1.5])}))
    assert copy_rows(pa.record_batch({"n": pa.array([], pa.int32())})) == b""
