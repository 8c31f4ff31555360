"""The floor of bench/live.py: a bare ``websockets`` broadcast server in a process of its own, as a worker is.

    python -m bench.ws_floor PORT CHANNEL MESSAGE_FILE

It accepts any websocket client on 127.0.0.1:PORT, subscribes to CHANNEL on Redis (``COMMANDPOST_REDIS_URL``) and,
for each number published there, sends every connected client the message in MESSAGE_FILE (a JSON object shaped
like the service's ``incident.created``) with that number as its ``id`` and its ``data.id``: serialised once, sent
with ``websockets.broadcast`` (no task, no queue per client). Same event loop as the service's workers (uvloop),
same frames (no compression: ``COMMANDPOST_WS_COMPRESSION`` is off by default), same pings (every 20 s). It
prints ``ready`` once it listens and is subscribed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import redis.asyncio as redis_async
import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve


async def main(port: int, channel: str, message_file: str) -> None:
    message = json.loads(Path(message_file).read_text(encoding="utf-8"))
    connected: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        connected.add(ws)
        try:
            await ws.wait_closed()
        finally:
            connected.discard(ws)

    redis = redis_async.from_url(os.environ.get("COMMANDPOST_REDIS_URL") or "redis://127.0.0.1:6379/0")
    pubsub = redis.pubsub()
    await pubsub.subscribe(channel)
    async with serve(handler, "127.0.0.1", port, compression=None, max_queue=None):
        print("ready", flush=True)
        async for published in pubsub.listen():
            if published["type"] == "message":
                message["id"] = message["data"]["id"] = int(published["data"])
                broadcast(connected, json.dumps(message, ensure_ascii=False, separators=(",", ":")))


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
