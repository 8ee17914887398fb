"""A minimal ASGI app for the hub tests: Channels consumers on the room hub, run by daphne."""

import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from rooms.hub import ahub_publish, autobahn_lazy_debug_args, get_hub  # noqa: E402

autobahn_lazy_debug_args()


class HubTestConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room_id = self.scope["url_route"]["kwargs"]["room_id"]
        await self.accept()
        hub = get_hub()
        self.listener = await hub.join(self.room_id, self.base_send)

        async def build():
            return {"type": "snapshot", "seq": hub.last_seq.get(self.room_id, 0)}

        snapshot = await hub.snapshot_cached(self.room_id, build)
        await self.send(text_data=json.dumps({**snapshot, "pid": os.getpid()}))
        self.listener.start(after_seq=snapshot["seq"])

    async def receive(self, text_data=None, bytes_data=None):
        # Lets a test watch this process's hub: "count <room>" -> how many local listeners.
        if text_data and text_data.startswith("count "):
            n = get_hub().local_count(int(text_data.split()[1]))
            await self.send(text_data=json.dumps({"type": "count", "n": n}))
        # "publish <room> <first> <last>": events published from inside this server process.
        elif text_data and text_data.startswith("publish "):
            room, first, last = (int(x) for x in text_data.split()[1:])
            for seq in range(first, last + 1):
                await ahub_publish(room_id=room, event={"type": "chat.message", "seq": seq})

    async def disconnect(self, code):
        if hasattr(self, "listener"):
            get_hub().leave(self.listener)


application = ProtocolTypeRouter(
    {"websocket": URLRouter([path("ws/hub/<int:room_id>/", HubTestConsumer.as_asgi())])}
)
