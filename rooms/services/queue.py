"""The queue: adding tracks under the room's rules, and votes that order it."""

from django.db import transaction
from django.db.models import Q

from catalog.models import Track
from catalog.selectors import held_for_premiere
from rooms.broadcast import emit_now_playing, emit_queue
from rooms.errors import RoomError
from rooms.models import DJSeat, QueueEntry, Room, Vote
from rooms.playback import start_if_idle
from rooms.selectors import present_downvotes, present_fans
from rooms.services.access import lock_fresh, require_fan, require_not_banned

Status = QueueEntry.Status
LIVE = [Status.QUEUED, Status.PLAYING]


def track_allowed(room: Room, track: Track) -> bool:
    """The room's artist/label rule: with none set, every track is allowed."""
    artist_ids = set(room.allowed_artists.values_list("id", flat=True))
    label_ids = set(room.allowed_labels.values_list("id", flat=True))
    if not artist_ids and not label_ids:
        return True
    if track.label_id is not None and track.label_id in label_ids:
        return True
    return track.artists.filter(Q(id__in=artist_ids) | Q(label_id__in=label_ids)).exists()


def queue_add(*, room: Room, user, track_id: int) -> QueueEntry:
    require_fan(user)
    with transaction.atomic():
        _playback, room = lock_fresh(room)
        require_not_banned(room, user)
        track = Track.objects.filter(id=track_id).first()
        if track is None:
            raise RoomError("not_found", "There is no such track.")
        if not track.playable:
            raise RoomError("not_playable", "This track has no playable audio yet.")
        if held_for_premiere().filter(pk=track.pk).exists():
            raise RoomError(
                "not_released", "This track premieres soon: it can be queued once it has."
            )
        if not track_allowed(room, track):
            raise RoomError("not_allowed", "This room only plays certain artists or labels.")
        if room.mode == Room.Mode.DJ and not DJSeat.objects.filter(room=room, user=user).exists():
            raise RoomError("not_dj", "Take a DJ seat to queue tracks in this room.")
        mine = QueueEntry.objects.filter(room=room, added_by=user, status=Status.QUEUED).count()
        if mine >= room.max_queued_per_user:
            raise RoomError(
                "queue_limit",
                f"You already have {mine} tracks queued here; the room allows "
                f"{room.max_queued_per_user}.",
            )
        if QueueEntry.objects.filter(room=room, track=track, status__in=LIVE).exists():
            raise RoomError("already_queued", "This track is already playing or queued.")
        if room.no_repeat_window:
            recent = (
                QueueEntry.objects.filter(room=room)
                .exclude(status=Status.QUEUED)
                .order_by("-id")
                .values_list("track_id", flat=True)[: room.no_repeat_window]
            )
            if track.id in set(recent):
                raise RoomError(
                    "recently_played",
                    f"This track played within the last {room.no_repeat_window} tracks.",
                )
        entry = QueueEntry.objects.create(room=room, track=track, added_by=user)
        if not start_if_idle(room):
            emit_queue(room)
        entry.refresh_from_db()
        return entry


def _outvoted(room: Room, entry: QueueEntry) -> bool:
    """More down votes from fans in the room than its share of them; an empty room drops nothing
    (votes of fans who left, or never came, cannot outvote anyone)."""
    present = present_fans(room.id)
    return present > 0 and present_downvotes(room.id, entry.id) > room.downvote_ratio * present


def vote_cast(*, room: Room, user, entry_id: int, value: int) -> int:
    """Set the fan's vote on an entry (1, -1, or 0 to clear); returns the vote now held.

    Votes may be cast on the playing entry (they count for its history) but only queued entries
    move or drop.
    """
    require_fan(user)
    if value not in (1, -1, 0):
        raise RoomError("invalid", "A vote is 1, -1 or 0.")
    with transaction.atomic():
        _playback, room = lock_fresh(room)
        require_not_banned(room, user)
        entry = (
            QueueEntry.objects.select_for_update()
            .filter(id=entry_id, room=room, status__in=LIVE)
            .first()
        )
        if entry is None:
            raise RoomError("not_found", "That entry is no longer in the queue.")
        vote = Vote.objects.filter(entry=entry, user=user).first()
        old = vote.value if vote else 0
        if old == value:
            return value
        entry.upvotes += (value == 1) - (old == 1)
        entry.downvotes += (value == -1) - (old == -1)
        if value == 0:
            vote.delete()
        elif vote is None:
            Vote.objects.create(entry=entry, user=user, value=value)
        else:
            vote.value = value
            vote.save(update_fields=["value", "updated_at"])
        fields = ["upvotes", "downvotes"]
        if entry.status == Status.QUEUED and _outvoted(room, entry):
            entry.status = Status.DROPPED
            fields.append("status")
        entry.save(update_fields=fields)
        if entry.status == Status.PLAYING:
            emit_now_playing(room.id)
        else:
            emit_queue(room)
        return value
