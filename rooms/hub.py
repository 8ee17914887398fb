"""The room hub: one subscription per room per process, one encoding per event.

Stock Channels pays, for every listener of every event, a channel-layer message, a consumer
dispatch and a ``json.dumps``; on two cores that tops out near 8,000 deliveries a second. The hub
inverts it: the publisher encodes an event once (``hub_publish``), Redis carries it once to each
process that has listeners in the room, and the process writes that same frame to each local
socket: under daphne one pre-built WebSocket frame sent as is (``rooms/hub_daphne.py``), elsewhere
through the socket's ASGI ``send``. Channels still owns the connection, authentication and client
frames; only the room broadcast goes around the consumer machinery. ``bench/fanout`` measures it
(``docs/benchmarks.md``, "Fan-out").

A consumer adopts it like this::

    listener = await get_hub().join(room_id, self.base_send)   # subscribed; frames held
    snapshot = await get_hub().snapshot_cached(room_id, build)  # built once per room seq
    await self.send(text_data=json.dumps({**snapshot, "you": you}))
    listener.start(after_seq=snapshot["seq"])                    # held frames newer than it
    ...
    get_hub().leave(listener)                                    # in disconnect()

and ``autobahn_lazy_debug_args()`` runs once per process (daphne's join-storm cost; config/asgi.py
calls it where the application is built).
``listener.hold()`` pauses a socket's frames until the next ``start()`` (the room consumer holds
them while it answers a client frame); ``hub.taps`` are called once per event per process (the
room consumer arms its advance timer from them). ``rooms/consumers.py`` and ``rooms/sse.py`` use
the hub when ``ROOM_EVENTS_VIA_HUB`` is on (``hub_rooms_enabled()``).

Room control instructions (``hub_control``: a ban, a fan's role, room settings) take the same
Redis channel, so they keep their place among the room's events, but are never sent to a socket:
each listener that joined with ``on_control`` has it called with the message (one decoding per
process, shared by all listeners; read it, never change it), in order with its frames, held and
queued like them. The room consumer then needs no channel of its own on the channel layer.

Slow listeners cannot stall a room or grow memory: each socket may have at most ``max_frames``
frames waiting in the hub and ``max_bytes`` waiting in the server's transport. Past either bound
the socket is closed with ``CLOSE_TOO_SLOW`` (4008) and the room goes on. The client reconnects
and resyncs from a snapshot; a client too stalled to read the close frame sees the connection
abort (1006) instead and does the same.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from rooms.hub_daphne import (  # noqa: F401 - autobahn_lazy_debug_args is public here
    _unwrap_send,
    _ws_text_frame,
    autobahn_lazy_debug_args,
)

log = logging.getLogger(__name__)

CLOSE_TOO_SLOW = 4008
DEFAULT_MAX_FRAMES = 256
DEFAULT_MAX_BYTES = 128 * 1024

Send = Callable[[dict], Awaitable[None]]
OnControl = Callable[[dict], None]
# The head of a control payload; an event's head is its seq or empty.
CONTROL_HEAD = "!\n"
_CLOSE_TOO_SLOW_MSG = {"type": "websocket.close", "code": CLOSE_TOO_SLOW, "reason": "too slow"}


def encode_event(event: dict) -> str:
    """The wire payload: the event's seq on the first line, then the frame text, encoded once."""
    seq = event.get("seq")
    head = str(seq) if isinstance(seq, int) else ""
    return head + "\n" + json.dumps(event, separators=(",", ":"))


def encode_control(message: dict) -> str:
    """The wire payload of a room control instruction (``{"type": "room.control", ...}``)."""
    return CONTROL_HEAD + json.dumps(message, separators=(",", ":"))


class _Control:
    """A control instruction waiting in a listener's frames (held or queued), in order."""

    __slots__ = ("message",)

    def __init__(self, message: dict):
        self.message = message


