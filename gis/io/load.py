"""Bulk loading: COPY into a temporary table, then one upsert into the layer's table, in the caller's transaction;
or, for a large first load of the registry, COPY straight into it.

The statements are fixed text with no caller input in them; values travel through COPY's binary protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias, TypeVar

import pyarrow as pa
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import bulk_timeouts, driver_connection
from gis.io.binary_copy import HEADER, TRAILER, copy_rows
from gis.io.resource_rows import COLUMNS as _RESOURCE_COLUMNS
from gis.io.resource_rows import JSONB_COLUMNS as _RESOURCE_JSONB
from gis.io.schemas import LayerKind

CHUNK = 10_000
T = TypeVar("T")
# Rows to load: tuples ``(file row, *columns, geometry)``, or an Arrow batch of the same columns (COPY'd in binary
# without a Python object per row: a layer import's resources).
Chunk: TypeAlias = "Sequence[tuple[Any, ...]] | pa.RecordBatch"


@dataclass(frozen=True)
class Target:
    table: str
    staging: str
    create: str
    columns: tuple[str, ...]
    upsert: str
    # The table's own columns in the order of a row's values after the file row, for COPY straight into the table
    # (the geometry as EWKB); None where the rows need SQL on the way in.
    direct: tuple[str, ...] | None = None
    jsonb: frozenset[str] = frozenset({"properties"})  # the columns an Arrow batch sends as jsonb

    @property
    def insert(self) -> str:
        """The upsert without its ON CONFLICT part: for a table that was empty, where nothing can conflict."""
        head, _, _ = self.upsert.partition("ON CONFLICT")
        return head + "RETURNING true AS inserted"


# A unit already in service keeps its live status and last fix; a re-import refreshes only what the file knows.
_RESOURCE_UPSERT = """
INSERT INTO resource AS r (type, name, name_zh, name_en, capacity, home_station_id, agency, status, location,
                           source, external_id, properties)
SELECT type, name, name_zh, name_en, capacity, home_station_id, agency, status, ST_SetSRID(ST_GeomFromEWKB(wkb), 4326),
       source, external_id, properties
FROM gis_load_resource ORDER BY row
ON CONFLICT (source, external_id) DO UPDATE SET
    type = EXCLUDED.type, name = EXCLUDED.name, name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en,
    capacity = EXCLUDED.capacity, home_station_id = EXCLUDED.home_station_id, agency = EXCLUDED.agency,
    status = CASE WHEN r.status IS NULL OR EXCLUDED.status IS NULL THEN EXCLUDED.status ELSE r.status END,
    location = CASE WHEN r.last_fix_at IS NULL THEN EXCLUDED.location ELSE r.location END,
    properties = EXCLUDED.properties, version = r.version + 1, updated_at = now()
WHERE (r.type, r.name, r.name_zh, r.name_en, r.capacity, r.home_station_id, r.agency, r.properties,
       ST_AsBinary(r.location))
      IS DISTINCT FROM
      (EXCLUDED.type, EXCLUDED.name, EXCLUDED.name_zh, EXCLUDED.name_en, EXCLUDED.capacity, EXCLUDED.home_station_id,
       EXCLUDED.agency, EXCLUDED.properties, ST_AsBinary(EXCLUDED.location))
RETURNING (xmax = 0) AS inserted
"""

_JURISDICTION_UPSERT = """
INSERT INTO jurisdiction AS j (name, name_en, admin_level, code, geom, source, external_id, properties)
SELECT name, name_en, admin_level, code, ST_Multi(ST_SetSRID(ST_GeomFromWKB(wkb), 4326)), source, external_id,
       properties
FROM gis_load_jurisdiction ORDER BY row
ON CONFLICT (source, external_id) DO UPDATE SET
    name = EXCLUDED.name, name_en = EXCLUDED.name_en, admin_level = EXCLUDED.admin_level, code = EXCLUDED.code,
    geom = EXCLUDED.geom, properties = EXCLUDED.properties, updated_at = now()
WHERE (j.name, j.name_en, j.admin_level, j.code, j.properties, ST_AsBinary(j.geom))
      IS DISTINCT FROM
      (EXCLUDED.name, EXCLUDED.name_en, EXCLUDED.admin_level, EXCLUDED.code, EXCLUDED.properties,
       ST_AsBinary(EXCLUDED.geom))
RETURNING (xmax = 0) AS inserted
"""

_ZONE_UPSERT = """
INSERT INTO hazard_zone AS z (name, kind, buffer_m, geom, source, external_id, properties)
SELECT name, kind, buffer_m, ST_SetSRID(ST_GeomFromWKB(wkb), 4326), source, external_id, properties
FROM gis_load_zone ORDER BY row
ON CONFLICT (source, external_id) DO UPDATE SET
    name = EXCLUDED.name, kind = EXCLUDED.kind, buffer_m = EXCLUDED.buffer_m, geom = EXCLUDED.geom,
    properties = EXCLUDED.properties, updated_at = now()
