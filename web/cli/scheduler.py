"""``commandpost scheduler``: the periodic sweeps in a process of their own (the web process embeds them by
default; with several, one is elected by an advisory lock)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import click

from web.cli.common import load_settings, say

if TYPE_CHECKING:
    from core.settings import Settings


@click.command("scheduler", short_help="run the periodic sweeps (one process is elected among many)")
def scheduler_command() -> None:
    """Run the periodic sweeps (one process is elected among many); Ctrl-C stops."""
    import logging.config

    from web.logs import logging_config

    settings = load_settings()
    # As serve's: JSON or text, no SQL values in the sweeps' error logs.
    logging.config.dictConfig(logging_config(settings.log_format))
    say("commandpost scheduler: campaigning for the scheduler lock (Ctrl-C stops)")
    try:
        asyncio.run(_scheduler(settings))
    except KeyboardInterrupt:
        say("scheduler stopped")


async def _scheduler(settings: Settings) -> None:
    from core.db import create_engine
    from notify import service as notify
    from web.scheduler import run_forever

    engine = create_engine(settings)
    client = None
    announce = None
    if settings.redis_url:
        import redis.asyncio as redis_async

        client = redis_async.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=5)
        announce = notify.redis_announcer(client, prefix=settings.redis_prefix)
    try:
        await run_forever(settings, engine, announce=announce)
    finally:
        if client is not None:
            await client.aclose()
        await engine.dispose()
