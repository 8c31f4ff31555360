"""``commandpost roads build`` and the graph line of ``import-osm``, as an operator runs them, on a fresh database."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import drop_database, fresh_database_url
from tests.gis.test_routing import RIVER_TOWN

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def cli_env() -> AsyncIterator[dict[str, str]]:
    url = fresh_database_url("roads")
    env = {**os.environ, "COMMANDPOST_DATABASE_URL": url, "COMMANDPOST_SECRET_KEY": secrets.token_urlsafe(32)}
    env.pop("COMMANDPOST_ADMIN_PASSWORD", None)
    yield env
    await drop_database(url)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


def test_roads_build_reports_the_graph(cli_env: dict[str, str]) -> None:
    assert run(cli_env, "db", "upgrade", "--quiet").returncode == 0
    empty = run(cli_env, "roads", "build")
    assert empty.returncode == 0 and "0 edges" in empty.stdout and "commandpost import-osm" in empty.stdout
    imported = run(cli_env, "import-osm", str(RIVER_TOWN))
    assert imported.returncode == 0, imported.stderr
    assert "road graph: 18 edges, 18 vertices" in imported.stdout
    assert "isolated pieces: 2 (3, 2 vertices)" in imported.stdout
    # An operator's speed table: residential streets left out, so both bank roads drop out of the graph.
    slower = run({**cli_env, "COMMANDPOST_ROAD_SPEEDS_KMH": json.dumps({"residential": 0})}, "roads", "build")
    assert slower.returncode == 0, slower.stderr
    assert "road graph: 12 edges" in slower.stdout and "left out: 2 way(s), not driven" in slower.stdout
    assert "isolated piece: 3 vertices, 2 edges" in slower.stdout
