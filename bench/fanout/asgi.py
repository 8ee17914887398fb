"""The bench's ASGI app, served by daphne: stock Channels consumers and room-hub consumers.

It stands alone (not the Roomtone room consumer) so the bench measures the broadcast path only:
`/ws/stock/` joins a channel-layer group and gets one `group_send` per event, serialized per
listener as a stock consumer does; `/ws/hub/` registers with rooms.hub and gets the frame the
publisher encoded once.
"""

import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.fanout.settings")
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from bench.fanout.common import GROUP, ROOM_ID, build_snapshot, raise_fd_limit  # noqa: E402
from rooms.hub import get_hub  # noqa: E402

raise_fd_limit()
if os.environ.get("BENCH_AUTOBAHN_LAZY") == "1":
    # Part of the hub path; the stock targets keep daphne as it ships.
    from rooms.hub import autobahn_lazy_debug_args

    autobahn_lazy_debug_args()
SNAPSHOT_MS = float(os.environ.get("BENCH_SNAPSHOT_MS", "2"))


class StockConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()
        await self.send(text_data=json.dumps(await build_snapshot(0, SNAPSHOT_MS)))

    async def bench_event(self, message):
        await self.send(text_data=json.dumps(message["event"]))

    async def disconnect(self, code):
        await self.channel_layer.group_discard(GROUP, self.channel_name)


class HubConsumer(AsyncWebsocketConsumer):
    # No channel layer: the hub is this socket's only broadcast path.
    channel_layer_alias = None

    async def connect(self):
        await self.accept()
        hub = get_hub()
        self.listener = await hub.join(ROOM_ID, self.base_send)
        seq = hub.last_seq.get(ROOM_ID, 0)
        snapshot = await hub.snapshot_cached(ROOM_ID, lambda: build_snapshot(seq, SNAPSHOT_MS))
        await self.send(text_data=json.dumps(snapshot))
        self.listener.start(after_seq=snapshot["seq"])

    async def disconnect(self, code):
        if hasattr(self, "listener"):
            get_hub().leave(self.listener)


application = ProtocolTypeRouter(
    {
        "websocket": URLRouter(
            [path("ws/stock/", StockConsumer.as_asgi()), path("ws/hub/", HubConsumer.as_asgi())]
        )
    }
)
