"""``commandpost serve``: the HTTP and websocket service under uvicorn, and the options it runs with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from web.cli.common import Failure, load_settings

if TYPE_CHECKING:
    from core.settings import Settings

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def server_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn runs the service (``serve``, and tests that serve an app of their own the same way)."""
    from web.logs import logging_config

    return {
        # X-Forwarded-For is read in one place, the app, and only from COMMANDPOST_TRUSTED_PROXIES (web/app.py):
        # uvicorn's own reading would believe it from any local peer.
        "proxy_headers": False,
        "ws_max_size": settings.ws_max_message_kb * 1024,  # larger client messages: closed with 1009
        "ws_per_message_deflate": settings.ws_compression,
        "log_config": logging_config(),  # tokens and SQL values never reach a log line (web/logs.py)
    }


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
    import uvicorn

    uvicorn.run(
        "web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        **server_options(settings),
    )
