"""Waiting on a signal in a test: bounded, failing with what was awaited, and not fooled by a worker that died."""

from __future__ import annotations

import asyncio
from typing import Any


async def wait_for_signal(
    signal: asyncio.Event, *, what: str, timeout: float = 30.0, worker: asyncio.Task[Any] | None = None
) -> None:
    """Wait until ``signal`` is set. ``worker`` is the task expected to set it: if it ends first, its own error is
    raised (or, if it ended cleanly, an AssertionError saying the signal never came); so is a timeout."""
    waiting = asyncio.create_task(signal.wait())
    watched: set[asyncio.Future[Any]] = {waiting} if worker is None else {waiting, worker}
    done, _ = await asyncio.wait(watched, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if signal.is_set():
        return
    if worker is not None and worker in done:
        worker.result()  # raises the worker's error, if it had one
        raise AssertionError(f"{what}: the task that should have signalled it ended without doing so")
    if worker is not None:
        worker.cancel()
    raise AssertionError(f"{what}: not seen within {timeout:g} s")
