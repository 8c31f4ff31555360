"""What a real server writes to its log, read from the process's own output: no token (``?token=``, websocket lines,
access log), no value of a failed SQL statement; and whose address it records (X-Forwarded-For only from a
trusted proxy). ``commandpost serve`` itself, and the probe routes served the same way."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis_async
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from core.audit import AuditEntry
from core.db import create_sessionmaker
from core.settings import Settings
from core.users import Role, add_user
from tests.conftest import LIVE_TABLES

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "served-logs-password"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A server process whose stdout and stderr (uvicorn writes its access log to one, the rest to the other)
    go to one file, read once it has stopped."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.base = f"127.0.0.1:{command[-1]}"
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=self._out, stderr=subprocess.STDOUT)

    async def ready(self) -> Server:
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                try:
                    if (await client.get(f"http://{self.base}/healthz", timeout=1)).status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                assert self.proc.poll() is None, self.log.read_text()
                await asyncio.sleep(0.1)
        raise AssertionError(f"the server on {self.base} did not start: {self.log.read_text()}")

    def stop(self) -> str:
        """Stop the server and return everything it wrote."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=15)
        self._out.close()
        return self.log.read_text(errors="replace")


@pytest.fixture
async def committed(settings: Settings, engine: AsyncEngine) -> AsyncIterator[None]:
    """A user that really exists; the tables the servers write are emptied afterwards."""
    async with create_sessionmaker(engine)() as session:
        await add_user(session, username="logged.user", password=PASSWORD, role=Role.commander)
        await session.commit()
    yield
    async with engine.begin() as conn:
        existing = {r[0] for r in await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'"))}
        tables = ", ".join(t for t in LIVE_TABLES if t in existing)
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def server_env(settings: Settings, committed: None, redis: redis_async.Redis) -> dict[str, str]:
    assert settings.secret_key is not None
    return {
        **os.environ,
        "COMMANDPOST_DATABASE_URL": settings.database_url,
        "COMMANDPOST_REDIS_URL": settings.redis_url or "redis://127.0.0.1:6379/0",
        "COMMANDPOST_REDIS_PREFIX": settings.redis_prefix + secrets.token_hex(2),  # deleted by the redis fixture
        "COMMANDPOST_SECRET_KEY": settings.secret_key.get_secret_value(),
        "COMMANDPOST_ADMIN_PASSWORD": "",
        "COMMANDPOST_SCHEDULER_EMBEDDED": "false",
    }


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


async def _sign_in(http: httpx.AsyncClient) -> str:
    response = await http.post("/api/v1/auth/token", data={"username": "logged.user", "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def test_serve_logs_no_token_and_believes_no_forwarded_address(
    server_env: dict[str, str], servers: list[Server], tmp_path: Path, engine: AsyncEngine
) -> None:
    command = [sys.executable, "-m", "web.cli", "serve", "--log-level", "info", "--port", str(_free_port())]
    server = Server(command, server_env, tmp_path / "serve.log")
    servers.append(server)
    await server.ready()
    async with httpx.AsyncClient(base_url=f"http://{server.base}") as http:
        token = await _sign_in(http)
        # A token in a URL: an HTTP request's (access log) and a websocket's (uvicorn's "WebSocket ..." lines).
        me = await http.get(f"/api/v1/me?token={token}", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        async with connect(f"ws://{server.base}/ws/command?token={token}") as ws:
            await ws.ping()
        bearer = [Subprotocol("commandpost.bearer"), Subprotocol(token)]
        async with connect(f"ws://{server.base}/ws/command", subprotocols=bearer) as ws:
            await ws.ping()
        # A forged X-Forwarded-For from a peer that is no trusted proxy.
        refused = await http.post("/api/v1/incidents", json={}, headers={"X-Forwarded-For": "203.0.113.9"})
        assert refused.status_code == 401
    log = server.stop()

    _, payload, signature = token.split(".")
    assert signature not in log and payload not in log, "a token reached the log"
    assert "/ws/command?token=[redacted]" in log and "/api/v1/me?token=[redacted]" in log, log
    async with create_sessionmaker(engine)() as session:
        addresses = set(await session.scalars(select(AuditEntry.client_ip).where(AuditEntry.status_code == 401)))
    assert addresses == {"127.0.0.1"}, "X-Forwarded-For was believed from an untrusted peer"


async def test_a_failed_statement_leaves_its_values_out_of_log_and_answer(
    server_env: dict[str, str], servers: list[Server], tmp_path: Path
) -> None:
    command = [sys.executable, "-m", "tests.support.probe_server", str(_free_port())]
    server = Server(command, server_env, tmp_path / "probe.log")
    servers.append(server)
    await server.ready()
    kinds = ("client", "server", "catalog", "duplicate")
    secrets_sent = {where: f"s3cr3t-{where}-{secrets.token_hex(6)}" for where in kinds}
    answers: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=f"http://{server.base}") as http:
        auth = {"Authorization": f"Bearer {await _sign_in(http)}"}
        for where in ("client", "server", "catalog"):
            body = {"value": secrets_sent[where]}
            answers[where] = await http.post(f"/api/v1/_probe/bad-value/{where}", json=body, headers=auth)
        body = {"value": secrets_sent["duplicate"]}
        answers["duplicate"] = await http.post("/api/v1/_probe/duplicate-user", json=body, headers=auth)
    log = server.stop()

    # Bad data is the caller's fault (422, web/errors.py's safety net); a missing table is ours (500).
    assert [answers[k].status_code for k in kinds] == [422, 422, 500, 409]
    assert log.count("Traceback (most recent call last)") >= 1, log  # the 500 was logged, with its frames
    assert "SQLSTATE 42P01" in log and "SELECT CAST(CAST($1 AS text) AS regclass)" in log, log
    for where, value in secrets_sent.items():
        assert value not in log, f"the value of a failed statement ({where}) reached the log"
        assert value not in answers[where].text


async def test_serve_writes_one_json_object_a_line_with_the_request_id_and_no_token(
    server_env: dict[str, str], servers: list[Server], tmp_path: Path
) -> None:
    command = [sys.executable, "-m", "web.cli", "serve", "--log-level", "info", "--port", str(_free_port())]
    server = Server(command, {**server_env, "COMMANDPOST_LOG_FORMAT": "json"}, tmp_path / "serve.log")
    servers.append(server)
    await server.ready()
    async with httpx.AsyncClient(base_url=f"http://{server.base}") as http:
        token = await _sign_in(http)
        me = await http.get(f"/api/v1/me?token={token}&since=4", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        async with connect(f"ws://{server.base}/ws/command?token={token}") as ws:
            await ws.ping()
        missing = await http.get("/api/v1/incidents/987654", headers={"X-Request-ID": "trace-me-42"})
        assert missing.status_code == 401
    log = server.stop()

    _, payload, signature = token.split(".")
    assert signature not in log and payload not in log, "a token reached the log"
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines), lines
    requests = {line["request_id"]: line for line in lines if line["logger"] == "commandpost.access"}
    seen = requests[me.headers["X-Request-ID"]]
    assert seen["route"] == "/api/v1/me" and seen["status"] == 200 and seen["method"] == "GET"
    assert seen["user"] == "logged.user" and isinstance(seen["duration_ms"], float)
    assert "/api/v1/me?token=[redacted]&since=4" in seen["message"], seen
    refused = requests["trace-me-42"]
    assert refused["route"] == "/api/v1/incidents/{incident_id}" and refused["status"] == 401
    assert refused["user"] is None
    assert any("/ws/command?token=[redacted]" in line["message"] for line in lines), "no websocket line"
    assert not any(line["logger"] == "uvicorn.access" for line in lines), "uvicorn's access line and ours, twice"


async def test_text_lines_for_a_person_carry_the_request_id_too(
    server_env: dict[str, str], servers: list[Server], tmp_path: Path
) -> None:
    command = [sys.executable, "-m", "web.cli", "serve", "--log-level", "info", "--port", str(_free_port())]
    server = Server(command, {**server_env, "COMMANDPOST_LOG_FORMAT": "text"}, tmp_path / "serve.log")
    servers.append(server)
    await server.ready()
    async with httpx.AsyncClient(base_url=f"http://{server.base}") as http:
        assert (await http.get("/healthz", headers={"X-Request-ID": "text-line-7"})).status_code == 200
    log = server.stop()
    line = next(line for line in log.splitlines() if "text-line-7" in line)
    assert "commandpost.access: GET /healthz 200" in line and "route /healthz" in line, line
    with pytest.raises(ValueError):
        json.loads(line)
