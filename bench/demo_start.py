"""How long from ``commandpost demo`` to a moving command room: the seconds until the service answers, until the
first incident is on the map, and until a unit has moved (its position differs from where the demo placed it).
Setup's installs are not counted (run scripts/setup first); the demo makes its own database (``<db>_demo``) as it
always does, so this measures what a newcomer waits for. Run: ``.venv/bin/python bench/demo_start.py``."""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--speed", type=float, default=5.0, help="the demo's default")
    parser.add_argument("--limit", type=float, default=300.0, help="give up after this many seconds")
    args = parser.parse_args()
    port = _free_port()
    passwords: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as runtime:
        started = time.monotonic()
        proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/commandpost"), "demo", "--port", str(port), "--speed", str(args.speed)],
            cwd=ROOT,
            env={**os.environ, "XDG_RUNTIME_DIR": runtime},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                found = re.match(r"\s+(\w+)\s+(demo\.[\w-]+)\s+(\S+)$", line)
                if found:
                    passwords[found.group(2)] = found.group(3)

        threading.Thread(target=read, daemon=True).start()
        base = f"http://127.0.0.1:{port}"
        marks: dict[str, float] = {}
        first: dict[int, list[float]] = {}
        try:
            with httpx.Client(base_url=base, timeout=5) as http:
                while time.monotonic() - started < args.limit and "unit moved" not in marks:
                    time.sleep(0.25)
                    if proc.poll() is not None:
                        sys.exit(f"the demo stopped (exit {proc.returncode})")
                    try:
                        if "answering" not in marks:
                            if http.get("/readyz").status_code != 200 or "demo.commander" not in passwords:
                                continue
                            marks["answering"] = time.monotonic() - started
                        token = http.post(
                            "/api/v1/auth/token",
                            data={"username": "demo.commander", "password": passwords["demo.commander"]},
                        ).json()["access_token"]
                        auth = {"Authorization": f"Bearer {token}"}
                        if (
                            "first incident" not in marks
                            and http.get("/api/v1/incidents", headers=auth).json()["items"]
                        ):
                            marks["first incident"] = time.monotonic() - started
                        units = http.get("/api/v1/resources", params={"limit": 1000}, headers=auth).json()["items"]
                        for u in units:
                            where = u["location"]["coordinates"]
                            if first.setdefault(u["id"], where) != where:
                                marks["unit moved"] = time.monotonic() - started
                                break
                    except httpx.HTTPError:
                        continue
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"commandpost demo --speed {args.speed:g} (setup done beforehand), seconds from the command:")
    for name in ("answering", "first incident", "unit moved"):
        figure = f"{marks[name]:6.1f}" if name in marks else "   n/a"
        print(f"  {name:<15} {figure}")
    print("target: the command room moving within 60 s")


if __name__ == "__main__":
    main()
