"""deploy/run, the deployment we recommend, run for real on private ports: nginx with TLS (a local CA it makes) in
front of two workers and a separate scheduler. HTTPS verified against that CA, HTTP redirected, HSTS sent, a
websocket through the proxy hears an incident logged through the proxy (whichever worker each reached), and SIGTERM
stops every process it started."""

from __future__ import annotations

import asyncio
import json
import signal
import ssl
import subprocess
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from tests.web.test_cli import ROOT, _free_port


def _wait_ready(proc: subprocess.Popen[bytes], lines: list[str]) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + 240
    while not any("ready: https://" in line for line in lines):
        line = proc.stdout.readline().decode()
        if not line and proc.poll() is not None:
            raise AssertionError("deploy/run stopped:\n" + "".join(lines))
        lines.append(line)
        assert time.monotonic() < deadline, "deploy/run was not ready within 240 s:\n" + "".join(lines)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


async def test_the_recommended_deployment_serves_tls_websockets_and_stops_cleanly(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    https, http, one, two = (_free_port() for _ in range(4))
    state = tmp_path / "state"
    env = {
        **cli_env,
        "DEPLOY_HTTPS_PORT": str(https),
        "DEPLOY_HTTP_PORT": str(http),
        "DEPLOY_WORKER_PORTS": f"{one} {two}",
        "DEPLOY_STATE": str(state),
    }
    proc = subprocess.Popen(
        [str(ROOT / "deploy" / "run")], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    lines: list[str] = []
    try:
        await asyncio.to_thread(_wait_ready, proc, lines)
        ca = state / "tls" / "ca.pem"
        assert ca.is_file() and "making a local certificate authority" in "".join(lines)
        trusted = ssl.create_default_context(cafile=str(ca))
        async with httpx.AsyncClient(base_url=f"https://localhost:{https}", verify=trusted, timeout=30) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 200 and ready.json()["status"] == "ready"
            assert ready.headers["strict-transport-security"].startswith("max-age=")
            redirected = await httpx.AsyncClient().get(f"http://127.0.0.1:{http}/login?x=1")
            assert redirected.status_code == 308
            assert redirected.headers["location"] == f"https://127.0.0.1:{https}/login?x=1"
            signed = await client.post(
                "/api/v1/auth/token", data={"username": "admin", "password": cli_env["COMMANDPOST_ADMIN_PASSWORD"]}
            )
            assert signed.status_code == 200, signed.text
            token = signed.json()["access_token"]
            # Two sockets through nginx (least_conn spreads them over the workers); an incident logged through nginx
            # reaches both, whichever worker took the request: Redis carries it between them.
            uri = f"wss://localhost:{https}/ws/command?ready=1&types=incident."
            protocols = ["commandpost.bearer", token]
            async with (
                connect(uri, ssl=trusted, subprotocols=protocols) as a,
                connect(  # type: ignore[arg-type]
                    uri,
                    ssl=trusted,
                    subprotocols=protocols,  # type: ignore[arg-type]
                ) as b,
            ):
                for ws in (a, b):
                    assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "ready"
                report = {
                    "description": "二环路两车相撞，1人受伤",
                    "location": {"type": "Point", "coordinates": [104.07, 30.66]},
                }
                made = await client.post("/api/v1/incidents", json=report, headers={"Authorization": f"Bearer {token}"})
                assert made.status_code == 201, made.text
                for ws in (a, b):
                    event = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    assert event["type"] == "incident.created" and event["data"]["id"] == made.json()["id"]
        assert _listening(one) and _listening(two)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 60)
    assert code == 0, "".join(lines)
    for port in (https, http, one, two):
        assert not _listening(port), f"port {port} still answers after deploy/run stopped"
