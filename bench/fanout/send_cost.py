"""What a Channels consumer pays per frame before the server sees it, with a no-op server send.

    python bench/fanout/send_cost.py

`self.send(text_data=...)` goes through two extra coroutines (AsyncWebsocketConsumer.send and
AsyncConsumer.send) and builds the message dict; `await self.base_send(message)` is one call;
the hub hand-steps the server's send coroutine with a message dict shared by all listeners.
"""

import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.fanout.settings")

import django  # noqa: E402

django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402


async def noop_send(message):
    return None


async def main(n: int = 200_000) -> None:
    consumer = AsyncWebsocketConsumer()
    consumer.base_send = noop_send
    text = "x" * 200
    shared = {"type": "websocket.send", "text": text}

    t = time.perf_counter()
    for _ in range(n):
        await consumer.send(text_data=text)
    via_send = time.perf_counter() - t

    t = time.perf_counter()
    for _ in range(n):
        await consumer.base_send({"type": "websocket.send", "text": text})
    via_base = time.perf_counter() - t

    t = time.perf_counter()
    for _ in range(n):
        coro = noop_send(shared)
        try:
            coro.send(None)
        except StopIteration:
            pass
    stepped = time.perf_counter() - t

    for name, total in (
        ("await self.send(text_data=...)", via_send),
        ("await self.base_send(message)", via_base),
        ("hub: hand-stepped send, shared message", stepped),
    ):
        print(f"{name:42s} {total / n * 1e6:6.2f} µs per frame")


if __name__ == "__main__":
    asyncio.run(main())
