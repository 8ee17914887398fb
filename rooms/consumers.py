"""The room socket: admit, snapshot, then hand every frame to rooms.protocol and send its answer.

docs/protocol.md is the contract; rooms/protocol.py implements the frames for this socket and for
the HTTP fallback (rooms/sse.py) alike. With `ROOM_EVENTS_VIA_HUB` on, room-wide events reach the
socket through the room hub (rooms/hub.py), which writes each event's one encoding to every local
socket of the room and closes a socket that falls too far behind with 4008; the room group on the
channel layer then carries only `room.control` instructions, which each consumer answers for its
own fan. Off, room events come through the room group as `room.event` messages.
"""

import asyncio
import json
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth.models import AnonymousUser

from rooms import presence, scheduler
from rooms.broadcast import room_group
from rooms.hub import autobahn_lazy_debug_args, hub_rooms_enabled
from rooms.protocol import (
    REFUSALS,
    Conn,
    FrameError,
    control_frames,
    error_frame,
    frame_handle,
    frame_parse,
    room_admit,
    room_hub,
    snapshot_build,
)
from rooms.selectors import now_ms

try:
    # daphne's join-storm cost (rooms/hub.py); harmless under other servers.
    autobahn_lazy_debug_args()
except ImportError:  # autobahn comes with daphne
    pass


class RoomConsumer(AsyncWebsocketConsumer):
    room = None
    session_id: int | None = None
    conn: Conn | None = None
    listener = None

    async def connect(self):
        self.user = self.scope.get("user") or AnonymousUser()
        slug = self.scope["url_route"]["kwargs"]["slug"]
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        invite = (query.get("invite") or [None])[0]
        room, refusal = await database_sync_to_async(room_admit)(
            slug=slug, user=self.user, invite=invite, session=self.scope.get("session")
        )
        await self.accept()
        if refusal is not None:
            message, close_code, _status = REFUSALS[refusal]
            await self._send(error_frame(refusal, message))
            await self.close(code=close_code)
            return
        self.room = room
        await self.channel_layer.group_add(room_group(room.id), self.channel_name)
        # The session is written with this process's other joins (rooms/presence.py), while
        # the socket joins the hub; the listener count and `listeners` event follow from it.
        opening = asyncio.ensure_future(
            presence.session_open_batched(
                room=room,
                user=self.user,
                session_key=getattr(self.scope.get("session"), "session_key", "") or "",
                channel_name=self.channel_name,
            )
        )
        try:
            if hub_rooms_enabled():
                # Joined before the snapshot is read: events from then on are held, and those
                # the snapshot already covers are skipped when the listener starts.
                self.listener = await room_hub().join(room.id, self.base_send)
        finally:
            self.session_id = await opening
        who = str(self.user.pk) if self.user.is_authenticated else self.channel_name
        self.conn = Conn(room=room, user=self.user, who=who, session_id=self.session_id)
        scheduler.watch(room.id, self.session_id)
        snapshot = await snapshot_build(room.id, self.user, room=room)
        await self._send(snapshot)
        if self.listener is not None:
            self.listener.start(after_seq=snapshot["seq"])

    async def disconnect(self, code):
        if self.room is None:
            return
        room_id = self.room.id
        if self.listener is not None:
            self.listener.hub.leave(self.listener)
            self.listener = None
        await self.channel_layer.group_discard(room_group(room_id), self.channel_name)
        if self.session_id is not None:
            scheduler.unwatch(room_id, self.session_id)
            session_id, self.session_id = self.session_id, None
            await presence.session_close_batched(session_id=session_id)
        self.room = None
        self.conn = None

    async def receive(self, text_data=None, bytes_data=None):
        if self.conn is None:
            return
        listener = self.listener
        if listener is not None:
            # As with a consumer busy in its handler, the room's events wait behind the answer.
            listener.hold()
        try:
            for frame in await frame_handle(self.conn, text_data):
                await self._send(frame)
        finally:
            if listener is not None:
                listener.start()

    async def _send(self, data: dict):
        await self.send(text_data=json.dumps(data))

    # --- messages from the room's group ---------------------------------------------------------

    async def room_event(self, message):
        await self.send(text_data=message["text"])
        if message["event"] == "now_playing" and self.room is not None:
            scheduler.arm(self.room.id, message.get("entry_id"), message.get("ends_at"))

    async def room_control(self, message):
        if self.conn is None:
            return
        frames, close_code = await control_frames(self.conn, message)
        for frame in frames:
            await self._send(frame)
        if close_code is not None:
            await self.close(code=close_code)


class DiagnosticsConsumer(AsyncWebsocketConsumer):
    """The connection check's socket: answers `time.ping` and nothing else.

    It joins no room and opens no listening session, so checking a connection neither counts as
    a listener nor needs a room to exist.
    """

    # Enough for several checks from one page; a socket past it is not a connection check.
    MAX_FRAMES = 50

    async def connect(self):
        self.frames = 0
        await self.accept()
        await self._send({"type": "diagnostics.hello", "server_time": now_ms()})

    async def receive(self, text_data=None, bytes_data=None):
        self.frames += 1
        if self.frames > self.MAX_FRAMES:
            await self.close(code=4429)
            return
        try:
            frame = frame_parse(text_data)
        except FrameError as exc:
            await self._send(error_frame(exc.code, exc.message, exc.frame_type, exc.ref))
            return
        if frame["type"] != "time.ping":
            message = "This socket answers time.ping only."
            await self._send(error_frame("unknown_type", message, frame["type"], frame.get("ref")))
            return
        await self._send({"type": "time.pong", "t0": frame["t0"], "server_time": now_ms()})

    async def _send(self, data: dict):
        await self.send(text_data=json.dumps(data))
