"""A sending process killed between the commit of a delivery and its send, and one killed mid-send: the delivery
still happens, and the receiver sees one delivery id (twice at most: at least once, never a second id)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import utcnow
from core.settings import Settings
from notify import service
from notify.deliveries import Couriers
from notify.models import Delivery
from tests.support.receivers import HANG, HttpReceiver

ROOT = Path(__file__).resolve().parents[2]


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.notify.sender", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "COMMANDPOST_ADMIN_PASSWORD": ""},
    )


async def _line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 60)
    assert line, "the sender ended without a word"
    return line.strip()


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)


async def _sweep_until_sent(sessions: async_sessionmaker[AsyncSession], settings: Settings, delivery_id: int) -> None:
    """Sweep until the delivery is sent: a killed sender's row lock lasts until PostgreSQL sees it gone."""
    couriers = Couriers(settings.model_copy(update={"webhook_secret": SecretStr("kill-test")}))
    try:
        async with asyncio.timeout(20):
            while True:
                async with sessions() as session, session.begin():
                    await service.send_due(session, couriers=couriers, now=utcnow(), settings=settings)
                    state = await session.scalar(select(Delivery.state).where(Delivery.id == delivery_id))
                if state == "sent":
                    return
                await asyncio.sleep(0.05)
    finally:
        await couriers.aclose()


async def test_killed_between_commit_and_send_the_delivery_still_happens_once(
    committed: async_sessionmaker[AsyncSession], settings: Settings, webhook: HttpReceiver
) -> None:
    sender = _start("commit", webhook.url, settings.database_url)
    try:
        delivery_id = int(await _line(sender))
    finally:
        _kill(sender)
    assert webhook.count == 0
    await _sweep_until_sent(committed, settings, delivery_id)
    assert [r.headers["x-commandpost-delivery"] for r in webhook.received] == [str(delivery_id)]


async def test_killed_mid_send_the_delivery_is_sent_again_with_the_same_id(
    committed: async_sessionmaker[AsyncSession], settings: Settings, webhook: HttpReceiver
) -> None:
    webhook.script = lambda n: HANG if n == 0 else 200
    creator = _start("commit", webhook.url, settings.database_url)
    try:
        delivery_id = int(await _line(creator))
    finally:
        _kill(creator)
    sender = _start("sweep", settings.database_url)
    try:
        assert await _line(sender) == "sweeping"
        await webhook.wait_for(1, timeout=30)  # the request is out; the sender waits for an answer that never comes
    finally:
        _kill(sender)
    await _sweep_until_sent(committed, settings, delivery_id)
    ids = [r.headers["x-commandpost-delivery"] for r in webhook.received]
    assert ids == [str(delivery_id)] * 2  # at least once; the receiver drops the repeat by its id
    async with committed() as session:
        delivery = (await session.scalars(select(Delivery).where(Delivery.id == delivery_id))).one()
    assert delivery.state == "sent" and delivery.tries == 1  # the killed try left no record: it never committed
