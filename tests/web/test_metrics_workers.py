"""``commandpost serve --workers 2``: a scrape reaches one worker and shows both (prometheus-client's multiprocess
mode in the directory ``serve`` prepares); an earlier run's files are gone at start, the workers' live gauges at
exit."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.workers import ROOT, free_port
from tests.web.test_metrics import HISTOGRAM, Samples, parse, value

REQUESTS = 24


def _pids(samples: Samples) -> set[str]:
    """The workers whose event lag the scrape shows."""
    return {dict(labels)["pid"] for name, labels in samples if name == "commandpost_event_lag"}


async def test_a_scrape_of_one_worker_counts_the_requests_of_both(worker_env: dict[str, str], tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    stale = directory / "counter_999999.db"
    stale.write_bytes(b"an earlier run's counts, which must not be read")
    env = {
        **worker_env,
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "COMMANDPOST_SCHEDULER_EMBEDDED": "false",
        "COMMANDPOST_METRICS_SAMPLE_SECONDS": "0.5",
    }
    port = free_port()
    command = [sys.executable, "-m", "web.cli", "serve", "--workers", "2", "--port", str(port), "--log-level", "error"]
    server = subprocess.Popen(command, env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        # Both workers up: each has sampled its event lag into the shared directory (a pid label each).
        pids: set[str] = set()
        for _ in range(300):
            assert server.poll() is None, "serve exited"
            try:
                async with httpx.AsyncClient(base_url=base) as http:
                    pids = _pids(parse((await http.get("/metrics", timeout=2)).text))
            except httpx.TransportError:
                pass
            if len(pids) == 2:
                break
            await asyncio.sleep(0.1)
        assert len(pids) == 2, f"one scrape should show both workers, saw {pids}"
        assert not stale.exists()

        for _ in range(REQUESTS):  # a connection each: the kernel hands them to either worker
            async with httpx.AsyncClient(base_url=base) as http:
                assert (await http.get("/healthz")).status_code == 200
        healthz = {"route": "/healthz", "method": "GET", "status": "2xx"}
        for _ in range(4):  # whichever worker answers, it counts every request
            async with httpx.AsyncClient(base_url=base) as http:
                samples = parse((await http.get("/metrics")).text)
            assert value(samples, HISTOGRAM + "_count", **healthz) == REQUESTS
            assert _pids(samples) == pids
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    # The workers left the live sums as they stopped; their counters stay for the next scrape of this directory.
    assert not list(directory.glob("gauge_live*.db")), sorted(p.name for p in directory.iterdir())
    assert list(directory.glob("histogram_*.db"))
