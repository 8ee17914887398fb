"""Presence: a listening session per socket, the room's listener count, the `listeners` event.

Sessions open on connect and close on disconnect. A process that dies leaves its sessions open;
the sweep closes those whose heartbeat (`last_seen_at`, touched by every process for its own
sockets) has gone stale.

Sockets write their sessions in batches (`session_open_batched`, `session_close_batched`): each
process gathers the joins and leaves of all its sockets and writes them in one transaction at
most once per `ROOM_PRESENCE_TICK_S` (one multi-row INSERT, one UPDATE of the leaves, one
UPDATE of each room's stored `listener_count`), each session keeping the time of its own join or
leave. A lone join is written at once; under a join storm the next batch fills while the last
one is written. The `listeners` event follows at most once per room per `LISTENERS_COALESCE_S`
across all processes, so a premiere's join burst costs a few writes a second per process rather
than several per socket.
"""

import asyncio
import logging
import weakref
from datetime import timedelta

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from rooms.broadcast import emit_listeners
from rooms.models import DJSeat, ListeningSession, Room
from rooms.playback import lock_room
from rooms.selectors import fans_count_expression

log = logging.getLogger(__name__)

# At most one `listeners` event per room per this many seconds, whatever the churn.
LISTENERS_COALESCE_S = 0.5
# At most one presence write (a batch of joins and leaves) per process per this many seconds.
PRESENCE_TICK_S = 0.1
STALE_AFTER = timedelta(minutes=3)
HEARTBEAT_EVERY_S = 45
_pending: set[asyncio.Task] = set()


def _refresh_count(room_id: int) -> None:
    """Store the room's listener count: people, not sockets (three tabs are one listener)."""
    open_count = (
        ListeningSession.objects.filter(room_id=OuterRef("pk"), ended_at__isnull=True)
        .order_by()
        .values("room_id")
        .annotate(c=fans_count_expression())
        .values("c")
    )
    Room.objects.filter(pk=room_id).update(listener_count=Coalesce(Subquery(open_count), 0))


def session_open(*, room: Room, user, session_key: str = "", channel_name: str = "") -> int:
    from rooms.services.dj import dj_mark_away

    now = timezone.now()
    with transaction.atomic():
        session = ListeningSession.objects.create(
            room=room,
            user=user if user is not None and user.is_authenticated else None,
            session_key=session_key or "",
            channel_name=channel_name[:200],
            started_at=now,
            last_seen_at=now,
        )
        _refresh_count(room.id)
        if session.user_id is not None:
            dj_mark_away(room_id=room.id, user_id=session.user_id, away=False)
    return session.id


def session_close(*, session_id: int) -> None:
    from rooms.services.dj import dj_mark_away

    now = timezone.now()
    with transaction.atomic():
        session = ListeningSession.objects.filter(id=session_id, ended_at__isnull=True).first()
        if session is None:
            return
        ListeningSession.objects.filter(id=session_id).update(ended_at=now, last_seen_at=now)
        _refresh_count(session.room_id)
        if (
            session.user_id is not None
            and not ListeningSession.objects.filter(
                room_id=session.room_id, user_id=session.user_id, ended_at__isnull=True
            ).exists()
        ):
            dj_mark_away(room_id=session.room_id, user_id=session.user_id, away=True)


def session_audio(*, session_id: int, playing: bool) -> bool:
    """Record whether the socket's audio runs; True if that changed."""
    return bool(
        ListeningSession.objects.filter(id=session_id, ended_at__isnull=True)
        .exclude(audio_active=playing)
        .update(audio_active=playing, last_seen_at=timezone.now())
    )


def sessions_touch(*, session_ids: list[int]) -> None:
    if session_ids:
        ListeningSession.objects.filter(id__in=session_ids, ended_at__isnull=True).update(
            last_seen_at=timezone.now()
        )


