from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.settings import Settings
from tests.conftest import drop_database, fresh_database_url
from tests.web import probe_routes


@pytest.fixture
def app(app: Any) -> Any:
    """The real app plus the probe routes."""
    app.include_router(probe_routes.router)
    return app


@pytest.fixture
async def cli_env(settings: Settings, redis: Any) -> AsyncIterator[dict[str, str]]:
    """Environment of a CLI run against a database that does not exist yet (dropped afterwards)."""
    url = fresh_database_url("cli")
    env = {
        **os.environ,
        "COMMANDPOST_DATABASE_URL": url,
        "COMMANDPOST_ADMIN_PASSWORD": "admin-pass-" + secrets.token_hex(4),
        "COMMANDPOST_SECRET_KEY": secrets.token_urlsafe(32),
        "COMMANDPOST_REDIS_URL": settings.redis_url or "",
        "COMMANDPOST_REDIS_PREFIX": settings.redis_prefix,  # this run's namespace, cleaned by the redis fixture
    }
    yield env
    await drop_database(url)
