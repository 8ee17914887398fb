"""The HTTP fallback: a room over server-sent events and POSTs, for networks that break sockets.

`GET /rooms/<slug>/events/` streams what the socket would send (the snapshot first, then the
room's events and this fan's personal frames), and `POST /rooms/<slug>/actions/` takes one client
frame and answers with the frames the socket would have answered with. Both go through
rooms/protocol.py, so the rules are the socket's. docs/protocol.md ("HTTP fallback") is the
contract.

With `ROOM_EVENTS_VIA_HUB` on, room events and `room.control` instructions come from the room hub
like a socket's, in order, into a bounded queue per stream; a stream that falls that far behind
ends, and the page reconnects and resyncs from a snapshot. Off, both come through the channel
layer's room group.
"""

import asyncio
import json
import logging
import re
import time
import uuid

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core import signing
from django.http import JsonResponse, StreamingHttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from rooms import presence, scheduler
from rooms.broadcast import room_group
from rooms.connections import (
    anon_connection_allowed,
    anon_connection_close,
    anon_connection_open,
)
from rooms.hub import DEFAULT_MAX_FRAMES, hub_rooms_enabled
from rooms.models import Room
from rooms.protocol import (
    REFUSALS,
    Conn,
    control_frames,
    error_frame,
    frame_handle,
    room_admit,
    room_hub,
    snapshot_build,
)
from rooms.selectors import now_ms
from rooms.views.access import viewable_room_or_404

log = logging.getLogger(__name__)

# Proxies drop connections that stay silent for a minute or so; a comment line keeps them open.
HEARTBEAT_S = 15
# Tells EventSource how long to wait before it reconnects by itself (the page does its own).
RETRY_MS = 3000
STREAM_SALT = "rooms.sse.stream"
STREAM_HEADER = "X-Roomtone-Stream"
# The connection check gives up on its stream after 8 s.
DIAGNOSTICS_HOLD_S = 10
_SEQ_AT_END = re.compile(r'"seq":(\d+)\}$')


def sse_message(data: str, *, event: str | None = None, event_id: int | None = None) -> str:
    lines = []
    if event is not None:
        lines.append(f"event: {event}")
    if event_id is not None:
        lines.append(f"id: {event_id}")
    # JSON text has no raw newlines, so one data line carries the whole frame.
    lines.append(f"data: {data}")
    return "\n".join(lines) + "\n\n"


def _frame(frame: dict) -> str:
    seq = frame.get("seq")
    return sse_message(json.dumps(frame), event_id=seq if frame["type"] == "snapshot" else None)


def _seq_of(text: str) -> int | None:
    """The seq of an encoded room event: broadcast.room_event adds it last, so it ends the text."""
    match = _SEQ_AT_END.search(text)
    if match:
        return int(match.group(1))
    seq = json.loads(text).get("seq")
    return seq if isinstance(seq, int) else None


class HubFeed:
    """The hub's `send` (and `on_control`) for one event stream: room frames (text) and control
    messages (dicts) into one bounded queue, in the order the hub hands them over.

    Past `limit` waiting items (or when the hub drops the listener) the feed ends with a None,
    and stops taking more, so a stalled stream holds at most `limit` of them."""

    def __init__(self, limit: int):
        self.limit = limit
        self.queue: asyncio.Queue[str | dict | None] = asyncio.Queue()
        self.ended = False

    async def __call__(self, message: dict) -> None:
        if message.get("type") != "websocket.send":
            self._end()
        else:
            self._put(message["text"])

    def control(self, message: dict) -> None:
        self._put(message)

    def _put(self, item: str | dict) -> None:
        if self.ended:
            return
        if self.queue.qsize() >= self.limit:
            self._end()
            return
        self.queue.put_nowait(item)

    def _end(self) -> None:
        if not self.ended:
            self.ended = True
            self.queue.put_nowait(None)


