"""``commandpost import-layer``, ``db downgrade`` and ``scheduler`` as an operator runs them, on a fresh database."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from tests.web.test_cli import CLI, ROOT, run
from web.scheduler import ELECTION_KEY

ZONES = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": "North Fault", "kind": "active_fault", "buffer_m": 1000},
            "geometry": {"type": "LineString", "coordinates": [[104.0, 30.7], [104.1, 30.7]]},
        },
        {
            "type": "Feature",
            "properties": {"name": "River Flats"},  # no kind: --zone-kind gives it one
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[104.0, 30.6], [104.02, 30.6], [104.02, 30.62], [104.0, 30.62], [104.0, 30.6]]],
            },
        },
        {
            "type": "Feature",
            "properties": {"name": "Point Hazard", "kind": "landslide"},  # a point with no buffer: refused
            "geometry": {"type": "Point", "coordinates": [104.05, 30.65]},
        },
    ],
}


async def _fetch(database_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    """Read the CLI's database directly (the commands under test are other processes)."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def test_import_layer_loads_reports_and_audits(cli_env: dict[str, str], tmp_path: Path) -> None:
    url = cli_env["COMMANDPOST_DATABASE_URL"]
    assert (await asyncio.to_thread(run, cli_env, "db", "upgrade", "--quiet")).returncode == 0
    path = tmp_path / "zones.geojson"
    path.write_text(json.dumps(ZONES))

    strict = await asyncio.to_thread(
        run, cli_env, "import-layer", str(path), "--kind", "hazard_zones", "--zone-kind", "flood", "--strict", "--quiet"
    )
    assert strict.returncode == 2 and "nothing was loaded" in strict.stderr, strict.stderr
    assert await _fetch(url, "SELECT id FROM hazard_zone") == []

    done = await asyncio.to_thread(
        run, cli_env, "import-layer", str(path), "--kind", "hazard_zones", "--zone-kind", "flood", "--quiet"
    )
    assert done.returncode == 0, done.stderr
    assert "imported 2 hazard_zones from zones.geojson" in done.stdout
    assert "rejected row 3: a point or line hazard needs buffer_m > 0" in done.stdout
    assert "1 row(s) rejected" in done.stdout
    rows = await _fetch(url, "SELECT name, kind, buffer_m FROM hazard_zone ORDER BY name")
    assert [tuple(r) for r in rows] == [("North Fault", "active_fault", 1000.0), ("River Flats", "flood", 0.0)]
    audit = await _fetch(url, "SELECT actor, outcome, target FROM audit_log WHERE action = 'layers.import'")
    assert len(audit) == 1 and (audit[0]["actor"], audit[0]["outcome"]) == ("cli", "ok")
    assert json.loads(audit[0]["target"]) == {"kind": "hazard_zones", "file": "zones.geojson", "imported": 2}

    missing = await asyncio.to_thread(
        run, cli_env, "import-layer", str(tmp_path / "nope.geojson"), "--kind", "resources"
    )
    assert missing.returncode != 0 and "no such file" in missing.stderr


async def test_db_downgrade_to_base_removes_the_schema_and_upgrade_restores_it(cli_env: dict[str, str]) -> None:
    url = cli_env["COMMANDPOST_DATABASE_URL"]
    assert (await asyncio.to_thread(run, cli_env, "db", "upgrade", "--quiet")).returncode == 0
    tables = "SELECT to_regclass('public.incident') AS incident, to_regclass('public.event') AS event"
    assert all(await _fetch(url, tables))
    down = await asyncio.to_thread(run, cli_env, "db", "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert "database downgraded to base" in down.stdout
    assert tuple((await _fetch(url, tables))[0]) == (None, None)
    assert await _fetch(url, "SELECT version_num FROM alembic_version") == []
    again = await asyncio.to_thread(run, cli_env, "db", "upgrade", "--quiet")
    assert again.returncode == 0 and "migrated to" in again.stdout, again.stderr
    assert all((await _fetch(url, tables))[0])


async def _wait_for_row(
    proc: subprocess.Popen[str], url: str, query: str, *args: Any, what: str, timeout: float = 30
) -> list[asyncpg.Record]:
    """Poll the database for ``query``'s first row while the process runs: bounded, and failing with what was
    awaited (or with the process's own output if it died)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"{what}: the process exited ({proc.returncode}) first: {out} {err}")
        rows = await _fetch(url, query, *args)
        if rows:
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout:g} s")
        await asyncio.sleep(0.1)


async def test_scheduler_takes_the_lead_runs_its_sweeps_and_stops_on_ctrl_c(cli_env: dict[str, str]) -> None:
    url = cli_env["COMMANDPOST_DATABASE_URL"]
    assert (await asyncio.to_thread(run, cli_env, "db", "upgrade", "--quiet")).returncode == 0
    env = {**cli_env, "COMMANDPOST_SITUATION_SWEEP_SECONDS": "0.5"}
    proc = subprocess.Popen(
        [*CLI, "scheduler"], env=env, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        # The election lock (a session advisory lock in this database), then a sweep's row: the picture it
        # publishes once when it takes the schedule over.
        lock = (
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND classid = $1 AND objid = $2"
        )
        await _wait_for_row(proc, url, lock, *ELECTION_KEY, what="the scheduler's election lock")
        [event] = await _wait_for_row(
            proc, url, "SELECT type, data FROM event WHERE type = 'situation.updated'", what="a situation.updated row"
        )
        assert json.loads(event["data"])["incidents"]["open"] == 0
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.to_thread(proc.communicate, timeout=20)
    assert proc.returncode == 0, err
    assert "campaigning for the scheduler lock" in out and "scheduler stopped" in out
