"""Votes, skip votes, favourites, DJ seats and rate limits."""

import threading
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.utils import timezone

from rooms import presence
from rooms.models import DJSeat, Favourite, QueueEntry, Room, Vote
from rooms.playback import room_advance
from rooms.services import dj_join, dj_release_away, queue_add, vote_cast
from tests.conftest import requires_postgres
from tests.rooms.conftest import join, playing_id, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def test_votes_change_and_clear(room, owner, make_user, tracks):
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    entry = queue_add(room=room, user=owner, track_id=tracks[1].id)
    bea = make_user("bea")
    # Only down votes of fans in the room count towards dropping an entry.
    presence.session_open(room=room, user=bea, session_key="bea")
    vote_cast(room=room, user=bea, entry_id=entry.id, value=1)
    vote_cast(room=room, user=bea, entry_id=entry.id, value=1)
    entry.refresh_from_db()
    assert (entry.upvotes, entry.downvotes) == (1, 0)
    vote_cast(room=room, user=bea, entry_id=entry.id, value=-1)
    entry.refresh_from_db()
    assert (entry.upvotes, entry.downvotes, entry.status) == (0, 1, "dropped")


def test_downvotes_drop_past_the_share_of_listeners(room, owner, make_user, tracks):
    fans = [make_user(f"fan{i}") for i in range(3)]
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    entry = queue_add(room=room, user=owner, track_id=tracks[1].id)
    playing = playing_id(room)
    cookies = [session_cookie(u) for u in [owner, *fans]]

    async def body():
        clients = [await join(room.slug, c) for c in cookies]
        # 4 fans present, ratio 0.5: the third down vote passes 2 and drops the entry.
        for c in clients[1:3]:
            assert (await c.request({"type": "vote", "entry_id": entry.id, "value": -1}))[
                "type"
            ] == "ack"
        still = QueueEntry.objects.filter(id=entry.id, status="queued")
        assert await still.aexists()
        await clients[3].request({"type": "vote", "entry_id": entry.id, "value": -1})
        gone = await clients[0].expect("queue.updated", where=lambda f: f["queue"] == [])
        # The playing track cannot be voted out.
        for c in clients:
            await c.request({"type": "vote", "entry_id": playing, "value": -1})
        np = await clients[0].expect("now_playing", where=lambda f: f["now_playing"]["down"] == 4)
        for c in clients:
            await c.close()
        return gone, np

    async_to_sync(body)()
    assert QueueEntry.objects.get(id=entry.id).status == "dropped"
    assert QueueEntry.objects.get(id=playing).status == "playing"


def test_skip_needs_more_than_half_of_fans_listening(room, owner, make_user, tracks):
    fans = [make_user(f"fan{i}") for i in range(3)]
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    queue_add(room=room, user=owner, track_id=tracks[1].id)
    first = playing_id(room)
    cookies = [session_cookie(u) for u in [owner, *fans]]

    async def body():
        clients = [await join(room.slug, c) for c in cookies]
        # Four fans present, three with audio running: two skip votes are needed.
        for c in clients[:3]:
            await c.send({"type": "audio.state", "playing": True})
        await clients[3].expect("skip.updated", where=lambda f: f["skip_needed"] == 2)
        # A fan whose audio is not running is present but not listening: no say in skips.
        refused = await clients[3].request({"type": "skip.vote"})
        assert refused["code"] == "not_listening"
        ack = await clients[1].request({"type": "skip.vote"})
        assert ack["skip_votes"] == 1 and ack["skipped"] is False
        again = await clients[1].request({"type": "skip.vote"})
        assert again["skip_votes"] == 1  # one vote per fan
        ack = await clients[0].request({"type": "skip.vote"})
        assert ack["skipped"] is True
        nxt = await clients[2].expect("now_playing", where=lambda f: f["now_playing"])
        for c in clients:
            await c.close()
        return nxt

    nxt = async_to_sync(body)()
    assert nxt["now_playing"]["track"]["id"] == tracks[1].id
    assert QueueEntry.objects.get(id=first).status == "skipped"