def _decode_payload(payload: str) -> tuple[int | None, str]:
    head, _, frame = payload.partition("\n")
    return (int(head) if head else None), frame


class Listener:
    """One socket in one room. Created by ``RoomHub.join``; the consumer keeps it to leave."""

    __slots__ = (
        "hub",
        "room_id",
        "send",
        "backlog",
        "direct",
        "held",
        "pending",
        "task",
        "closed",
        "dropped",
        "on_control",
    )

    def __init__(self, hub: RoomHub, room_id: int, send: Send, on_control: OnControl | None = None):
        self.hub = hub
        self.room_id = room_id
        self.on_control = on_control
        self.send, self.backlog, self.direct = _unwrap_send(send, hub.direct_writes)
        # Frames that arrive between join and the snapshot wait here, with their seq.
        self.held: list[tuple[int | None, dict | _Control]] | None = []
        # Frames behind a send that is waiting on the socket; a deque only while there are
        # some (an empty deque costs ~0.75 KB, kept by every idle socket otherwise).
        self.pending: deque[dict | _Control] | tuple = ()
        self.task: asyncio.Task | None = None
        self.closed = False
        self.dropped = False

    def hold(self) -> None:
        """Hold this socket's frames again until the next ``start()`` (bounded as ever): a
        consumer answering a client frame sends its answer before the events it caused."""
        if self.held is None and not self.closed:
            self.held = []

    def start(self, *, after_seq: int | None = None) -> None:
        """Release frames held since join, skipping those the snapshot already covers."""
        held, self.held = self.held, None
        for seq, msg in held or ():
            if after_seq is None or seq is None or seq > after_seq:
                self.hub.offer(self, msg)