WHERE (z.name, z.kind, z.buffer_m, z.properties, ST_AsBinary(z.geom))
      IS DISTINCT FROM
      (EXCLUDED.name, EXCLUDED.kind, EXCLUDED.buffer_m, EXCLUDED.properties, ST_AsBinary(EXCLUDED.geom))
RETURNING (xmax = 0) AS inserted
"""

TARGETS = {
    LayerKind.resources: Target(
        table="resource",
        staging="gis_load_resource",
        create="""CREATE TEMP TABLE gis_load_resource (row int, type text, name text, name_zh text, name_en text,
            capacity jsonb, home_station_id bigint, agency text, status text, source text, external_id text,
            properties jsonb, wkb bytea) ON COMMIT DROP""",
        columns=_RESOURCE_COLUMNS,
        upsert=_RESOURCE_UPSERT,
        direct=(*_RESOURCE_COLUMNS[1:-1], "location"),
        jsonb=_RESOURCE_JSONB,
    ),
    LayerKind.jurisdictions: Target(
        table="jurisdiction",
        staging="gis_load_jurisdiction",
        create="""CREATE TEMP TABLE gis_load_jurisdiction (row int, name text, name_en text, admin_level smallint,
            code text, source text, external_id text, properties jsonb, wkb bytea) ON COMMIT DROP""",
        columns=("row", "name", "name_en", "admin_level", "code", "source", "external_id", "properties", "wkb"),
        upsert=_JURISDICTION_UPSERT,
    ),
    LayerKind.hazard_zones: Target(
        table="hazard_zone",
        staging="gis_load_zone",
        create="""CREATE TEMP TABLE gis_load_zone (row int, name text, kind text, buffer_m float8, source text,
            external_id text, properties jsonb, wkb bytea) ON COMMIT DROP""",
        columns=("row", "name", "kind", "buffer_m", "source", "external_id", "properties", "wkb"),
        upsert=_ZONE_UPSERT,
    ),
}


# A load at least this large into a table holding no more rows than the load builds the table's secondary indexes
# and checks its foreign keys once, after the rows are in, instead of row by row (several times faster), at the
# price of an exclusive lock on the table until the import commits: a first load of a city's layers, typically.
BULK_ROWS = 10_000
# How long to wait for that lock before loading row by row instead. Short: while the request waits, readers that
# come after it queue behind it.
BULK_LOCK_TIMEOUT_MS = 500

# The secondary indexes and foreign keys of a table, each with the statement that makes it again.
_DEFERRABLE = text("""
SELECT 'DROP INDEX ' || i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid = CAST(:table AS regclass) AND NOT i.indisprimary AND NOT i.indisunique
UNION ALL
SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname),
       format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid))
FROM pg_constraint c
WHERE c.conrelid = CAST(:table AS regclass) AND (c.contype = 'f' OR (c.contype = 'u' AND :unique))
""")


async def _defer_indexes(session: AsyncSession, table: str, rows: int) -> tuple[list[str], bool] | None:
    """For a large load into a small table: lock it, drop its secondary indexes and foreign keys (and, when it is
    empty, its unique constraints), and return the statements that restore them, to run after the load in the same
    transaction, and whether the table was empty. None: load row by row instead (a small load, a larger table, or
    the lock not granted in time because others are using the table)."""
    if rows < BULK_ROWS:
        return None
    # ``table`` is a TARGETS table name, never input, and BULK_LOCK_TIMEOUT_MS ours: the f-strings are fixed text.
    held = await session.scalar(text(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT :n) AS held"), {"n": rows + 1})
    if held is None or held > rows:
        return None
    savepoint = await session.begin_nested()
    try:
        await session.execute(text(f"SET LOCAL lock_timeout = {BULK_LOCK_TIMEOUT_MS}"))
        await session.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
    except DBAPIError:
        await savepoint.rollback()
        return None
    await savepoint.commit()
    empty = not await session.scalar(text(f"SELECT EXISTS (SELECT 1 FROM {table})"))  # under the lock: certain
    await session.execute(text("SET LOCAL lock_timeout = DEFAULT"))
    await session.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    pairs = (await session.execute(_DEFERRABLE, {"table": table, "unique": empty})).all()
    for drop, _ in pairs:
        await session.execute(text(drop))
    return [make for _, make in pairs], empty


class Loaded(NamedTuple):
    """What a load did: rows added, rows updated, whether the table's indexes were built after it (bulk), and
    the rows it was given (those neither added nor updated were already there as they are)."""

    inserted: int
    updated: int
    bulk: bool
    rows: int

    @property
    def unchanged(self) -> int:
        return self.rows - self.inserted - self.updated


async def bulk_upsert(
    session: AsyncSession,
    kind: LayerKind,
    rows: Sequence[tuple[Any, ...]],
    *,
    on_progress: Callable[[int], None] | None = None,
) -> Loaded:
    """Load ``rows`` (``(file row, *columns, geometry)``): COPY them in and upsert them, or, into a table that was
    empty, COPY them straight in."""

    async def chunks() -> AsyncIterator[Sequence[tuple[Any, ...]]]:
        for start in range(0, len(rows), CHUNK):
            yield rows[start : start + CHUNK]

    return await bulk_load(session, kind, chunks(), expected=len(rows), on_progress=on_progress)


async def bulk_load(
    session: AsyncSession,
    kind: LayerKind,
    chunks: AsyncIterable[Chunk],
    *,
    expected: int,
    on_progress: Callable[[int], None] | None = None,
) -> Loaded:
    """``bulk_upsert`` for rows that arrive in chunks (at most ``expected`` rows in all: it decides the bulk path),
    each loaded as it comes while the caller makes the next (see ``ahead``). Its statements may run for the bulk
    time limit, not a request's."""
    async with bulk_timeouts(session):
        return await _bulk_load(session, kind, chunks, expected=expected, on_progress=on_progress)


