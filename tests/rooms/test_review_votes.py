"""Skip votes and down votes count only fans who are in the room."""

import pytest

from rooms import presence
from rooms.errors import RoomError
from rooms.models import QueueEntry, SkipVote, Vote
from rooms.selectors import now_playing_dict
from rooms.services import queue_add, skip_vote_cast, vote_cast
from tests.rooms.conftest import playing_id

pytestmark = pytest.mark.django_db


def listen(room, user, *, audio: bool = True) -> int:
    session_id = presence.session_open(room=room, user=user, session_key=f"k{user.pk}")
    if audio:
        presence.session_audio(session_id=session_id, playing=True)
    return session_id


@pytest.fixture
def playing(room, owner, tracks):
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    queue_add(room=room, user=owner, track_id=tracks[1].id)
    return playing_id(room)


def test_outsider_cannot_skip_an_empty_room(room, make_user, playing):
    outsider = make_user("outsider")
    with pytest.raises(RoomError) as err:
        skip_vote_cast(room=room, user=outsider)
    assert err.value.code == "not_listening"
    assert not SkipVote.objects.exists()
    assert playing_id(room) == playing


def test_fan_with_silent_socket_cannot_skip(room, make_user, playing):
    quiet = make_user("quiet")
    listen(room, quiet, audio=False)
    with pytest.raises(RoomError) as err:
        skip_vote_cast(room=room, user=quiet)
    assert err.value.code == "not_listening"
    assert playing_id(room) == playing


def test_only_listening_fans_votes_make_the_majority(room, make_user, playing):
    ann, bob, cat = (make_user(n) for n in ("ann", "bob", "cat"))
    ann_session = listen(room, ann)
    listen(room, bob)
    listen(room, cat)
    first = skip_vote_cast(room=room, user=ann)
    assert (first["skip_votes"], first["skip_needed"], first["skipped"]) == (1, 2, False)
    # Ann leaves: her vote no longer counts, and the quorum shrinks with her.
    presence.session_close(session_id=ann_session)
    second = skip_vote_cast(room=room, user=bob)
    assert (second["skip_votes"], second["skip_needed"], second["skipped"]) == (1, 2, False)
    assert now_playing_dict(room.id)["skip_votes"] == 1
    assert playing_id(room) == playing
    third = skip_vote_cast(room=room, user=cat)
    assert third["skipped"] is True
    assert QueueEntry.objects.get(id=playing).status == "skipped"


def test_stored_votes_of_absent_fans_do_not_count(room, make_user, playing):
    gone = [make_user(f"gone{i}") for i in range(3)]
    for user in gone:
        SkipVote.objects.create(entry_id=playing, user=user)
    ann, bob, cat = (make_user(n) for n in ("ann", "bob", "cat"))
    for user in (ann, bob, cat):
        listen(room, user)
    state = skip_vote_cast(room=room, user=ann)
    assert (state["skip_votes"], state["skipped"]) == (1, False)
    assert playing_id(room) == playing


def test_down_votes_never_drop_in_an_empty_room(room, owner, make_user, tracks, playing):
    entry = QueueEntry.objects.get(room=room, status="queued")
    for i in range(4):
        vote_cast(room=room, user=make_user(f"drive{i}"), entry_id=entry.id, value=-1)
    entry.refresh_from_db()
    assert (entry.downvotes, entry.status) == (4, "queued")


def test_only_present_fans_down_votes_weigh(room, owner, make_user, playing):
    entry = QueueEntry.objects.get(room=room, status="queued")
    ann, bob = make_user("ann"), make_user("bob")
    listen(room, owner, audio=False)
    listen(room, ann, audio=False)
    listen(room, bob, audio=False)
    # Three fans present, ratio 0.5: more than 1.5 present down votes drop the entry.
    for i in range(5):
        vote_cast(room=room, user=make_user(f"drive{i}"), entry_id=entry.id, value=-1)
    vote_cast(room=room, user=ann, entry_id=entry.id, value=-1)
    entry.refresh_from_db()
    assert (entry.downvotes, entry.status) == (6, "queued")
    vote_cast(room=room, user=bob, entry_id=entry.id, value=-1)
    entry.refresh_from_db()
    assert entry.status == "dropped"
    assert Vote.objects.filter(entry=entry, value=-1).count() == 7