class RoomHub:
    """The per-process (per event loop) hub. Use ``get_hub()``; tests may build their own."""

    def __init__(
        self,
        *,
        redis_url: str = "",
        prefix: str = "roomtone",
        max_frames: int = DEFAULT_MAX_FRAMES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        direct_writes: bool = True,
    ):
        self.loop = asyncio.get_running_loop()
        self.redis_url = redis_url
        self.prefix = prefix
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.direct_writes = direct_writes
        self.rooms: dict[int, set[Listener]] = {}
        self.last_seq: dict[int, int] = {}
        self._snapshots: dict[int, asyncio.Future] = {}
        self._redis = None
        self._pubsub = None
        self._subscribed: set[int] = set()
        self._sub_lock = asyncio.Lock()
        self._confirmations: dict[bytes, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None
        self._wake_reader = asyncio.Event()
        self._background: set[asyncio.Task] = set()
        # Called once per delivered event with (room_id, frame text): per-process reactions to
        # an event (such as arming the advance timer) without one per listener.
        self.taps: list[Callable[[int, str], None]] = []

    # --- membership --------------------------------------------------------------------------
    async def join(
        self, room_id: int, send: Send, *, on_control: OnControl | None = None
    ) -> Listener:
        """Register a socket's ASGI ``send``; returns once this process receives the room's
        events, so a snapshot built afterwards misses nothing. Frames are held until
        ``listener.start()``. ``on_control`` (plain, not async: schedule any work) is called
        with each room control message, in order with the frames."""
        listener = Listener(self, room_id, send, on_control)
        self.rooms.setdefault(room_id, set()).add(listener)
        await self._sync_subscription(room_id)
        return listener

    def leave(self, listener: Listener) -> None:
        """Forget a socket (idempotent; safe after a drop)."""
        listener.closed = True
        listener.pending = ()
        if listener.task is not None:
            listener.task.cancel()
        self._forget(listener)

    def local_count(self, room_id: int) -> int:
        return len(self.rooms.get(room_id, ()))

    def _forget(self, listener: Listener) -> None:
        members = self.rooms.get(listener.room_id)
        if members is None or listener not in members:
            return
        members.discard(listener)
        if not members:
            del self.rooms[listener.room_id]
            # Without listeners this process stops seeing the room's seq, so its cache is void.
            self._snapshots.pop(listener.room_id, None)
            self.last_seq.pop(listener.room_id, None)
            self._spawn(self._sync_subscription(listener.room_id))

    # --- delivery ----------------------------------------------------------------------------
    def deliver(self, room_id: int, payload: str) -> None:
        """Hand one encoded event to every local socket of the room, in arrival order."""
        members = self.rooms.get(room_id)
        if not members:
            return
        if payload.startswith(CONTROL_HEAD):
            self._deliver_control(room_id, members, payload[len(CONTROL_HEAD) :])
            return
        seq, frame = _decode_payload(payload)
        if seq is not None and seq > self.last_seq.get(room_id, -1):
            self.last_seq[room_id] = seq
        # One message dict shared by all sockets: ASGI servers read it, never change it.
        msg = {"type": "websocket.send", "text": frame}
        for tap in self.taps:
            try:
                tap(room_id, frame)
            except Exception:
                log.exception("room %s: hub tap failed", room_id)
        wire = None
        for listener in tuple(members):
            if listener.held is not None:
                if len(listener.held) >= self.max_frames:
                    self._drop(listener)
                else:
                    listener.held.append((seq, msg))
            elif listener.direct is not None and listener.task is None:
                if listener.backlog() > self.max_bytes:
                    self._drop(listener)
                    continue
                if wire is None:
                    wire = _ws_text_frame(frame)
                listener.direct.write(wire)
            else:
                self.offer(listener, msg)

    def _deliver_control(self, room_id: int, members: set[Listener], text: str) -> None:
        try:
            control = _Control(json.loads(text))
        except ValueError:
            log.exception("room %s: unreadable control message", room_id)
            return
        for listener in tuple(members):
            if listener.on_control is None:
                continue
            if listener.held is not None:
                if len(listener.held) >= self.max_frames:
                    self._drop(listener)
                else:
                    listener.held.append((None, control))
            else:
                self.offer(listener, control)

    def offer(self, listener: Listener, msg: dict | _Control) -> None:
        if listener.closed:
            return
        if listener.task is not None:
            # An earlier send is still waiting on the socket; queue behind it to keep order.
            if len(listener.pending) >= self.max_frames:
                self._drop(listener)
            else:
                if not listener.pending:
                    listener.pending = deque()
                listener.pending.append(msg)
            return
        if type(msg) is _Control:
            self._react(listener, msg)
            return
        if listener.backlog is not None and listener.backlog() > self.max_bytes:
            self._drop(listener)
            return
        # Step the send coroutine by hand: daphne's completes at once, so no task per
        # delivery; only a send that really waits on its socket gets a task to finish it.
        coro = listener.send(msg)
        try:
            yielded = coro.send(None)
        except StopIteration:
            return
        except Exception:
            listener.closed = True
            self._forget(listener)
            return
        listener.task = self.loop.create_task(self._drain_after(listener, coro, yielded))

    async def _drain_after(self, listener: Listener, coro, yielded) -> None:
        try:
            await _resume(coro, yielded)
            while listener.pending and not listener.closed:
                msg = listener.pending.popleft()
                if type(msg) is _Control:
                    self._react(listener, msg)
                else:
                    await listener.send(msg)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The socket went away under us; the consumer's disconnect will follow.
            listener.closed = True
            self._forget(listener)
        finally:
            listener.task = None
            if not listener.pending:
                listener.pending = ()

    def _react(self, listener: Listener, control: _Control) -> None:
        try:
            listener.on_control(control.message)
        except Exception:
            log.exception("room %s: control handler failed", listener.room_id)

    def _drop(self, listener: Listener) -> None:
        log.info("room %s: dropping a listener too slow to keep up", listener.room_id)
        self.leave(listener)
        listener.dropped = True
        self._spawn(_close_soon(listener.send))

    # --- snapshots ---------------------------------------------------------------------------
    async def snapshot_cached(self, room_id: int, build: Callable[[], Awaitable[dict]]) -> dict:
        """The room's snapshot, built at most once per room ``seq`` in this process however many
        sockets join at once (single flight). ``build`` returns a dict with ``seq``; callers
        must not change it. Cached only while the room has a listener here (the hub must be
        subscribed to know the cache is current), so join before calling this."""
        for _ in range(3):
            entry = self._snapshots.get(room_id)
            if entry is None or (entry.done() and not self._fresh(room_id, entry)):
                entry = self.loop.create_task(build())
                if room_id in self.rooms:
                    self._snapshots[room_id] = entry
            try:
                value = await asyncio.shield(entry)
            except Exception:
                if self._snapshots.get(room_id) is entry:
                    del self._snapshots[room_id]
                raise
            if self._fresh(room_id, entry):
                return value
        return value

    def _fresh(self, room_id: int, entry: asyncio.Future) -> bool:
        if entry.cancelled() or entry.exception() is not None:
            return False
        seq = entry.result().get("seq")
        latest = self.last_seq.get(room_id)
        return latest is None or (seq is not None and seq >= latest)

    # --- redis pub/sub -----------------------------------------------------------------------
    def channel(self, room_id: int) -> str:
        return f"{self.prefix}.hub.room.{room_id}"

    async def _sync_subscription(self, room_id: int) -> None:
        if not self.redis_url:
            return
        async with self._sub_lock:
            want = room_id in self.rooms
            if want == (room_id in self._subscribed):
                return
            pubsub = await self._ensure_pubsub()
            name = self.channel(room_id).encode()
            if want:
                confirmed = self.loop.create_future()
                self._confirmations[name] = confirmed
                await pubsub.subscribe(name)
                self._subscribed.add(room_id)
                self._wake_reader.set()
                await asyncio.wait_for(confirmed, timeout=10)
            else:
                await pubsub.unsubscribe(name)
                self._subscribed.discard(room_id)

    async def _ensure_pubsub(self):
        if self._pubsub is None:
            import redis.asyncio as aioredis

            self._redis = aioredis.Redis.from_url(self.redis_url)
            self._pubsub = self._redis.pubsub()
        if self._reader is None:
            self._reader = self.loop.create_task(self._read())
        return self._pubsub

    async def _read(self) -> None:
        while True:
            try:
                if not self._subscribed:
                    self._wake_reader.clear()
                    await self._wake_reader.wait()
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("room hub: Redis pub/sub failed; resubscribing")
                await self._resubscribe()
                continue
            if message is None:
                continue
            kind = message["type"]
            if kind == "message":
                room_id = int(message["channel"].rsplit(b".", 1)[1])
                self.deliver(room_id, message["data"].decode())
                # Let the server flush sockets between events: daphne writes only when the
                # loop turns, and a burst read back to back would look like slow readers.
                await asyncio.sleep(0)
            elif kind == "subscribe":
                confirmed = self._confirmations.pop(message["channel"], None)
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)

    async def _resubscribe(self) -> None:
        # Events published while the link was down are lost; clients see the seq gap and resync.
        await asyncio.sleep(0.5)
        try:
            await self._pubsub.aclose()
        except Exception:  # noqa: S110 - the old connection is already broken
            pass
        self._pubsub = self._redis.pubsub()
        try:
            rooms = [self.channel(r).encode() for r in self._subscribed]
            if rooms:
                await self._pubsub.subscribe(*rooms)
        except Exception:
            log.exception("room hub: Redis still unavailable")

    def _spawn(self, coro) -> None:
        task = self.loop.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        for listeners in list(self.rooms.values()):
            for listener in list(listeners):
                self.leave(listener)
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self._pubsub is not None:
            await self._pubsub.aclose()
            await self._redis.aclose()
        _hubs.pop(self.loop, None)