async def _bulk_load(
    session: AsyncSession,
    kind: LayerKind,
    chunks: AsyncIterable[Chunk],
    *,
    expected: int,
    on_progress: Callable[[int], None] | None,
) -> Loaded:
    target = TARGETS[kind]
    deferred = await _defer_indexes(session, target.table, expected)
    restore, empty = deferred or ([], False)
    direct = empty and target.direct is not None
    if not direct:
        await session.execute(text(f"DROP TABLE IF EXISTS {target.staging}"))  # fixed name, not input
        await session.execute(text(target.create))
    conn = await driver_connection(session)
    table, columns = (target.table, target.direct) if direct and target.direct else (target.staging, target.columns)
    given = await _copy(conn, table, columns, chunks, skip_row=direct, jsonb=target.jsonb, progress=on_progress)
    if direct:
        inserted = touched = given  # in file order: ids follow the file's rows
    else:
        load = target.insert if empty else target.upsert  # the file's own external ids were checked for repeats
        # Fixed text: ``load`` is one of the TARGETS statements, the staging table's name fixed too.
        counted = f"WITH up AS ({load}) SELECT count(*) FILTER (WHERE inserted), count(*) FROM up"
        inserted, touched = (await session.execute(text(counted))).one()
        await session.execute(text(f"DROP TABLE {target.staging}"))
    for statement in restore:  # a unique constraint made again also proves its rows unique
        await session.execute(text(statement))
    return Loaded(int(inserted), int(touched) - int(inserted), bulk=deferred is not None, rows=given)


_DONE = object()


async def ahead(items: Iterator[T]) -> AsyncGenerator[T, None]:
    """The items of a blocking iterator, each made in a worker thread while the caller works on the one before
    (an import's rows are made while PostgreSQL takes the previous chunk's COPY)."""
    pending = asyncio.ensure_future(asyncio.to_thread(next, items, _DONE))
    try:
        while (item := await pending) is not _DONE:
            pending = asyncio.ensure_future(asyncio.to_thread(next, items, _DONE))
            yield item  # type: ignore[misc]
    finally:
        if not pending.done():  # the caller stopped early (an error): let the thread finish before going on
            with contextlib.suppress(Exception):
                await pending


async def _copy(
    conn: Any,
    table: str,
    columns: Sequence[str],
    chunks: AsyncIterable[Chunk],
    *,
    skip_row: bool,
    jsonb: frozenset[str],
    progress: Callable[[int], None] | None,
) -> int:
    """COPY the chunks into ``table`` (without their file row when ``skip_row``); returns the rows given.

    Arrow batches go as one binary COPY that streams: while PostgreSQL takes a chunk's rows, the next chunk is made
    and encoded (in worker threads), so the server need not wait between chunks. Tuples go chunk by chunk through
    asyncpg's encoder (the geometry as EWKB, through a codec set for this COPY only)."""
    iterator = aiter(chunks)
    first = await anext(iterator, None)
    if first is None:
        return 0
    count = 0

    def counted(chunk: Chunk) -> None:
        nonlocal count
        count += len(chunk)
        if progress is not None:
            progress(len(chunk))

    if isinstance(first, pa.RecordBatch):

        async def stream() -> AsyncIterator[bytes]:
            yield HEADER
            chunk: Any = first
            while chunk is not None:
                rows = chunk.select(range(1, chunk.num_columns)) if skip_row else chunk
                if rows.num_columns != len(columns):
                    raise ValueError(f"{rows.num_columns} columns in the batch for {len(columns)} in {table}")
                yield await asyncio.to_thread(copy_rows, rows, jsonb=jsonb)  # Arrow lets go of the GIL
                counted(chunk)
                chunk = await anext(iterator, None)
            yield TRAILER

        await conn.copy_to_table(table, source=stream(), columns=list(columns), format="binary")
        return count
    codec = skip_row  # straight into the table: its geometry column takes the EWKB bytes as they are
    if codec:
        await conn.set_type_codec("geometry", schema="public", encoder=bytes, decoder=bytes, format="binary")
    try:
        chunk = first
        while chunk is not None:
            records = [row[1:] for row in chunk] if skip_row else chunk
            await conn.copy_records_to_table(table, records=records, columns=list(columns))
            counted(chunk)
            chunk = await anext(iterator, None)
    finally:
        if codec:
            await conn.reset_type_codec("geometry", schema="public")
    return count