async def _control_text(conn: Conn, message: dict) -> tuple[str, bool]:
    """What a `room.control` message sends down this stream, and whether the stream ends."""
    frames, close_code = await control_frames(conn, message)
    text = "".join(_frame(frame) for frame in frames)
    if close_code is None:
        return text, False
    return text + sse_message(json.dumps({"code": close_code}), event="close"), True


def _refused(code: str) -> JsonResponse:
    message, _close, status = REFUSALS[code]
    return JsonResponse({"frames": [error_frame(code, message)]}, status=status)


def _stream_token(*, room_id: int, session_id: int, user) -> str:
    user_id = user.pk if user.is_authenticated else None
    return signing.dumps({"r": room_id, "s": session_id, "u": user_id}, salt=STREAM_SALT)


def _stream_session(token: str, *, room_id: int, user) -> int | None:
    """The listening session an events stream of this fan holds, from its signed token."""
    if not token:
        return None
    try:
        data = signing.loads(token, salt=STREAM_SALT, max_age=7 * 24 * 3600)
    except signing.BadSignature:
        return None
    user_id = user.pk if user.is_authenticated else None
    if data.get("r") != room_id or data.get("u") != user_id:
        return None
    return data.get("s")


def _admit(request, slug: str):
    """Sync part of both views: the user, the session key, and the room or the refusal."""
    user = request.user
    room, refusal = room_admit(
        slug=slug, user=user, invite=request.GET.get("invite"), session=request.session
    )
    return user, request.session.session_key or "", room, refusal


