"""A sending process for tests/notify/test_kill.py, to be killed at a chosen moment.

``commit URL DATABASE_URL``: queue one webhook delivery to URL, commit it, print its id, then wait to be killed
(before it sends anything). ``sweep DATABASE_URL``: run one batch of the delivery sweep (the test's receiver
hangs, so it is killed mid-send)."""

from __future__ import annotations

import asyncio
import sys

from pydantic import SecretStr

from core.clock import utcnow
from core.db import create_engine, create_sessionmaker
from core.settings import get_settings
from migrations.registry import load_metadata
from notify import deliveries, service
from notify.deliveries import Couriers, Message

# Every table, as in the service's processes (notify's rows refer to other packages' tables).
load_metadata()


async def main(mode: str, *args: str) -> None:
    database_url = args[-1]
    settings = get_settings().model_copy(
        update={"database_url": database_url, "webhook_secret": SecretStr("kill-test"), "delivery_timeout_seconds": 60}
    )
    engine = create_engine(settings)
    sessions = create_sessionmaker(engine)
    if mode == "commit":
        async with sessions() as session:
            message = Message(kind="test.kill", subject="s", body="b", data={})
            delivery = deliveries.add(session, message, channel="webhook", address=args[0], now=utcnow(), max_tries=5)
            await session.commit()
        print(delivery.id, flush=True)
        await asyncio.sleep(3600)  # the moment between the commit and the send: killed here
    else:
        couriers = Couriers(settings)
        async with sessions() as session, session.begin():
            print("sweeping", flush=True)
            await service.send_due(session, couriers=couriers, now=utcnow(), settings=settings)
        print("swept", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], *sys.argv[2:]))
