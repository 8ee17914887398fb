"""DJ mode: the waitlist of seats that take turns playing from their own queues."""

from datetime import timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from rooms.broadcast import emit_djs, emit_queue
from rooms.errors import RoomError
from rooms.models import DJSeat, Room
from rooms.playback import lock_room, start_if_idle
from rooms.services.access import lock_fresh, require_fan, require_not_banned


def dj_join(*, room: Room, user) -> DJSeat:
    require_fan(user)
    with transaction.atomic():
        _playback, room = lock_fresh(room)
        if room.mode != Room.Mode.DJ:
            raise RoomError("wrong_mode", "This room has no DJ seats; it plays by votes.")
        require_not_banned(room, user)
        if DJSeat.objects.filter(room=room, user=user).exists():
            raise RoomError("already_dj", "You already have a seat.")
        last = DJSeat.objects.filter(room=room).aggregate(m=Max("position"))["m"] or 0
        seat = DJSeat.objects.create(room=room, user=user, position=last + 1)
        emit_djs(room.id)
        if not start_if_idle(room):
            emit_queue(room)  # the DJ's own queued tracks rejoin the rotation
        return seat


def _release(room: Room, seats) -> None:
    seats.delete()
    emit_djs(room.id)
    emit_queue(room)


def dj_leave(*, room: Room, user) -> None:
    require_fan(user)
    with transaction.atomic():
        _playback, room = lock_fresh(room)
        seat = DJSeat.objects.filter(room=room, user=user)
        if not seat.exists():
            raise RoomError("not_dj", "You have no DJ seat here.")
        _release(room, seat)


def dj_mark_away(*, room_id: int, user_id: int, away: bool) -> None:
    """Presence calls this when a DJ's last socket leaves (or one comes back)."""
    with transaction.atomic():
        lock_room(room_id)
        seats = DJSeat.objects.filter(room_id=room_id, user_id=user_id)
        changed = (
            seats.filter(away_since__isnull=True).update(away_since=timezone.now())
            if away
            else seats.filter(away_since__isnull=False).update(away_since=None)
        )
        if changed:
            emit_djs(room_id)


def dj_release_away(*, now=None) -> int:
    """Release the seats of DJs away for longer than their room's grace period."""
    now = now or timezone.now()
    released = 0
    candidates = (
        DJSeat.objects.filter(away_since__isnull=False).values_list("room_id", flat=True).distinct()
    )
    for room_id in list(candidates):
        with transaction.atomic():
            lock_room(room_id)
            room = Room.objects.get(pk=room_id)
            expired = DJSeat.objects.filter(
                room=room,
                away_since__lt=now - timedelta(seconds=room.dj_grace_seconds),
            )
            if expired.exists():
                released += expired.count()
                _release(room, expired)
    return released
