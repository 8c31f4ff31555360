"""A web worker stays small: geopandas, pandas, pyarrow, pyogrio, osmium and tqdm (what only layer import and export,
OSM import and the CLI use), pywebpush (with aiohttp), aiosmtplib and httpx (what only the delivery sweep and feed
polls use), pyproj (CRS and geodesic circles: a worker's first impact area or distance beyond ~50 km), and pyotp
(only the sign-in and enrolment of users with TOTP) are not loaded by importing ``web.app``, creating the app, or
answering ordinary requests; they load when an export, an import or a send first runs. Each check runs in a fresh
process: this one has loaded them all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
HEAVY = (
    *("geopandas", "pandas", "pyarrow", "pyogrio", "osmium", "tqdm"),
    *("pywebpush", "aiosmtplib", "aiohttp", "httpx", "pyproj", "pypinyin", "zhconv", "pyotp"),
)
BOUND_S = 120  # a fresh interpreter importing the app on a busy machine; far more than it takes


def _python(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=BOUND_S, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "imports",
    [
        "import web.app",
        "import web.cli, web.app",  # `commandpost serve` runs the worker in the CLI's own process
    ],
)
def test_importing_the_app_and_creating_it_loads_no_heavy_library(imports: str) -> None:
    code = f"{imports}, sys; web.app.create_app(); print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    assert _python("-c", code) == "[]"


def test_ordinary_requests_load_none_and_an_export_loads_them_on_first_use(
    settings: Settings, database: str, redis: object
) -> None:
    """``redis``: the run's keys the worker writes (sign-in counters) are deleted afterwards."""
    env = {
        **os.environ,
        "COMMANDPOST_DATABASE_URL": database,
        "COMMANDPOST_REDIS_URL": settings.redis_url or "",
        "COMMANDPOST_REDIS_PREFIX": settings.redis_prefix,
        "COMMANDPOST_SECRET_KEY": settings.secret_key.get_secret_value() if settings.secret_key else "",
        "COMMANDPOST_ADMIN_PASSWORD": "",
        "COMMANDPOST_SITUATION_SWEEP_SECONDS": "600",
    }
    seen = json.loads(_python("-m", "tests.support.lean_worker", env=env))
    statuses = seen["statuses"]
    assert statuses.pop("POST /api/v1/resources") == 201
    routes = [path for path in statuses if path.startswith("GET /api/v1/route?")]
    assert [statuses.pop(path) for path in routes] == [409]  # no road graph here: the route code still ran
    assert len(statuses) == 10  # nine more requests and the export
    assert all(code in (200, 204) for code in statuses.values()), statuses
    assert seen["after_create"] == []
    assert seen["after_requests"] == []
    # The check would see them: the export loaded what it needs, on first use.
    assert {"geopandas", "pandas", "pyogrio"} <= set(seen["after_export"])