async def _close_soon(send: Send) -> None:
    try:
        await asyncio.wait_for(send(_CLOSE_TOO_SLOW_MSG), timeout=2)
    except Exception:  # noqa: S110 - a socket this far behind may already be gone
        pass


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RoomHub] = weakref.WeakKeyDictionary()


async def _resume(coro, yielded) -> None:
    """Finish a coroutine that suspended while stepped by hand, as a Task would."""
    while True:
        try:
            if yielded is None:
                await asyncio.sleep(0)
            else:
                # The coroutine marked the future as awaited when it yielded it; a Task clears
                # the mark before waiting on it, and so must we.
                yielded._asyncio_future_blocking = False
                await yielded
        except BaseException as exc:
            try:
                yielded = coro.throw(exc)
            except StopIteration:
                return
            continue
        try:
            yielded = coro.send(None)
        except StopIteration:
            return


def _layer_prefix() -> str:
    config = settings.CHANNEL_LAYERS.get("default", {}).get("CONFIG", {})
    return config.get("prefix", "roomtone")


def get_hub() -> RoomHub:
    """This process's hub (one per event loop), configured from settings."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = RoomHub(
            redis_url=settings.REDIS_URL,
            prefix=_layer_prefix(),
            max_frames=getattr(settings, "ROOM_HUB_MAX_FRAMES", DEFAULT_MAX_FRAMES),
            max_bytes=getattr(settings, "ROOM_HUB_MAX_BYTES", DEFAULT_MAX_BYTES),
            direct_writes=getattr(settings, "ROOM_HUB_DIRECT_WRITES", True),
        )
    return hub


def hub_rooms_enabled() -> bool:
    """Whether room events go through the hub (``ROOM_EVENTS_VIA_HUB``, a setting or, failing
    that, the environment variable); off, they go through the channel layer's room group.
    Every process of a deployment, Celery workers included, must agree on it."""
    value = getattr(settings, "ROOM_EVENTS_VIA_HUB", None)
    if value is None:
        value = os.environ.get("ROOM_EVENTS_VIA_HUB", "").lower() in ("1", "true", "yes", "on")
    return bool(value)


def current_hub() -> RoomHub | None:
    """This event loop's hub if one was made, without making one."""
    return _hubs.get(asyncio.get_running_loop())


