"""Web workers in processes of their own (``commandpost serve``) on the test database, for the tests of the live
streams across processes (tests/web/test_live_workers.py, tests/web/test_field_stream.py). Their fixtures
(``worker_env``, ``workers``) are in tests/web/conftest.py."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
# The commander every worker test has (tests/web/conftest.py's worker_users), and the password of every user made
# for these tests.
COMMANDER = "workers.cmd"
PASSWORD = "worker-test-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Worker:
    """One ``commandpost serve`` process."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env  # to start its like again (a restart)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "web.cli", "serve", "--port", str(self.port), "--log-level", "error"],
            env=env,
            cwd=ROOT,
        )
        self.base = f"127.0.0.1:{self.port}"

    async def ready(self) -> Worker:
        async with httpx.AsyncClient() as client:
            for _ in range(150):
                if self.proc.poll() is not None:
                    raise AssertionError(f"worker on {self.base} exited ({self.proc.returncode}) before it was ready")
                try:
                    if (await client.get(f"http://{self.base}/readyz", timeout=1)).status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"worker on {self.base} did not become ready")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=15)


async def token_on(base: str, username: str = COMMANDER, password: str = PASSWORD) -> dict[str, str]:
    """Sign in on the worker at ``base``; the auth header."""
    async with httpx.AsyncClient(base_url=f"http://{base}") as client:
        response = await client.post("/api/v1/auth/token", data={"username": username, "password": password})
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def two_workers(env: dict[str, str], workers: list[Worker]) -> tuple[Worker, Worker, dict[str, str]]:
    """Two servers on one database and one Redis, both ready, and a commander's token good on both."""
    a, b = Worker(env), Worker(env)
    workers += [a, b]
    await asyncio.gather(a.ready(), b.ready())
    return a, b, await token_on(a.base)
