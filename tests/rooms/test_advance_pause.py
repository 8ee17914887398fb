"""Pause and resume by the room's owner or moderators: the position holds, nothing advances."""

import pytest

from rooms.errors import RoomError
from rooms.models import ModerationAction, Playback
from rooms.playback import playback_heal
from rooms.selectors import now_ms, room_snapshot
from rooms.services import mod_pause, mod_resume, mod_skip, queue_add
from rooms.tasks import playback_sweep_task
from tests.rooms.conftest import playing_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def playing(room, owner, tracks):
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    queue_add(room=room, user=owner, track_id=tracks[1].id)
    # 40 s into the track.
    started = now_ms() - 40_000
    Playback.objects.filter(room=room).update(
        started_at_ms=started, ends_at_ms=started + tracks[0].duration_ms
    )
    return playing_id(room)


def test_pause_holds_the_position_and_resume_plays_on_from_it(
    room, owner, playing, tracks, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as sent:
        position = mod_pause(room=room, actor=owner)
    assert 40_000 <= position < 42_000
    assert len(sent) == 2  # now_playing (paused) and the moderation notice
    playback = Playback.objects.get(room=room)
    assert playback.paused and playback.ends_at_ms is None
    np = room_snapshot(room=room, user=owner)["now_playing"]
    assert np["paused"] is True and np["paused_at"] - np["started_at"] == position

    # Long past the track's original end, nothing advances a paused room.
    Playback.objects.filter(room=room).update(paused_at_ms=playback.paused_at_ms)
    assert playback_sweep_task() == 0
    assert playback_heal(room.id) is False
    assert playing_id(room) == playing

    before = now_ms()
    started = mod_resume(room=room, actor=owner)
    lead = settings.ROOMTONE["START_LEAD_MS"]
    playback = Playback.objects.get(room=room)
    assert not playback.paused and playback.paused_at_ms is None
    assert playback.started_at_ms == started
    # At the end of the start lead the track is exactly where it was paused.
    assert before + lead - position <= started <= now_ms() + lead - position
    assert playback.ends_at_ms == started + tracks[0].duration_ms
    actions = list(ModerationAction.objects.values_list("action", flat=True))
    assert sorted(actions) == ["pause", "resume"]


def test_only_moderators_pause_and_states_are_checked(room, owner, make_user, playing):
    fan = make_user("bea")
    with pytest.raises(RoomError) as err:
        mod_pause(room=room, actor=fan)
    assert err.value.code == "forbidden"
    with pytest.raises(RoomError) as err:
        mod_resume(room=room, actor=owner)
    assert err.value.code == "invalid"
    mod_pause(room=room, actor=owner)
    with pytest.raises(RoomError) as err:
        mod_pause(room=room, actor=owner)
    assert err.value.code == "invalid"
    assert Playback.objects.get(room=room).paused


def test_nothing_playing_cannot_pause(room, owner):
    with pytest.raises(RoomError) as err:
        mod_pause(room=room, actor=owner)
    assert err.value.code == "nothing_playing"


def test_skip_while_paused_plays_the_next_track_unpaused(room, owner, playing, tracks):
    mod_pause(room=room, actor=owner)
    mod_skip(room=room, actor=owner)
    playback = Playback.objects.get(room=room)
    assert not playback.paused and playback.paused_at_ms is None
    assert playback.ends_at_ms is not None and playback.current_entry_id != playing
