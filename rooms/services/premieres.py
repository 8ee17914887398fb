"""Premieres: a room, or one track in it, starting at a set moment for everyone in the room.

A premiere is switched in a few seconds ahead (`PREMIERE_LEAD_MS`), by whichever of the process
timers, the beat sweep or a join sees it due first. The switch names its start as `starts_at`
exactly, so every client gets `now_playing` early, loads the audio, and starts at the same
moment. Claiming `Premiere.started` with a conditional update under the room's lock lets exactly
one caller switch; the others see a row count of 0.
"""

import logging
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction

from rooms.broadcast import emit_djs, emit_now_playing, emit_queue
from rooms.models import Playback, Premiere, QueueEntry, Room
from rooms.playback import _pick_next, _start, lock_room
from rooms.selectors import ms, now_ms

log = logging.getLogger(__name__)


def premiere_lead_ms() -> int:
    return int(settings.ROOMTONE.get("PREMIERE_LEAD_MS", 5000))


def premiere_next_ms(*, room_id: int) -> int | None:
    """When the room's next premiere that has not been switched in starts (for timers)."""
    starts_at = (
        Premiere.objects.filter(room_id=room_id, started=False)
        .order_by("starts_at")
        .values_list("starts_at", flat=True)
        .first()
    )
    return ms(starts_at)


def premiere_start(*, premiere_id: int, now: int | None = None) -> bool:
    """Switch the room to the premiere, once. True if this call did it."""
    now = now or now_ms()
    room_id = Premiere.objects.filter(pk=premiere_id).values_list("room_id", flat=True).first()
    if room_id is None:
        return False
    with transaction.atomic():
        playback = lock_room(room_id)
        if Premiere.objects.filter(pk=premiere_id, started=False).update(started=True) != 1:
            return False
        premiere = Premiere.objects.select_related("track").get(pk=premiere_id)
        room = Room.objects.get(pk=room_id)
        if playback.current_entry_id is not None:
            # Cut by the schedule, not by fans: it counts as played, not skipped.
            QueueEntry.objects.filter(
                id=playback.current_entry_id, status=QueueEntry.Status.PLAYING
            ).update(status=QueueEntry.Status.PLAYED, ended_at=datetime.now(UTC))
        Playback.objects.filter(room_id=room_id).update(
            current_entry=None, started_at_ms=None, ends_at_ms=None, paused=False, paused_at_ms=None
        )
        track = premiere.track
        if track is not None and track.playable:
            entry = QueueEntry.objects.create(room=room, track=track)
        else:
            if track is not None:
                log.warning(
                    "premiere %s: track %s has no audio; starting the queue", premiere_id, track.id
                )
            entry = _pick_next(room)
        if entry is not None:
            _start(room, entry, now, started=ms(premiere.starts_at))
        emit_now_playing(room_id)
        emit_queue(room)
        if room.mode == Room.Mode.DJ:
            emit_djs(room_id)
        return True


def premieres_start_due(*, room_id: int | None = None, now: int | None = None) -> int:
    """Switch in every premiere starting within the lead (of one room, or all); returns how many
    this call switched."""
    now = now or now_ms()
    horizon = datetime.fromtimestamp((now + premiere_lead_ms()) / 1000, tz=UTC)
    due = Premiere.objects.filter(started=False, starts_at__lte=horizon)
    if room_id is not None:
        due = due.filter(room_id=room_id)
    started = 0
    for premiere_id in list(due.order_by("starts_at").values_list("id", flat=True)[:200]):
        try:
            started += premiere_start(premiere_id=premiere_id, now=now)
        except Exception:
            log.exception("premiere %s: start failed", premiere_id)
    return started
