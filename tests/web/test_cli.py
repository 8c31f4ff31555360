"""The ``commandpost`` command as an operator runs it: db upgrade on an empty server, users add, serve."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

CLI = [sys.executable, "-m", "web.cli"]
ROOT = Path(__file__).resolve().parents[2]


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(cli_env: dict[str, str]) -> Iterator[str]:
    """``commandpost serve`` really running on a free port, after ``db upgrade``; a server that exits or is not
    healthy within 30 s fails the test here, saying so."""
    assert run(cli_env, "db", "upgrade", "--quiet").returncode == 0
    port = _free_port()
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), "--log-level", "warning"], env=cli_env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, base, timeout=30)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _wait_healthy(proc: subprocess.Popen[bytes], base: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"commandpost serve exited ({proc.returncode}) before {base}/healthz answered")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"commandpost serve on {base} was not healthy within {timeout:g} s")
        time.sleep(0.1)


async def test_db_upgrade_creates_migrates_and_is_idempotent(cli_env: dict[str, str]) -> None:
    first = await asyncio.to_thread(run, cli_env, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert "created database" in first.stdout and "migrated to" in first.stdout
    assert "admin user created" in first.stdout
    second = await asyncio.to_thread(run, cli_env, "db", "upgrade")
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout and "admin user unchanged" in second.stdout


async def test_users_add_then_sign_in(served: str, cli_env: dict[str, str]) -> None:
    added = await asyncio.to_thread(
        run,
        cli_env,
        "users",
        "add",
        "zhao.field",
        "--role",
        "field_unit",
        "--unit",
        "17",
        "--password-stdin",
        stdin="field-pass-123\n",
    )
    assert added.returncode == 0, added.stderr
    duplicate = await asyncio.to_thread(
        run, cli_env, "users", "add", "zhao.field", "--role", "observer", "--password-stdin", stdin="another-pass\n"
    )
    assert duplicate.returncode == 2 and "already exists" in duplicate.stderr
    unbound = await asyncio.to_thread(
        run, cli_env, "users", "add", "nounit", "--role", "field_unit", "--password-stdin", stdin="another-pass\n"
    )
    assert unbound.returncode == 2 and "unit" in unbound.stderr
    no_such_units = await asyncio.to_thread(
        run, cli_env, "users", "add", "avl", "--role", "gateway", "--units", "17,40-42", "--password-stdin",
        stdin="gateway-pass-1\n",
    )  # fmt: skip
    assert no_such_units.returncode == 2 and "not units: 17, 40, 41, 42" in no_such_units.stderr

    async with httpx.AsyncClient(base_url=served) as client:
        token = await client.post("/api/v1/auth/token", data={"username": "zhao.field", "password": "field-pass-123"})
        assert token.status_code == 200 and token.json()["role"] == "field_unit"
        me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        assert me.json() == {"username": "zhao.field", "role": "field_unit", "unit_id": 17}
        admin = await client.post(
            "/api/v1/auth/token", data={"username": "admin", "password": cli_env["COMMANDPOST_ADMIN_PASSWORD"]}
        )
        assert admin.status_code == 200 and admin.json()["role"] == "admin"
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
        assert (await client.get("/docs")).status_code == 200
    # The command room's websocket: the client offers permessage-deflate (websockets does by default) and the
    # served app declines it unless COMMANDPOST_WS_COMPRESSION asks for it (it costs a compression per client).
    token = admin.json()["access_token"]
    async with connect(f"ws://{served.removeprefix('http://')}/ws/command?token={token}") as ws:
        assert ws.response is not None and "Sec-WebSocket-Extensions" not in ws.response.headers
        await ws.send("x" * (64 * 1024 + 1))  # over COMMANDPOST_WS_MAX_MESSAGE_KB: uvicorn closes with 1009
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_serve_refuses_several_workers_without_redis(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "COMMANDPOST_REDIS_URL": ""}
    result = run(env, "serve", "--workers", "2")
    assert result.returncode != 0 and "COMMANDPOST_REDIS_URL" in result.stderr


def test_serve_refuses_a_short_secret_key(cli_env: dict[str, str]) -> None:
    result = run({**cli_env, "COMMANDPOST_SECRET_KEY": "too-short-a-key"}, "serve", "--port", str(_free_port()))
    assert result.returncode == 2
    assert "SECRET_KEY must have at least 32 characters" in result.stderr
    assert "too-short-a-key" not in result.stderr + result.stdout and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('{"I": 30, "II": 60, "III": 90}', "missing: IV"),
        ('{"I": 30, "II": -60, "III": 90, "IV": 180}', "grade II must be a number of seconds above 0"),
    ],
    ids=["missing", "negative"],
)
def test_serve_refuses_a_deadline_table_that_is_not_whole(cli_env: dict[str, str], table: str, says: str) -> None:
    result = run({**cli_env, "COMMANDPOST_ACK_DEADLINES": table}, "serve", "--port", str(_free_port()))
    assert result.returncode == 2 and "ACK_DEADLINES" in result.stderr and says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
