"""Presence: a listening session per socket, the room's listener count, the `listeners` event.

Sessions open on connect and close on disconnect. A process that dies leaves its sessions open;
the sweep closes those whose heartbeat (`last_seen_at`, touched by every process for its own
sockets) has gone stale.
"""

import asyncio
from datetime import timedelta

from channels.db import database_sync_to_async
from django.core.cache import cache
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from rooms.broadcast import emit_listeners
from rooms.models import ListeningSession, Room
from rooms.playback import lock_room
from rooms.selectors import fans_count_expression

# At most one `listeners` event per room per this many seconds, whatever the churn.
LISTENERS_COALESCE_S = 0.5
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
    with transaction.atomic():
        lock_room(room_id)
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