async def _events(*, room: Room, user, session_key: str, csrf: str):
    via_hub = hub_rooms_enabled()
    group = room_group(room.id)
    if via_hub:
        # Everything comes through the hub: no channel on the layer, only a label for it.
        layer = None
        channel = f"hub!{uuid.uuid4().hex}"
    else:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
    feed = HubFeed(getattr(settings, "ROOM_HUB_MAX_FRAMES", DEFAULT_MAX_FRAMES))
    listener = None
    session_id = None
    receiving = None
    feeding = None
    try:
        session_id = await presence.session_open_batched(
            room=room, user=user, session_key=session_key, channel_name=channel
        )
        scheduler.watch(room.id, session_id)
        conn = Conn(room=room, user=user, who=channel, session_id=session_id)
        token = _stream_token(room_id=room.id, session_id=session_id, user=user)
        # Padding pushes the first bytes through proxies that buffer small responses.
        yield ":" + " " * 2048 + f"\nretry: {RETRY_MS}\n\n"
        yield sse_message(json.dumps({"stream": token, "csrf": csrf}), event="stream")
        if via_hub:
            listener = await room_hub().join(room.id, feed, on_control=feed.control)
        snapshot = await snapshot_build(room.id, user, room=room)
        yield _frame(snapshot)
        if listener is not None:
            listener.start(after_seq=snapshot["seq"])
        while True:
            if receiving is None and layer is not None:
                # Not cancelled on a heartbeat: a layer's receive may lose a message if it is.
                receiving = asyncio.ensure_future(layer.receive(channel))
            if feeding is None and listener is not None:
                feeding = asyncio.ensure_future(feed.queue.get())
            waiting = {task for task in (receiving, feeding) if task is not None}
            done, _ = await asyncio.wait(
                waiting, timeout=HEARTBEAT_S, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                yield ": keep-alive\n\n"
                continue
            if feeding in done:
                item, feeding = feeding.result(), None
                if item is None:
                    # Too far behind: ending the stream makes the page reconnect and resync.
                    return
                if isinstance(item, str):
                    yield sse_message(item, event_id=_seq_of(item))
                else:
                    text, ended = await _control_text(conn, item)
                    if text:
                        yield text
                    if ended:
                        return
            if receiving in done:
                message, receiving = receiving.result(), None
                kind = message.get("type")
                if kind == "room.event":
                    text = message["text"]
                    yield sse_message(text, event_id=_seq_of(text))
                    if message.get("event") == "now_playing":
                        scheduler.arm(room.id, message.get("entry_id"), message.get("ends_at"))
                elif kind == "room.control":
                    text, ended = await _control_text(conn, message)
                    if text:
                        yield text
                    if ended:
                        return
    finally:
        for waiting in (receiving, feeding):
            if waiting is not None:
                waiting.cancel()
        if listener is not None:
            listener.hub.leave(listener)
        if layer is not None:
            await layer.group_discard(group, channel)
        if session_id is not None:
            scheduler.unwatch(room.id, session_id)
            await presence.session_close_batched(session_id=session_id)


async def _counted(stream, address: str | None):
    """The stream, its anonymous listener counted against ``address`` while it runs.

    Counted when it starts, not when the view checked (a response that never starts never ends
    either, so it could not give the count back): a stream past the limit then, in a burst of
    them, sends the refusal as its one event and ends, before it opens a listening session."""
    try:
        if address is not None and not anon_connection_open(address):
            message, _close, _status = REFUSALS["too_many_connections"]
            yield _frame(error_frame("too_many_connections", message))
            return
        try:
            async for chunk in stream:
                yield chunk
        finally:
            if address is not None:
                anon_connection_close(address)
    finally:
        await stream.aclose()


@require_GET
async def room_events(request, slug):
    user, session_key, room, refusal = await database_sync_to_async(_admit)(request, slug)
    if refusal is not None:
        return _refused(refusal)
    address = None
    if not user.is_authenticated:
        address = request.META.get("REMOTE_ADDR", "")
        if not anon_connection_allowed(address):
            return _refused("too_many_connections")
    # Also sets the CSRF cookie on this response, so the page's POSTs pass the CSRF check.
    csrf = get_token(request)
    response = StreamingHttpResponse(
        _counted(_events(room=room, user=user, session_key=session_key, csrf=csrf), address),
        content_type="text/event-stream",
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


@never_cache
@require_POST
async def room_actions(request, slug):
    arrived = time.time() * 1000
    user, _session_key, room, refusal = await database_sync_to_async(_admit)(request, slug)
    if refusal is not None:
        return _refused(refusal)
    session_id = _stream_session(request.headers.get(STREAM_HEADER, ""), room_id=room.id, user=user)
    if user.is_authenticated:
        who = str(user.pk)
    elif session_id is not None:
        who = f"sse.{session_id}"
    else:
        who = "ip." + request.META.get("REMOTE_ADDR", "")
    conn = Conn(room=room, user=user, who=who, session_id=session_id)
    try:
        text = request.body.decode()
    except UnicodeDecodeError:
        text = None
    frames = await frame_handle(conn, text)
    if frames and frames[0]["type"] == "time.pong":
        # A socket answers a ping at once; here a thread hop and a few queries come first, which
        # would make the answer's leg look shorter than the question's. Stamping the middle of
        # the time spent here puts that work evenly on both legs of the round trip.
        frames[0]["server_time"] = round((arrived + time.time() * 1000) / 2)
    return JsonResponse({"frames": frames})


async def _diagnostics_events():
    yield ":" + " " * 2048 + "\nretry: 60000\n\n"
    yield sse_message(json.dumps({"type": "diagnostics.hello", "server_time": now_ms()}))
    # Held open past the page's patience: a proxy that buffers streams holds the hello back
    # until the response ends, and the check then reports the stream as blocked, as it is.
    await asyncio.sleep(DIAGNOSTICS_HOLD_S)


def diagnostics(request):
    """A page that tries each transport from the fan's network against a room.

    `?check=sse` is the page's light event stream: one frame, no room, no listening session.
    """
    if request.GET.get("check") == "sse":
        response = StreamingHttpResponse(_diagnostics_events(), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response
    room = None
    slug = request.GET.get("room", "")
    if slug:
        room = viewable_room_or_404(request, slug)
    else:
        room = (
            Room.objects.filter(visibility=Room.Visibility.PUBLIC)
            .order_by("-listener_count", "-id")
            .first()
        )
    private = room is not None and room.visibility == Room.Visibility.PRIVATE
    invite = request.GET.get("invite", "") if private else ""
    get_token(request)
    return render(request, "rooms/diagnostics.html", {"room": room, "invite": invite})
