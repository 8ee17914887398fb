"""What owners and moderators do; every action lands in the room's audit log."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from rooms.broadcast import emit_now_playing, emit_queue, room_control, room_event
from rooms.errors import RoomError
from rooms.models import ChatMessage, ModerationAction, Playback, QueueEntry, Room, Sanction
from rooms.playback import lock_room, room_advance
from rooms.selectors import ms, now_ms, user_role
from rooms.services.access import ROLE_RANK, require_moderator

MAX_SANCTION_MINUTES = 60 * 24 * 365


def _audit(room: Room, actor, action: str, target=None, **detail) -> None:
    ModerationAction.objects.create(
        room=room, actor=actor, action=action, target_user=target, detail=detail
    )


def _announce(room: Room, actor, action: str, target=None, **extra) -> None:
    event = {
        "type": "moderation",
        "action": action,
        "actor": actor.username,
        "target": target.username if target is not None else None,
        **extra,
    }
    room_event(room_id=room.id, event=event)


def mod_skip(*, room: Room, actor) -> int:
    """Skip the playing track; returns the skipped entry's id."""
    require_moderator(room, actor)
    with transaction.atomic():
        playback = lock_room(room.id)
        entry_id = playback.current_entry_id
        if entry_id is None:
            raise RoomError("nothing_playing", "Nothing is playing right now.")
        room_advance(room_id=room.id, expected_entry_id=entry_id, skipped=True)
        _audit(room, actor, "skip", entry_id=entry_id)
        _announce(room, actor, "skip", entry_id=entry_id)
        return entry_id


def mod_remove_entry(*, room: Room, actor, entry_id: int) -> None:
    require_moderator(room, actor)
    with transaction.atomic():
        playback = lock_room(room.id)
        entry = QueueEntry.objects.filter(
            id=entry_id, room=room, status=QueueEntry.Status.QUEUED
        ).first()
        if entry is None:
            if playback.current_entry_id == entry_id:
                raise RoomError("invalid", "That entry is playing: skip it instead.")
            raise RoomError("not_found", "That entry is no longer in the queue.")
        entry.status = QueueEntry.Status.REMOVED
        entry.save(update_fields=["status"])
        _audit(room, actor, "remove_entry", entry.added_by, entry_id=entry.id)
        emit_queue(room)
        _announce(room, actor, "remove_entry", entry.added_by, entry_id=entry.id)


def _target(room: Room, actor, username: str):
    target = get_user_model().objects.filter(username=username).first()
    if target is None:
        raise RoomError("not_found", f"There is no user {username!r}.")
    if target.pk == actor.pk:
        raise RoomError("invalid", "You cannot do that to yourself.")
    if ROLE_RANK[user_role(room, target)] >= ROLE_RANK[user_role(room, actor)]:
        raise RoomError("forbidden", "You cannot do that to someone of your rank or above.")
    return target


def _until(minutes: int | None):
    if minutes is None:
        return None
    if (
        not isinstance(minutes, int)
        or isinstance(minutes, bool)
        or not (0 < minutes <= MAX_SANCTION_MINUTES)
    ):
        raise RoomError("invalid", f"Minutes must be 1 to {MAX_SANCTION_MINUTES}, or null.")
    return timezone.now() + timedelta(minutes=minutes)


def _sanction(room, actor, kind, username, minutes, reason) -> Sanction:
    require_moderator(room, actor)
    until = _until(minutes)
    with transaction.atomic():
        lock_room(room.id)
        target = _target(room, actor, username)
        # A new sanction replaces the old one of its kind, so shortening one works too.
        Sanction.objects.filter(room=room, user=target, kind=kind).delete()
        sanction = Sanction.objects.create(
            room=room, user=target, kind=kind, until=until, reason=reason[:200], created_by=actor
        )
        _audit(room, actor, kind, target, until=ms(until), reason=sanction.reason)
        if kind == Sanction.Kind.BAN:
            dropped = QueueEntry.objects.filter(
                room=room, added_by=target, status=QueueEntry.Status.QUEUED
            ).update(status=QueueEntry.Status.REMOVED)
            if dropped:
                emit_queue(room)
        _announce(room, actor, kind, target, until=ms(until))
        room_control(room_id=room.id, message={"action": kind, "user_id": target.pk})
        return sanction


