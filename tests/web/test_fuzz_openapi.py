"""Schemathesis against the app's own OpenAPI document, signed in as an admin, a field unit and an observer.

Every operation the document lists is called with generated requests (valid and not) over the in-process ASGI app;
the test fails on any 5xx and on any answer the document does not describe (status code, content type, body).

It runs on a private database (migrated here, dropped afterwards): the app commits for real, so nothing it writes
can reach the other tests. Bounded in time: a fixed seed, derandomised, a small number of examples per operation.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from schemathesis.python import asgi
from sqlalchemy.ext.asyncio import async_sessionmaker

from core import migrate
from core.db import create_engine
from core.geojson import Point
from core.settings import Settings, get_settings
from core.users import Role, add_user
from gis import service as gis
from gis.schemas import ResourceIn
from tests.conftest import drop_database, fresh_database_url
from web.app import create_app

ROLES = (Role.admin, Role.field_unit, Role.observer)
# 12 examples per operation (each sent as all three roles) keep the test near a minute on two busy cores. For a deeper
# hunt: COMMANDPOST_FUZZ_EXAMPLES=100 (and another COMMANDPOST_FUZZ_SEED) — 100 ran clean when this was written.
EXAMPLES = int(os.environ.get("COMMANDPOST_FUZZ_EXAMPLES", "12"))
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": int(os.environ.get("COMMANDPOST_FUZZ_SEED", "20261214")),
        "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
        "checks": {
            # No 5xx, and every answer as the document describes it. (Not the checks that judge the API's design,
            # such as whether schema-valid input is always accepted: a unit that does not exist is still a 404.)
            "enabled": False,
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
            "response_headers_conformance": {"enabled": True},
        },
        "operations": [
            {
                # Generating plan documents and 10,000-item example sets is what costs here (the server answers
                # 2,000 examples in ~0.15 s since item 6): with the coverage phase these two take ~3 minutes of
                # generation, so fewer examples and no coverage phase keep the test within its 2-minute budget.
                "include-path-regex": "^/api/v1/plans(/check)?$",
                "include-method": "POST",
                "phases": {"coverage": {"enabled": False}},
                "generation": {"max-examples": 4},
            }
        ],
    }
)


@dataclass(frozen=True)
class FuzzEnv:
    settings: Settings
    passwords: dict[Role, tuple[str, str]]


@pytest.fixture(scope="module")
async def fuzz_env(settings: Settings) -> AsyncIterator[FuzzEnv]:
    """A database of its own, with a unit and one user per role."""
    url = fresh_database_url("fuzz")
    await asyncio.to_thread(migrate.ensure_database, url)
    await asyncio.to_thread(migrate.upgrade, url)
    own = settings.model_copy(update={"database_url": url, "redis_url": None, "scheduler_embedded": False})
    engine = create_engine(own)
    passwords: dict[Role, tuple[str, str]] = {}
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            unit = await gis.create_resource(
                session, data=ResourceIn(type="ambulance", name="Fuzz 1", location=Point.of(104.06, 30.66))
            )
            for role in ROLES:
                name, password = f"fuzz_{role.value}", secrets.token_urlsafe(12)
                unit_id = unit.id if role is Role.field_unit else None
                await add_user(session, username=name, password=password, role=role, unit_id=unit_id)
                passwords[role] = (name, password)
            await session.commit()
    finally:
        await engine.dispose()
    yield FuzzEnv(settings=own, passwords=passwords)
    await drop_database(url)


@pytest.fixture(scope="module")
def fuzz_app(fuzz_env: FuzzEnv) -> Iterator[Any]:
    app = create_app(fuzz_env.settings)
    yield app
    asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def tokens(fuzz_app: Any, fuzz_env: FuzzEnv) -> dict[Role, dict[str, str]]:
    """The Authorization header of each role, signed in over the app (its lifespan starts here)."""
    headers = {}
    with asgi.get_client(fuzz_app) as client:
        for role, (name, password) in fuzz_env.passwords.items():
            response = client.post("/api/v1/auth/token", data={"username": name, "password": password})
            assert response.status_code == 200, response.text
            headers[role] = {"Authorization": f"Bearer {response.json()['access_token']}"}
            # Signed in for real: a fuzz run that only ever met 401s would prove nothing.
            assert client.get("/api/v1/me", headers=headers[role]).json()["role"] == role.value
    return headers


# The document comes from an app built here (building one touches no database); the requests go to the fixture's.
schema = schemathesis.openapi.from_dict(create_app(get_settings()).openapi(), config=CONFIG)


@schema.parametrize()
def test_every_operation_answers_as_documented(case: Any, fuzz_app: Any, tokens: dict[Role, dict[str, str]]) -> None:
    """Each generated request, as each role: never a 5xx, always an answer the document describes."""
    for headers in tokens.values():
        case.call_and_validate(headers=headers, app=fuzz_app)
