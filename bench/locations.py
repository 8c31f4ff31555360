"""Location ingest at the scale of a province (issue 25), each part beside its floor measured in the same run.

    .venv/bin/python bench/locations.py [--seconds 15] [--units 5000] [--parts batches,singles,stream,track]

1. **batches**: 4 gateway clients post batches of 500 fixes back to back to two workers: fixes stored per second,
   beside the database floor of the same rows written by ``COPY`` from 4 connections.
2. **singles**: 200 phone clients post one fix at a time (closed loop), one worker then two: fixes/s, p50/p99,
   beside the database floor of 200 connections each inserting a fix row and an event row per transaction (with the
   event ordering lock, as the unit of work takes it).
3. **stream**: the units move at ``--rate`` fixes/s (gateway batches every 100 ms) while ``--watchers`` clients watch
   ``/ws/command`` on two workers (``--citywide`` of them the whole city, the rest one of ten district ``bbox``es):
   lag from a fix's observed time to its arrival, p50/p99; messages per client per second; and the most
   ``unit.location`` messages any client got about one unit within one coalescing interval (at most 1 is right).
4. **track**: ``--track-fixes`` fixes generated over 30 days into the day partitions, then a unit's last-hour track
   (500 random units) through ``GET /units/{id}/track`` and as raw SQL: p50/p99.

HTTP clients are raw keep-alive HTTP/1.1 on asyncio streams (httpx would be the bottleneck on two cores); websocket
clients parse only the bytes they measure. The machine's two cores run servers and clients alike: read the
figures with the load in mind (the ratio to a floor measured on the same machine in the same run is the point).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import secrets
import struct
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import RawHTTP, admin_token, asyncpg_dsn, bench_database, percentile, server  # noqa: E402
from core.events import EVENT_LOCK_KEY  # noqa: E402
from core.settings import get_settings  # noqa: E402

CENTRE = (104.06, 30.66)
SPREAD = 0.12  # degrees around the centre: about 25 km across
GATEWAYS = 4
BATCH = 500
PHONES = 200


# ------------------------------------------------------------------------------------------------------- raw HTTP


class Http(RawHTTP):
    """bench._common's RawHTTP with the caller's bearer token, connected on first use; ``post`` sends JSON."""

    def __init__(self, host: str, port: int, token: str) -> None:
        super().__init__(port, {"Authorization": f"Bearer {token}"})
        self.connected = False

    async def post(self, path: str, body: Any) -> tuple[int, bytes]:
        if not self.connected:
            await self.__aenter__()
            self.connected = True
        return await self.request("POST", path, json.dumps(body, separators=(",", ":")).encode())

    async def fetch(self, path: str) -> tuple[int, bytes]:
        if not self.connected:
            await self.__aenter__()
            self.connected = True
        return await self.request("GET", path)

    def close(self) -> None:
        if self.connected:
            self.writer.close()


def _address(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").split(":")
    return host, int(port)


# ---------------------------------------------------------------------------------------------------------- setup


async def _setup(dsn: str, units: int) -> list[int]:
    """``units`` ambulances spread over the city, with no fix yet; their ids."""
    conn = await asyncpg.connect(dsn)
    try:
        rng = random.Random(25)
        rows = [
            (f"bench-{i}", CENTRE[0] + rng.uniform(-SPREAD, SPREAD), CENTRE[1] + rng.uniform(-SPREAD, SPREAD))
            for i in range(units)
        ]
        await conn.executemany(
            "INSERT INTO resource (type, name, status, location, source, external_id) "
            "VALUES ('ambulance', $1, 'available', ST_SetSRID(ST_MakePoint($2, $3), 4326), 'bench', $1)",
            rows,
        )
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM resource WHERE source = 'bench' ORDER BY id")]
        return ids
    finally:
        await conn.close()


async def _partitions(url: str) -> None:
    from command import service as command
    from core.clock import utcnow
    from core.db import create_engine, create_sessionmaker

    settings = get_settings().model_copy(update={"database_url": url})
    engine = create_engine(settings, bulk=True)
    try:
        async with create_sessionmaker(engine)() as session:
            await command.sweep_fix_partitions(session, now=utcnow(), days_ahead=3, keep_days=90)
            await session.commit()
    finally:
        await engine.dispose()


async def _gateway(base: str, dsn: str, name: str, units: list[int]) -> str:
    """A gateway account for ``units`` (made in SQL: there is no users API yet); its token."""
    from core.users import hash_password

    conn = await asyncpg.connect(dsn)
    try:
        user_id = await conn.fetchval(
            "INSERT INTO app_user (username, password_hash, role) VALUES ($1, $2, 'gateway') RETURNING id",
            name,
            hash_password("bench-gateway-pw"),
        )
        assigned = [(user_id, u) for u in units]
        await conn.executemany("INSERT INTO gateway_unit (user_id, unit_id) VALUES ($1, $2)", assigned)
    finally:
        await conn.close()
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/api/v1/auth/token", data={"username": name, "password": "bench-gateway-pw"})
        response.raise_for_status()
        return str(response.json()["access_token"])


class Walker:
    """Where each unit is, moving a few metres per fix (always plausible)."""

    def __init__(self, units: list[int]) -> None:
        rng = random.Random(7)
        self.where = {
            u: [CENTRE[0] + rng.uniform(-SPREAD, SPREAD), CENTRE[1] + rng.uniform(-SPREAD, SPREAD)] for u in units
        }  # noqa: E501

    def fix(self, unit: int, at: datetime) -> dict[str, Any]:
        spot = self.where[unit]
        spot[0] += random.uniform(-2e-5, 2e-5)
        spot[1] += random.uniform(-2e-5, 2e-5)
        location = {"type": "Point", "coordinates": [spot[0], spot[1]]}
        return {"unit_id": unit, "location": location, "at": at.isoformat()}


# -------------------------------------------------------------------------------------------------------- batches


async def _post_batches(base: str, token: str, units: list[int], seconds: float) -> tuple[int, list[float]]:
    walker, http = Walker(units), Http(*_address(base), token)
    stored, latencies, start, i = 0, [], time.perf_counter(), 0
    try:
        while time.perf_counter() - start < seconds:
            chunk = [units[(i * BATCH + k) % len(units)] for k in range(BATCH)]
            now = datetime.now(UTC)
            body = [walker.fix(u, now) for u in chunk]
            began = time.perf_counter()
            status, payload = await http.post("/api/v1/units/locations", body)
            latencies.append(time.perf_counter() - began)
            if status == 200:
                stored += json.loads(payload)["accepted"]
            i += 1
    finally:
        http.close()
    return stored, latencies


_COPY_COLUMNS = ["unit_id", "at", "location", "speed_kmh", "reported_speed_ms", "heading_deg", "accuracy_m", "trusted"]


def _ewkb(lon: float, lat: float) -> bytes:
    return struct.pack("<BIIdd", 1, 0x20000001, 4326, lon, lat)


async def _copy_floor(dsn: str, units: list[int], seconds: float) -> int:
    """The same rows by COPY, 500 at a time, from 4 connections for ``seconds``."""

    async def one(n: int) -> int:
        conn = await asyncpg.connect(dsn)
        # PostGIS reads EWKB in binary COPY: the geometry goes as bytes, as a driver that knew the type would send it.
        await conn.set_type_codec(
            "geometry", schema="public", encoder=lambda p: _ewkb(*p), decoder=bytes, format="binary"
        )
        written, start = 0, time.perf_counter()
        try:
            while time.perf_counter() - start < seconds:
                now = datetime.now(UTC)
                rows = [
                    (units[(n * BATCH + k) % len(units)], now, (104.06, 30.66), None, None, None, None, True)
                    for k in range(BATCH)
                ]
                await conn.copy_records_to_table("unit_fix", records=rows, columns=_COPY_COLUMNS)
                written += BATCH
        finally:
            await conn.close()
        return written

    return sum(await asyncio.gather(*(one(n) for n in range(GATEWAYS))))


async def part_batches(url: str, units: list[int], seconds: float, env: dict[str, str]) -> None:
    dsn = asyncpg_dsn(url)
    share = len(units) // GATEWAYS
    with server(url, workers=2, extra_env=env) as base:
        tokens = [
            await _gateway(base, dsn, f"gw-b{g}-{secrets.token_hex(2)}", units[g * share : (g + 1) * share])
            for g in range(GATEWAYS)
        ]
        results = await asyncio.gather(
            *(_post_batches(base, tokens[g], units[g * share : (g + 1) * share], seconds) for g in range(GATEWAYS))
        )
    stored = sum(r[0] for r in results)
    latencies = [x for r in results for x in r[1]]
    floor = await _copy_floor(dsn, units, seconds)
    print(f"\nBatches of {BATCH} from {GATEWAYS} gateways, two workers, {seconds:g} s")
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    print(f"  service: {stored / seconds:>9,.0f} fixes/s stored   batch p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    print(f"  COPY floor: {floor / seconds:>6,.0f} fixes/s          floor / service = {floor / max(stored, 1):.2f}")


# -------------------------------------------------------------------------------------------------------- singles


async def _phone(
    base: str, token: str, unit: int, seconds: float, walker: Walker, prefix: str
) -> tuple[list[float], int]:
    """One phone's closed loop: the latency of each fix answered 200, and how many were not (another status, a
    connection the server closed, no answer within 10 s), each followed by a new connection as a phone would make."""
    http, latencies, failed, start = Http(*_address(base), token), [], 0, time.perf_counter()
    try:
        while time.perf_counter() - start < seconds:
            fix = walker.fix(unit, datetime.now(UTC))
            began = time.perf_counter()
            try:
                status, _ = await http.post(f"{prefix}/units/{unit}/location", {**fix["location"], "at": fix["at"]})
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                status = 0
            if status == 200:
                latencies.append(time.perf_counter() - began)
                continue
            failed += 1
            http.close()
            http = Http(*_address(base), token)
            if status == 503:
                await asyncio.sleep(1)  # Retry-After: 1
    finally:
        http.close()
    return latencies, failed


async def _singles(
    url: str, units: list[int], seconds: float, workers: int, env: dict[str, str], *, floor: bool = False
) -> tuple[tuple[list[float], int], tuple[list[float], int]]:
    """The service's single fixes, and with ``floor`` (one worker) then the bare FastAPI route of
    bench/floor_app.py in the same process, with the same token and the same statements: (latencies, failures)."""
    phones = units[:PHONES]
    app = "bench.floor_app:create()" if floor else None
    with server(url, workers=workers, extra_env=env, app=app) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            token = (await admin_token(client))["Authorization"].removeprefix("Bearer ")  # a commander-like caller
        walker = Walker(phones)
        runs = await asyncio.gather(*(_phone(base, token, u, seconds, walker, "/api/v1") for u in phones))
        bare: list[tuple[list[float], int]] = []
        if floor:
            bare = await asyncio.gather(*(_phone(base, token, u, seconds, walker, "/floor") for u in phones))

    def merged(results: list[tuple[list[float], int]]) -> tuple[list[float], int]:
        return [x for r in results for x in r[0]], sum(r[1] for r in results)

    return merged(runs), merged(bare)


_FLOOR_FIX = (
    "INSERT INTO unit_fix (unit_id, at, location, trusted) "
    "VALUES ($1, now(), ST_SetSRID(ST_MakePoint(104.06, 30.66), 4326), true)"
)
_FLOOR_EVENT = "INSERT INTO event (type, data, unit_id) VALUES ('unit.location', '{\"id\": 1}'::jsonb, $1)"


async def _insert_floor(dsn: str, units: list[int], seconds: float) -> list[float]:
    """200 connections, each a transaction per fix: the fix row, the event lock, the event row."""
    pool = await asyncpg.create_pool(dsn, min_size=20, max_size=20)
    latencies: list[float] = []

    async def one(unit: int) -> None:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            began = time.perf_counter()
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(_FLOOR_FIX, unit)
                await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", *EVENT_LOCK_KEY)
                await conn.execute(_FLOOR_EVENT, unit)
            latencies.append(time.perf_counter() - began)

    try:
        await asyncio.gather(*(one(u) for u in units[:PHONES]))
    finally:
        await pool.close()
    return latencies


async def part_singles(url: str, units: list[int], seconds: float, env: dict[str, str]) -> None:
    print(f"\nSingle fixes from {PHONES} phones (closed loop), {seconds:g} s")
    for workers in (1, 2):
        (latencies, failed), (bare, bare_failed) = await _singles(url, units, seconds, workers, env, floor=workers == 1)
        print(
            f"  service, {workers} worker(s): {len(latencies) / seconds:>7,.0f} fixes/s   "
            f"p50 {percentile(latencies, 50) * 1000:.1f} ms, p99 {percentile(latencies, 99) * 1000:.1f} ms   "
            f"failed {failed}"
        )
        if workers == 1:
            print(
                f"  framework floor (bare FastAPI route, same process, token and statements, a transaction per fix): "
                f"{len(bare) / seconds:>7,.0f} fixes/s   "
                f"p50 {percentile(bare, 50) * 1000:.1f} ms, p99 {percentile(bare, 99) * 1000:.1f} ms   "
                f"failed {bare_failed}"
            )
    floor = await _insert_floor(asyncpg_dsn(url), units, seconds)
    print(
        f"  database floor (20 connections): {len(floor) / seconds:>7,.0f} fix+event transactions/s   "
        f"p50 {percentile(floor, 50) * 1000:.1f} ms, p99 {percentile(floor, 99) * 1000:.1f} ms"
    )


# --------------------------------------------------------------------------------------------------------- stream

_AT = re.compile(rb'"last_fix_at":"([^"]+)"')
_UNIT = re.compile(rb'"data":\{"id":(\d+)')


async def _watch(uri: str, stop: asyncio.Event, interval: float, out: dict[str, Any]) -> None:
    lags: list[float] = []
    per_unit: dict[tuple[int, int], int] = {}
    count = 0
    async with connect(uri, max_size=2**22, compression=None) as ws:
        while not stop.is_set():
            try:
                message = await asyncio.wait_for(ws.recv(decode=False), 0.5)
            except TimeoutError:
                continue
            arrived = time.time()
            if b'"type":"unit.location"' not in message[:40]:
                continue
            count += 1
            at, unit = _AT.search(message), _UNIT.search(message)
            if at and unit:
                lags.append(arrived - datetime.fromisoformat(at[1].decode()).timestamp())
                key = (int(unit[1]), int(arrived // interval))
                per_unit[key] = per_unit.get(key, 0) + 1
    out["lags"], out["count"], out["most_per_unit"] = lags, count, max(per_unit.values(), default=0)


async def part_stream(
    url: str, units: list[int], seconds: float, rate: int, watchers: int, citywide: int, env: dict[str, str]
) -> None:
    dsn = asyncpg_dsn(url)
    interval = float(env.get("COMMANDPOST_LOCATION_STREAM_SECONDS", "1"))
    with server(url, workers=2, extra_env=env) as base:
        token = await _gateway(base, dsn, f"gw-s-{secrets.token_hex(2)}", units)
        async with httpx.AsyncClient(base_url=base) as client:
            watch_token = (await admin_token(client))["Authorization"].removeprefix("Bearer ")
        host = base.removeprefix("http://")
        boxes = []
        for i in range(watchers):
            if i < citywide:
                boxes.append("")
            else:
                d = (i - citywide) % 10
                lon0 = CENTRE[0] - SPREAD + (d % 5) * (2 * SPREAD / 5)
                lat0 = CENTRE[1] - SPREAD + (d // 5) * SPREAD
                boxes.append(f"&bbox={lon0:.4f},{lat0:.4f},{lon0 + 2 * SPREAD / 5:.4f},{lat0 + SPREAD:.4f}")
        stop, outs = asyncio.Event(), [dict[str, Any]() for _ in range(watchers)]
        tasks = [
            asyncio.create_task(
                _watch(f"ws://{host}/ws/command?token={watch_token}&types=unit.{box}", stop, interval, out)
            )
            for box, out in zip(boxes, outs, strict=True)
        ]
        await asyncio.sleep(2)  # connected
        walker, http = Walker(units), Http(*_address(base), token)
        per_tick = max(1, rate // 10)
        sent, start, tick = 0, time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            due = start + tick * 0.1
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            now = datetime.now(UTC)
            chunk = [units[(tick * per_tick + k) % len(units)] for k in range(per_tick)]
            status, _ = await http.post("/api/v1/units/locations", [walker.fix(u, now) for u in chunk])
            sent += per_tick if status == 200 else 0
            tick += 1
        await asyncio.sleep(3)  # the last interval's newest positions
        stop.set()
        await asyncio.gather(*tasks)
        http.close()
    lags = [x for o in outs for x in o.get("lags", [])]
    rates = sorted(o.get("count", 0) / (seconds + 3) for o in outs)
    print(f"\nStream: {rate} fixes/s over {len(units)} units, {watchers} watchers ({citywide} city-wide), two workers")
    print(
        f"  sent {sent / seconds:,.0f} fixes/s; lag fix → screen p50 {percentile(lags, 50) * 1000:.0f} ms, "
        f"p99 {percentile(lags, 99) * 1000:.0f} ms over {len(lags):,} arrivals"
    )
    print(f"  messages per watcher per second: median {rates[len(rates) // 2]:.0f}, max {rates[-1]:.0f}")
    print(
        f"  most unit.location messages one watcher got about one unit in one {interval:g} s interval: "
        f"{max((o.get('most_per_unit', 0) for o in outs), default=0)}"
    )


# ---------------------------------------------------------------------------------------------------------- track


async def part_track(url: str, units: list[int], total: int, env: dict[str, str]) -> None:
    dsn = asyncpg_dsn(url)
    conn = await asyncpg.connect(dsn)
    try:
        now = datetime.now(UTC)
        days = 30
        await conn.execute("SET statement_timeout = 0")
        for d in range(days):  # partitions for the month back (the sweep makes only yesterday on)
            day = (now - timedelta(days=d)).date()
            name = f"unit_fix_p{day:%Y%m%d}"
            exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name)
            if not exists:
                start = datetime(day.year, day.month, day.day, tzinfo=UTC)
                await conn.execute(
                    f"CREATE TABLE {name} PARTITION OF unit_fix "
                    f"FOR VALUES FROM ('{start.isoformat()}') TO ('{(start + timedelta(days=1)).isoformat()}')"
                )
        began = time.perf_counter()
        per_day = total // days
        lo, hi = units[0], units[-1]
        for d in range(days):
            day_end = now - timedelta(days=d)
            await conn.execute(
                "INSERT INTO unit_fix (unit_id, at, location, trusted) "
                "SELECT $1::bigint + (g % ($2::bigint - $1::bigint + 1)), "
                "$3::timestamptz - (g * interval '1 second' * 86400 / $4::int), "
                "ST_SetSRID(ST_MakePoint(104.06 + (g % 1000) * 1e-5, 30.66), 4326), true "
                "FROM generate_series(1, $4::int) g",
                lo,
                hi,
                day_end,
                per_day,
            )
        await conn.execute("ANALYZE unit_fix")
        size = await conn.fetchval(
            "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits "
            "WHERE inhparent = 'unit_fix'::regclass"
        )
        print(
            f"\nTrack: {per_day * days:,} fixes over {days} days generated in "
            f"{time.perf_counter() - began:.0f} s ({size})"
        )
        rng = random.Random(3)
        sample = [rng.choice(units) for _ in range(500)]
        raw = []
        for unit in sample:
            began = time.perf_counter()
            await conn.fetch(
                "SELECT id, at, ST_X(location), ST_Y(location), trusted FROM unit_fix "
                "WHERE unit_id = $1 AND at >= $2 AND at <= $3 ORDER BY at DESC LIMIT 1000",
                unit,
                now - timedelta(hours=1),
                now,
            )
            raw.append(time.perf_counter() - began)
    finally:
        await conn.close()
    with server(url, workers=1, extra_env=env) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            token = (await admin_token(client))["Authorization"].removeprefix("Bearer ")
        http, api = Http(*_address(base), token), []
        since = (now - timedelta(hours=1)).isoformat().replace("+", "%2B")
        for unit in sample:
            began = time.perf_counter()
            status, _ = await http.fetch(f"/api/v1/units/{unit}/track?since={since}&limit=1000")
            assert status == 200
            api.append(time.perf_counter() - began)
        http.close()
    print(
        f"  GET /units/{{id}}/track (last hour): p50 {percentile(api, 50) * 1000:.1f} ms, "
        f"p99 {percentile(api, 99) * 1000:.1f} ms"
    )
    print(
        f"  raw SQL floor:                    p50 {percentile(raw, 50) * 1000:.1f} ms, "
        f"p99 {percentile(raw, 99) * 1000:.1f} ms"
    )


# ----------------------------------------------------------------------------------------------------------- main


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--units", type=int, default=5000)
    parser.add_argument("--rate", type=int, default=1000, help="fixes/s in the stream part")
    parser.add_argument("--watchers", type=int, default=200)
    parser.add_argument("--citywide", type=int, default=20)
    parser.add_argument("--track-fixes", type=int, default=5_000_000)
    parser.add_argument("--parts", default="batches,singles,stream,track")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    env = {
        "COMMANDPOST_REDIS_URL": get_settings().redis_url or "redis://127.0.0.1:6379/0",
        "COMMANDPOST_REDIS_PREFIX": f"benchloc{secrets.token_hex(3)}",
        "COMMANDPOST_LOCATION_MAX_FIXES_PER_SECOND": "1000000",
        "COMMANDPOST_DB_POOL_SIZE": "20",
    }
    async with bench_database("locations") as url:
        await _partitions(url)
        units = await _setup(asyncpg_dsn(url), args.units)
        if "batches" in parts:
            await part_batches(url, units, args.seconds, env)
        if "singles" in parts:
            await part_singles(url, units, args.seconds, env)
        if "stream" in parts:
            await part_stream(url, units, args.seconds, args.rate, args.watchers, args.citywide, env)
        if "track" in parts:
            await part_track(url, units, args.track_fixes, env)


if __name__ == "__main__":
    asyncio.run(main())
