"""Publishes R events a second for S seconds, by the path under test, then prints the count.

raw: frames over a WebSocket to the raw server's /pub; stock: channel-layer group_send;
hub: rooms.hub.ahub_publish (encoded once, one Redis PUBLISH); real: the product's
rooms.broadcast.room_event in a transaction (a numbered chat.message, published after commit).
"""

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.fanout.common import GROUP, REAL_SLUG, ROOM_ID, make_event  # noqa: E402


async def main(mode: str, url: str, rate: float, seconds: float, first_seq: int) -> None:
    if mode == "raw":
        from websockets.asyncio.client import connect

        ws = await connect(url, compression=None, open_timeout=60)

        async def publish(event):
            await ws.send(json.dumps(event, separators=(",", ":")))
    elif mode == "real":
        from concurrent.futures import ThreadPoolExecutor

        from bench.fanout.real import make_publisher, setup_django

        setup_django()
        from rooms.models import Room

        # The ORM is sync: one thread of its own, so events keep their order.
        db_thread = ThreadPoolExecutor(1)
        loop = asyncio.get_running_loop()
        room_id = await loop.run_in_executor(
            db_thread, lambda: Room.objects.values_list("id", flat=True).get(slug=REAL_SLUG)
        )
        publish_sync = make_publisher(room_id)

        async def publish(event):
            await loop.run_in_executor(db_thread, publish_sync, event)
    else:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.fanout.settings")
        import django

        django.setup()
        if mode == "stock":
            from channels.layers import get_channel_layer

            layer = get_channel_layer()

            async def publish(event):
                await layer.group_send(GROUP, {"type": "bench.event", "event": event})
        else:
            from rooms.hub import ahub_publish

            async def publish(event):
                await ahub_publish(room_id=ROOM_ID, event=event)

    loop = asyncio.get_running_loop()
    total = int(rate * seconds)
    start = loop.time()
    late = 0.0
    for i in range(total):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            late = max(late, -delay)
        await publish(make_event(first_seq + i))
    if mode == "raw":
        await ws.close()
    print(json.dumps({"sent": total, "publisher_late_s": round(late, 3)}), flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["raw", "stock", "hub", "real"], required=True)
    p.add_argument("--url", default="")
    p.add_argument("--rate", type=float, default=20)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--first-seq", type=int, default=1)
    a = p.parse_args()
    t0 = time.time()
    asyncio.run(main(a.mode, a.url, a.rate, a.seconds, a.first_seq))