def mod_mute(*, room: Room, actor, username: str, minutes: int | None = 10, reason: str = ""):
    return _sanction(room, actor, Sanction.Kind.MUTE, username, minutes, reason)


def mod_ban(*, room: Room, actor, username: str, minutes: int | None = None, reason: str = ""):
    return _sanction(room, actor, Sanction.Kind.BAN, username, minutes, reason)


def mod_lift(*, room: Room, actor, username: str, kind: str) -> None:
    """Unmute or unban."""
    require_moderator(room, actor)
    if kind not in Sanction.Kind.values:
        raise RoomError("invalid", "Kind is mute or ban.")
    with transaction.atomic():
        lock_room(room.id)
        target = _target(room, actor, username)
        if not Sanction.objects.filter(room=room, user=target, kind=kind).delete()[0]:
            raise RoomError("not_found", f"{username} has no {kind} here.")
        _audit(room, actor, f"un{kind}", target)
        _announce(room, actor, f"un{kind}", target)
        room_control(room_id=room.id, message={"action": f"un{kind}", "user_id": target.pk})


def mod_delete_message(*, room: Room, actor, message_id: int) -> None:
    require_moderator(room, actor)
    with transaction.atomic():
        lock_room(room.id)
        updated = ChatMessage.objects.filter(
            id=message_id, room=room, deleted_at__isnull=True
        ).update(deleted_at=timezone.now(), deleted_by=actor)
        if not updated:
            raise RoomError("not_found", "There is no such message.")
        _audit(room, actor, "delete_message", message_id=message_id)
        room_event(room_id=room.id, event={"type": "chat.deleted", "id": message_id})


def mod_pause(*, room: Room, actor) -> int:
    """Hold the playing track where it is; returns the position (ms) it holds at."""
    require_moderator(room, actor)
    with transaction.atomic():
        playback = lock_room(room.id)
        if playback.current_entry_id is None:
            raise RoomError("nothing_playing", "Nothing is playing right now.")
        if playback.paused:
            raise RoomError("invalid", "The room is already paused.")
        now = now_ms()
        # Paused during the start lead, the track holds at its beginning.
        paused_at = max(now, playback.started_at_ms)
        Playback.objects.filter(room_id=room.id).update(
            paused=True, paused_at_ms=paused_at, ends_at_ms=None
        )
        position = paused_at - playback.started_at_ms
        _audit(room, actor, "pause", entry_id=playback.current_entry_id, position_ms=position)
        emit_now_playing(room.id)
        _announce(room, actor, "pause", entry_id=playback.current_entry_id)
        return position


def mod_resume(*, room: Room, actor) -> int:
    """Play on from where the room was paused, a start lead from now; returns the new start."""
    require_moderator(room, actor)
    with transaction.atomic():
        playback = lock_room(room.id)
        if not playback.paused or playback.current_entry_id is None:
            raise RoomError("invalid", "The room is not paused.")
        entry = QueueEntry.objects.select_related("track").get(id=playback.current_entry_id)
        position = playback.paused_at_ms - playback.started_at_ms
        started = now_ms() + settings.ROOMTONE["START_LEAD_MS"] - position
        Playback.objects.filter(room_id=room.id).update(
            paused=False,
            paused_at_ms=None,
            started_at_ms=started,
            ends_at_ms=started + entry.track.duration_ms,
        )
        QueueEntry.objects.filter(id=entry.id).update(started_at_ms=started)
        _audit(room, actor, "resume", entry_id=entry.id, position_ms=position)
        emit_now_playing(room.id)
        _announce(room, actor, "resume", entry_id=entry.id)
        return started