# --- publishing ------------------------------------------------------------------------------
_sync_redis: Any = None


def hub_publish(*, room_id: int, event: dict) -> None:
    """Send a room event to every listener of the room in every process. Encodes once.

    Call it from sync code, after commit (services use ``transaction.on_commit``). Async code
    uses ``ahub_publish`` so the event loop never waits on a socket."""
    _publish_sync(room_id, encode_event(event))


def hub_control(*, room_id: int, message: dict) -> None:
    """Send a room control instruction (``{"type": "room.control", ...}``) to the room's
    listeners in every process, after the room events published before it. Sync, after commit,
    as ``hub_publish``; no client sees it as a frame."""
    _publish_sync(room_id, encode_control(message))


def _publish_sync(room_id: int, payload: str) -> None:
    global _sync_redis
    if settings.REDIS_URL:
        if _sync_redis is None:
            import redis

            _sync_redis = redis.Redis.from_url(settings.REDIS_URL)
        _sync_redis.publish(f"{_layer_prefix()}.hub.room.{room_id}", payload)
        return
    # One process, no Redis: hand it to each hub on its own loop, in call order.
    for loop, hub in list(_hubs.items()):
        if not loop.is_closed():
            loop.call_soon_threadsafe(hub.deliver, room_id, payload)


async def ahub_publish(*, room_id: int, event: dict) -> None:
    """``hub_publish`` for async code."""
    payload = encode_event(event)
    hub = get_hub()
    if hub.redis_url:
        await hub._ensure_pubsub()
        await hub._redis.publish(hub.channel(room_id), payload)
        return
    for loop, other in list(_hubs.items()):
        if loop is hub.loop:
            loop.call_soon(hub.deliver, room_id, payload)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(other.deliver, room_id, payload)
