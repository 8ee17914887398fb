"""mod.pause and mod.resume over both transports: moderators hold the room, everyone hears it."""

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings

from rooms.models import ModerationAction, Playback, RoomRole
from rooms.selectors import now_ms
from rooms.services import queue_add, role_set
from tests.rooms.conftest import join, playing_id, session_cookie
from tests.rooms.test_fallback_actions import post

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def playing(room, owner, tracks):
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    queue_add(room=room, user=owner, track_id=tracks[1].id)
    started = now_ms() - 40_000  # 40 s into the track
    Playback.objects.filter(room=room).update(
        started_at_ms=started, ends_at_ms=started + tracks[0].duration_ms
    )
    return playing_id(room)


def test_a_moderator_pauses_and_everyone_holds_then_resumes_at_the_position(
    room, owner, make_user, playing
):
    mod, fan = make_user("mina"), make_user("bea")
    role_set(room=room, actor=owner, username="mina", role=RoomRole.Kind.MODERATOR)
    cm, cf = session_cookie(mod), session_cookie(fan)

    async def body():
        m = await join(room.slug, cm)
        f = await join(room.slug, cf)
        anon = await join(room.slug)
        ack = await m.request({"type": "mod.pause", "ref": 7})
        assert ack["type"] == "ack" and ack["request_type"] == "mod.pause" and ack["ref"] == 7
        position = ack["position_ms"]
        assert 40_000 <= position < 45_000
        held = []
        for client in (m, f, anon):
            frame = await client.expect("now_playing")
            np = frame["now_playing"]
            assert np["entry_id"] == playing
            assert np["paused"] is True and np["ends_at"] is None
            assert np["paused_at"] - np["started_at"] == position
            held.append(frame["seq"])
            note = await client.expect("moderation", action="pause")
            assert note["actor"] == "mina" and note["entry_id"] == playing
        assert len(set(held)) == 1

        before = now_ms()
        ack = await m.request({"type": "mod.resume"})
        assert ack["type"] == "ack" and ack["request_type"] == "mod.resume"
        started = ack["started_at"]
        lead = settings.ROOMTONE["START_LEAD_MS"]
        # At the end of the start lead the track is exactly where it was paused.
        assert before + lead - position <= started <= now_ms() + lead - position
        for client in (m, f, anon):
            np = (await client.expect("now_playing"))["now_playing"]
            assert np["paused"] is False and np["paused_at"] is None
            assert np["started_at"] == started and np["entry_id"] == playing
            assert np["ends_at"] == started + np["track"]["duration_ms"]
        for client in (m, f, anon):
            await client.close()

    async_to_sync(body)()
    playback = Playback.objects.get(room=room)
    assert not playback.paused and playback.current_entry_id == playing
    audited = ModerationAction.objects.filter(action__in=["pause", "resume"])
    assert sorted(audited.values_list("action", flat=True)) == ["pause", "resume"]


def test_a_listener_is_forbidden_and_nothing_changes(room, owner, make_user, playing):
    fan = make_user("bea")
    # `seq` numbers every room event, listener counts from these joins included: left out.
    fields = ["current_entry_id", "started_at_ms", "ends_at_ms", "paused", "paused_at_ms"]
    before = Playback.objects.filter(room=room).values(*fields).get()
    cf, co = session_cookie(fan), session_cookie(owner)

    async def body():
        f = await join(room.slug, cf)
        o = await join(room.slug, co)
        anon = await join(room.slug)
        for frame_type in ("mod.pause", "mod.resume"):
            error = await f.request({"type": frame_type, "ref": "x"})
            assert error["type"] == "error" and error["code"] == "forbidden", error
            assert error["request_type"] == frame_type and error["ref"] == "x"
            error = await anon.request({"type": frame_type})
            assert error["code"] == "auth_required", error
        error = await f.request({"type": "mod.pause", "now": True})
        assert error["code"] == "invalid"
        # Whatever the refusals broadcast would reach the owner before the answer to a ping.
        await o.send({"type": "time.ping", "t0": 1})
        await o.expect("time.pong")
        assert not [x for x in o.seen if x["type"] in ("now_playing", "moderation")], o.seen
        # The owner cannot resume a room that is not paused either.
        error = await o.request({"type": "mod.resume"})
        assert error["code"] == "invalid" and error["request_type"] == "mod.resume"
        for client in (f, o, anon):
            await client.close()

    async_to_sync(body)()
    assert Playback.objects.filter(room=room).values(*fields).get() == before
    assert not ModerationAction.objects.exists()


def test_pause_with_nothing_playing(room, owner):
    co = session_cookie(owner)

    async def body():
        o = await join(room.slug, co)
        error = await o.request({"type": "mod.pause"})
        assert error["type"] == "error" and error["code"] == "nothing_playing"
        await o.close()

    async_to_sync(body)()
    assert not Playback.objects.get(room=room).paused


def test_pause_and_resume_over_http(room, owner, make_user, playing):
    fan = make_user("bea")
    [(status, refused)] = post(session_cookie(fan), room.slug, [{"type": "mod.pause"}])
    assert status == 200 and refused["frames"][0]["code"] == "forbidden"
    assert not Playback.objects.get(room=room).paused

    frames = [{"type": "mod.pause"}, {"type": "mod.resume"}]
    [(_, paused), (_, resumed)] = post(session_cookie(owner), room.slug, frames)
    [ack] = paused["frames"]
    assert ack["type"] == "ack" and ack["request_type"] == "mod.pause"
    position = ack["position_ms"]
    [ack] = resumed["frames"]
    assert ack["request_type"] == "mod.resume"
    playback = Playback.objects.get(room=room)
    assert not playback.paused and playback.started_at_ms == ack["started_at"]
    # Resumed a start lead from now, at the position it was paused at.
    lead = settings.ROOMTONE["START_LEAD_MS"]
    assert abs(now_ms() + lead - position - ack["started_at"]) < 2_000