def sessions_close_stale(*, now=None) -> int:
    """Close sessions of processes that died without saying goodbye."""
    now = now or timezone.now()
    stale = ListeningSession.objects.filter(
        ended_at__isnull=True, last_seen_at__lt=now - STALE_AFTER
    )
    rooms = set(stale.values_list("room_id", flat=True))
    closed = 0
    for session_id in list(stale.values_list("id", flat=True)[:1000]):
        session_close(session_id=session_id)
        closed += 1
    for room_id in rooms:
        listeners_flush(room_id)
    return closed


def listeners_flush(room_id: int) -> None:
    """Send the `listeners` event; the stored count is refreshed with it, so that it settles
    on the right value even when two processes' batches committed side by side."""
    with transaction.atomic():
        lock_room(room_id)
        _refresh_count(room_id)
        emit_listeners(room_id)


def _gate_key(room_id: int) -> str:
    return f"rooms:listeners-pending:{room_id}"


async def listeners_changed(room_id: int) -> None:
    """Ask for a `listeners` event soon; changes in the meantime ride along with it.

    The gate is shared through the cache, so one process sends for all of them. The flush
    drops the gate before it reads, so a change after the read opens a new window.
    """
    if not await cache.aadd(_gate_key(room_id), 1, timeout=5):
        return

    async def flush():
        await asyncio.sleep(LISTENERS_COALESCE_S)
        await cache.adelete(_gate_key(room_id))
        await database_sync_to_async(listeners_flush)(room_id)

    task = asyncio.get_running_loop().create_task(flush())
    _pending.add(task)
    task.add_done_callback(_pending.discard)


# --- batched presence writes ------------------------------------------------------------------


def sessions_write(*, opens: list[tuple], closes: list[tuple]) -> tuple[list[int], set[int]]:
    """Write a batch of joins and leaves in one transaction; returns the new sessions' ids (in
    the order of `opens`) and the rooms whose presence changed.

    `opens` holds (room_id, user_id, session_key, channel_name, started_at), `closes`
    (session_id, ended_at): each session keeps its own join and leave time, as the one-by-one
    `session_open` / `session_close` would have written them. A session the sweep already
    closed stays as the sweep left it."""
    from rooms.services.dj import dj_mark_away

    rooms: set[int] = set()
    fans: set[tuple[int, int]] = set()
    with transaction.atomic():
        created = ListeningSession.objects.bulk_create(
            [
                ListeningSession(
                    room_id=room_id,
                    user_id=user_id,
                    session_key=session_key or "",
                    channel_name=(channel_name or "")[:200],
                    started_at=started_at,
                    last_seen_at=started_at,
                )
                for room_id, user_id, session_key, channel_name, started_at in opens
            ]
        )
        for session in created:
            rooms.add(session.room_id)
            if session.user_id is not None:
                fans.add((session.room_id, session.user_id))
        if closes:
            ended = dict(closes)
            closing = list(
                ListeningSession.objects.filter(id__in=ended, ended_at__isnull=True).only(
                    "id", "room_id", "user_id"
                )
            )
            for session in closing:
                session.ended_at = session.last_seen_at = ended[session.id]
                rooms.add(session.room_id)
                if session.user_id is not None:
                    fans.add((session.room_id, session.user_id))
            # Only sessions still open: one closed meanwhile (by the sweep) keeps its end.
            ListeningSession.objects.filter(ended_at__isnull=True).bulk_update(
                closing, ["ended_at", "last_seen_at"], batch_size=500
            )
        for room_id in sorted(rooms):
            _refresh_count(room_id)
        if fans:
            # A DJ's seat is marked away when the fan's last socket leaves, back when one
            # returns; only fans holding a seat cost more than this one query.
            seated = set(
                DJSeat.objects.filter(
                    room_id__in={r for r, _ in fans}, user_id__in={u for _, u in fans}
                ).values_list("room_id", "user_id")
            )
            for room_id, user_id in sorted(seated & fans):
                present = ListeningSession.objects.filter(
                    room_id=room_id, user_id=user_id, ended_at__isnull=True
                ).exists()
                dj_mark_away(room_id=room_id, user_id=user_id, away=not present)
    return [session.id for session in created], rooms


