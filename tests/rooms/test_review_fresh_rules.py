"""A connection's Room object is loaded once; the rules it enforces are read fresh every time."""

import pytest

from rooms.errors import RoomError
from rooms.models import DJSeat, QueueEntry, Room
from rooms.services import dj_join, queue_add, role_set, room_settings_update, vote_cast
from rooms.services.access import lock_fresh
from rooms.services.social import chat_send

pytestmark = pytest.mark.django_db


def stale_copy(room) -> Room:
    return Room.objects.get(pk=room.pk)


def test_queue_limit_changed_after_connect(room, owner, make_user, tracks):
    bea = make_user("bea")
    held = stale_copy(room)
    room_settings_update(room=room, actor=owner, changes={"max_queued_per_user": 1})
    queue_add(room=held, user=owner, track_id=tracks[0].id)  # plays at once
    queue_add(room=held, user=bea, track_id=tracks[1].id)
    with pytest.raises(RoomError) as err:
        queue_add(room=held, user=bea, track_id=tracks[2].id)
    assert err.value.code == "queue_limit"
    assert QueueEntry.objects.filter(added_by=bea).count() == 1


def test_mode_changed_after_connect(room, make_user, tracks):
    bea = make_user("bea")
    held = stale_copy(room)
    Room.objects.filter(pk=room.pk).update(mode=Room.Mode.DJ)
    with pytest.raises(RoomError) as err:
        queue_add(room=held, user=bea, track_id=tracks[0].id)
    assert err.value.code == "not_dj"
    dj_join(room=held, user=bea)  # the held copy still says jukebox
    assert DJSeat.objects.filter(room=room, user=bea).exists()


def test_no_repeat_window_changed_after_connect(room, owner, tracks):
    held = stale_copy(room)
    Room.objects.filter(pk=room.pk).update(no_repeat_window=0)
    queue_add(room=held, user=owner, track_id=tracks[0].id)
    QueueEntry.objects.filter(room=room).update(status=QueueEntry.Status.PLAYED)
    Room.objects.filter(pk=room.pk).update(no_repeat_window=5)
    with pytest.raises(RoomError) as err:
        queue_add(room=held, user=owner, track_id=tracks[0].id)
    assert err.value.code == "recently_played"


def test_downvote_ratio_changed_after_connect(room, owner, make_user, tracks):
    from rooms import presence

    held = stale_copy(room)
    queue_add(room=held, user=owner, track_id=tracks[0].id)
    entry = queue_add(room=held, user=owner, track_id=tracks[1].id)
    fans = [make_user(f"fan{i}") for i in range(4)]
    for user in fans:
        presence.session_open(room=room, user=user, session_key=f"k{user.pk}")
    Room.objects.filter(pk=room.pk).update(downvote_ratio=1.0)
    # Held ratio 0.5 would drop at 3 of 4; the room's ratio now asks for more than 4.
    for user in fans[:3]:
        vote_cast(room=held, user=user, entry_id=entry.id, value=-1)
    entry.refresh_from_db()
    assert entry.status == "queued"


def test_owner_changed_after_connect(room, owner, make_user):
    heir, bea = make_user("heir"), make_user("bea")
    held = stale_copy(room)
    Room.objects.filter(pk=room.pk).update(owner=heir)
    with pytest.raises(RoomError) as err:
        role_set(room=held, actor=owner, username="bea", role="moderator")
    assert err.value.code == "forbidden"
    assert not room.roles.filter(user=bea).exists()


def test_lock_fresh_reads_the_row_and_refuses_a_deleted_room(room, owner):
    held = stale_copy(room)
    Room.objects.filter(pk=room.pk).update(name="Renamed")
    _playback, fresh = lock_fresh(held)
    assert fresh.name == "Renamed" and held.name == "Night Shift"
    Room.objects.filter(pk=room.pk).delete()
    with pytest.raises(RoomError) as err:
        chat_send(room=held, user=owner, text="hello?")
    assert err.value.code == "not_found"