def test_favourite_grabs_the_playing_track(room, owner, tracks):
    cookie = session_cookie(owner)

    async def body():
        c = await join(room.slug, cookie)
        nothing = await c.request({"type": "favourite.add"})
        await c.request({"type": "queue.add", "track_id": tracks[0].id})
        ok = await c.request({"type": "favourite.add"})
        twice = await c.request({"type": "favourite.add"})
        await c.close()
        return nothing, ok, twice

    nothing, ok, twice = async_to_sync(body)()
    assert nothing["code"] == "nothing_playing"
    assert ok["track_id"] == twice["track_id"] == tracks[0].id
    assert list(Favourite.objects.values_list("track_id", flat=True)) == [tracks[0].id]


def test_dj_rotation_takes_turns(owner, make_user, tracks):
    from rooms.services import room_create

    room = room_create(owner=owner, name="Decks", mode=Room.Mode.DJ)
    room.autofill = False
    room.save()
    bea = make_user("bea")
    dj_join(room=room, user=owner)
    dj_join(room=room, user=bea)
    queue_add(room=room, user=owner, track_id=tracks[0].id)  # starts at once
    queue_add(room=room, user=owner, track_id=tracks[1].id)
    queue_add(room=room, user=bea, track_id=tracks[2].id)
    queue_add(room=room, user=bea, track_id=tracks[3].id)
    order = [QueueEntry.objects.get(id=playing_id(room)).track_id]
    for _ in range(3):
        room_advance(room_id=room.id, expected_entry_id=playing_id(room))
        order.append(QueueEntry.objects.get(id=playing_id(room)).track_id)
    assert order == [tracks[0].id, tracks[2].id, tracks[1].id, tracks[3].id]


def test_dj_seat_is_released_after_the_grace_period(owner, make_user, tracks):
    from rooms.services import room_create

    room = room_create(owner=owner, name="Decks", mode=Room.Mode.DJ)
    bea = make_user("bea")
    cookie = session_cookie(bea)

    async def body():
        c = await join(room.slug, cookie)
        assert (await c.request({"type": "dj.join"}))["type"] == "ack"
        djs = await c.expect("djs.updated")
        err = await c.request({"type": "dj.join"})
        await c.close()
        return djs, err

    djs, err = async_to_sync(body)()
    assert djs["djs"] == [{"username": "bea", "position": 1, "away": False}]
    assert err["code"] == "already_dj"
    seat = DJSeat.objects.get()
    assert seat.away_since is not None
    assert dj_release_away() == 0  # still within the grace period
    DJSeat.objects.update(away_since=timezone.now() - timedelta(seconds=31))
    assert dj_release_away() == 1
    assert not DJSeat.objects.exists()


def test_rate_limits_answer_with_an_error_and_do_nothing(room, owner, settings):
    settings.ROOMTONE = {**settings.ROOMTONE, "RATE_LIMITS": {"chat": (3, 1.0)}}
    cookie = session_cookie(owner)

    async def body():
        c = await join(room.slug, cookie)
        answers = [await c.request({"type": "chat.send", "text": f"m{i}"}) for i in range(5)]
        await c.close()
        return answers

    answers = async_to_sync(body)()
    assert [a["type"] for a in answers] == ["ack"] * 3 + ["error"] * 2
    assert answers[3]["code"] == "rate_limited" and answers[3]["request_type"] == "chat.send"
    from rooms.models import ChatMessage

    assert list(ChatMessage.objects.values_list("text", flat=True).order_by("id")) == [
        "m0",
        "m1",
        "m2",
    ]


@requires_postgres
def test_concurrent_votes_are_exact(room, owner, make_user, tracks):
    # The playing entry: it takes votes but never drops, so every vote must land.
    entry = queue_add(room=room, user=owner, track_id=tracks[0].id)
    fans = [make_user(f"voter{i}") for i in range(24)]
    barrier = threading.Barrier(len(fans))
    errors: list = []

    def voter(i, user):
        try:
            barrier.wait()
            vote_cast(room=room, user=user, entry_id=entry.id, value=1)
            if i % 3 == 0:
                vote_cast(room=room, user=user, entry_id=entry.id, value=-1 if i % 2 else 0)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=voter, args=(i, u)) for i, u in enumerate(fans)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    entry.refresh_from_db()
    ups = Vote.objects.filter(entry=entry, value=1).count()
    downs = Vote.objects.filter(entry=entry, value=-1).count()
    assert (entry.upvotes, entry.downvotes) == (ups, downs)
    # 8 fans revote (i % 3 == 0): the 4 odd ones flip to down, the 4 even ones clear.
    assert ups == 16 and downs == 4