class PresenceBatch:
    """This event loop's joins and leaves, written together at most once per `tick` seconds.

    The first change after a quiet spell is written on the next turn of the loop; changes
    that arrive while a batch is being written (or within `tick` of the last one) wait for the
    next batch. The `listeners` event is asked for after each batch that touched a room."""

    def __init__(self, *, tick: float):
        self.loop = asyncio.get_running_loop()
        self.tick = tick
        self.opens: list[tuple[tuple, asyncio.Future]] = []
        self.closes: list[tuple[tuple, asyncio.Future]] = []
        self.handle: asyncio.TimerHandle | None = None
        self.writing: asyncio.Task | None = None
        self.last_write = float("-inf")
        self.batches = 0  # batches written (for tests and diagnostics)

    def open(self, *, room_id: int, user_id, session_key: str, channel_name: str):
        future = self.loop.create_future()
        row = (room_id, user_id, session_key, channel_name, timezone.now())
        self.opens.append((row, future))
        self._schedule()
        return future

    def close(self, *, session_id: int):
        future = self.loop.create_future()
        self.closes.append(((session_id, timezone.now()), future))
        self._schedule()
        return future

    def _schedule(self) -> None:
        if self.handle is not None or self.writing is not None:
            return  # the pending write, or the end of the running one, takes it along
        delay = max(0.0, self.last_write + self.tick - self.loop.time())
        self.handle = self.loop.call_later(delay, self._start)

    def _start(self) -> None:
        self.handle = None
        opens, closes = self.opens, self.closes
        self.opens, self.closes = [], []
        self.last_write = self.loop.time()
        self.writing = self.loop.create_task(self._write(opens, closes))

    async def _write(self, opens, closes) -> None:
        try:
            ids, rooms = await database_sync_to_async(sessions_write)(
                opens=[row for row, _ in opens], closes=[row for row, _ in closes]
            )
        except Exception as exc:
            log.exception(
                "presence: writing %d joins and %d leaves failed", len(opens), len(closes)
            )
            for _row, future in opens + closes:
                if not future.done():
                    future.set_exception(exc)
        else:
            self.batches += 1
            for (_row, future), session_id in zip(opens, ids, strict=True):
                if future.cancelled():
                    # The socket gave up waiting (its connect was cancelled): end it again.
                    self.close(session_id=session_id)
                elif not future.done():
                    future.set_result(session_id)
            for _row, future in closes:
                if not future.done():
                    future.set_result(None)
            for room_id in sorted(rooms):
                try:
                    await listeners_changed(room_id)
                except Exception:
                    log.exception("room %s: listeners event not scheduled", room_id)
        finally:
            self.writing = None
            if self.opens or self.closes:
                self._schedule()

    async def drain(self) -> None:
        """Wait until every change asked for so far is written (tests, shutdown)."""
        while self.handle is not None or self.writing is not None:
            if self.writing is not None:
                await asyncio.gather(self.writing, return_exceptions=True)
            else:
                await asyncio.sleep(max(0.0, self.last_write + self.tick - self.loop.time()))


_batches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PresenceBatch] = (
    weakref.WeakKeyDictionary()
)


def presence_batch() -> PresenceBatch:
    """This event loop's presence batch."""
    loop = asyncio.get_running_loop()
    batch = _batches.get(loop)
    if batch is None:
        tick = getattr(settings, "ROOM_PRESENCE_TICK_S", PRESENCE_TICK_S)
        batch = _batches[loop] = PresenceBatch(tick=tick)
    return batch


async def session_open_batched(
    *, room: Room, user, session_key: str = "", channel_name: str = ""
) -> int:
    """`session_open` for a socket: written with the other joins and leaves of this process;
    returns the session's id once it is stored. The listener count and `listeners` event
    follow by themselves."""
    user_id = user.pk if user is not None and user.is_authenticated else None
    return await presence_batch().open(
        room_id=room.id, user_id=user_id, session_key=session_key, channel_name=channel_name
    )


async def session_close_batched(*, session_id: int) -> None:
    """`session_close` for a socket, written with this process's other joins and leaves; the
    session ends at the time of this call."""
    await presence_batch().close(session_id=session_id)
