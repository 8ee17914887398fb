"""The room socket: admit, snapshot, then hand every frame to rooms.protocol and send its answer.

docs/protocol.md is the contract; rooms/protocol.py implements the frames for this socket and for
the HTTP fallback (rooms/sse.py) alike. With `ROOM_EVENTS_VIA_HUB` on, room-wide events reach the
socket through the room hub (rooms/hub.py), which writes each event's one encoding to every local
socket of the room and closes a socket that falls too far behind with 4008. `room.control`
instructions (a ban, a fan's role, room settings) come the same way, in order with the events,
and each consumer answers them for its own fan; the consumer then has no channel of its own on the
channel layer (`channel_layer_alias` is None), with the subscription, receive task and queue an
idle socket would otherwise keep. Off, both come through the room group on the channel layer as
`room.event` and `room.control` messages.
"""

import asyncio
import json
import logging
import uuid
from collections import deque
from urllib.parse import parse_qs

from channels import DEFAULT_CHANNEL_LAYER
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth.models import AnonymousUser

from rooms import presence, scheduler
from rooms.broadcast import room_group
from rooms.connections import anon_connection_close, anon_connection_open
from rooms.hub import hub_rooms_enabled
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

log = logging.getLogger(__name__)


def _concerns(conn: Conn, message: dict) -> bool:
    """Whether `control_frames` has anything for this fan: room-wide changes, or the fan named."""
    if message.get("action") == "room":
        return True
    return conn.user.is_authenticated and message.get("user_id") == conn.user.pk


class RoomConsumer(AsyncWebsocketConsumer):
    room = None
    session_id: int | None = None
    conn: Conn | None = None
    listener = None
    # The address this anonymous socket is counted against (rooms/connections.py).
    anon_address: str | None = None
    # Control messages from the hub waiting for this socket's answer, and the task answering.
    controls: deque | None = None
    answering: asyncio.Task | None = None

    @property
    def channel_layer_alias(self):
        # Read by AsyncConsumer.__call__: with the hub carrying room events and control
        # messages alike, the socket needs no channel (nor its receive loop) on the layer.
        return None if hub_rooms_enabled() else DEFAULT_CHANNEL_LAYER

    async def __call__(self, scope, receive, send):
        try:
            if self.channel_layer_alias is not None:
                return await super().__call__(scope, receive, send)
            # Channels' loop without a channel layer (AsyncConsumer.__call__), minus the Task it
            # wraps each `receive` in and the `asyncio.wait` around it: with one source of
            # messages the consumer can await it itself, and an idle socket keeps one coroutine,
            # not three.
            self.scope = scope
            self.channel_layer = None
            self.base_send = send
            try:
                while True:
                    await self.dispatch(await receive())
            except StopConsumer:
                pass
        finally:
            # However the socket ends (a failure while joining never reaches `disconnect`).
            self._release_address()

    def _release_address(self) -> None:
        if self.anon_address is not None:
            address, self.anon_address = self.anon_address, None
            anon_connection_close(address)

    async def connect(self):
        if self.channel_layer is None:
            # Only a label now (the listening session's, an anonymous fan's rate limit key).
            self.channel_name = f"hub!{uuid.uuid4().hex}"
        self.user = self.scope.get("user") or AnonymousUser()
        slug = self.scope["url_route"]["kwargs"]["slug"]
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        invite = (query.get("invite") or [None])[0]
        room, refusal = await database_sync_to_async(room_admit)(
            slug=slug, user=self.user, invite=invite, session=self.scope.get("session")
        )
        if refusal is None and not self.user.is_authenticated:
            address = (self.scope.get("client") or ("",))[0] or ""
            if anon_connection_open(address):
                self.anon_address = address
            else:
                refusal = "too_many_connections"
        await self.accept()
        if refusal is not None:
            message, close_code, _status = REFUSALS[refusal]
            await self._send(error_frame(refusal, message))
            await self.close(code=close_code)
            return
        self.room = room
        if self.channel_layer is not None:
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
                self.listener = await room_hub().join(
                    room.id, self.base_send, on_control=self._on_control
                )
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
        self._release_address()
        if self.room is None:
            return
        room_id = self.room.id
        if self.listener is not None:
            self.listener.hub.leave(self.listener)
            self.listener = None
        if self.answering is not None:
            self.answering.cancel()
        if self.channel_layer is not None:
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

    # --- control messages from the hub ----------------------------------------------------------

    def _on_control(self, message: dict) -> None:
        """Called by the hub, in order with this socket's frames; answered one at a time."""
        if self.conn is None or not _concerns(self.conn, message):
            return
        if self.controls is None:
            self.controls = deque()
        self.controls.append(message)
        if self.answering is None:
            self.answering = asyncio.ensure_future(self._answer_controls())

    async def _answer_controls(self):
        try:
            while self.controls:
                try:
                    await self.room_control(self.controls.popleft())
                except Exception:
                    log.exception("room %s: control message failed", getattr(self.room, "id", None))
        finally:
            self.answering = None
            self.controls = None  # rare: no queue kept by an idle socket


class DiagnosticsConsumer(AsyncWebsocketConsumer):
    """The connection check's socket: answers `time.ping` and nothing else.

    It joins no room and opens no listening session, so checking a connection neither counts as
    a listener nor needs a room to exist.
    """

    # Enough for several checks from one page; a socket past it is not a connection check.
    MAX_FRAMES = 50
    # It never hears from the channel layer: no channel of its own there.
    channel_layer_alias = None

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
