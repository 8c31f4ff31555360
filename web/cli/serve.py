"""``commandpost serve``: the HTTP and websocket service under uvicorn, and the options it runs with."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from web.cli.common import Failure, load_settings

if TYPE_CHECKING:
    from core.settings import Settings

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's multiprocess mode (web/metrics.py)


def server_options(settings: Settings, *, log_level: str = "info") -> dict[str, Any]:
    """How uvicorn runs the service (``serve``, and tests that serve an app of their own the same way)."""
    from web.logs import logging_config

    return {
        # X-Forwarded-For is read in one place, the app, and only from COMMANDPOST_TRUSTED_PROXIES (web/app.py):
        # uvicorn's own reading would believe it from any local peer.
        "proxy_headers": False,
        "ws_max_size": settings.ws_max_message_kb * 1024,  # larger client messages: closed with 1009
        "ws_per_message_deflate": settings.ws_compression,
        # JSON or text lines; tokens and SQL values never reach one (web/logs.py). The access line is the app's own
        # (web/observe.py: request id, route, user), so uvicorn's is off.
        "log_config": logging_config(settings.log_format, level=log_level),
        "access_log": False,
    }


def metrics_directory(workers: int) -> tuple[Path | None, bool]:
    """Where the workers write their metrics (``PROMETHEUS_MULTIPROC_DIR``), and whether ``serve`` made it (and
    removes it at exit). The operator's, when set; with several workers and none set, a fresh private one; with one
    worker and none set, none (that worker's own registry is the whole truth). Emptied here, before any worker
    starts: counts begin at zero with the server, and no earlier run's gauges linger."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        directory = Path(given)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        made = False
    elif workers > 1:
        directory, made = Path(tempfile.mkdtemp(prefix="commandpost-metrics-")), True  # mode 0700
    else:
        return None, False
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory)  # before any worker imports prometheus_client
    return directory, made


@click.command("serve", short_help="run the HTTP and websocket service")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="The TCP port.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes; more than one needs COMMANDPOST_REDIS_URL.",
)
@click.option(
    "--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True, help="How much uvicorn logs."
)
def serve_command(host: str, port: int, workers: int, log_level: str) -> None:
    """Run the HTTP and websocket service."""
    settings = load_settings()
    if workers > 1 and not settings.redis_url:
        raise Failure("--workers > 1 needs COMMANDPOST_REDIS_URL (the in-process bus serves one worker only)")
    directory, made = metrics_directory(workers)
    import uvicorn

    try:
        uvicorn.run(
            "web.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            **server_options(settings, log_level=log_level),
        )
    finally:
        if made and directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
