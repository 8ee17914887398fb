"""Every refusal answers with an `error` frame, keeps the socket open and changes nothing."""

import json

import pytest
from asgiref.sync import async_to_sync
from django.apps import apps

from rooms.models import Room, Sanction
from rooms.services import mod_ban, mod_mute, queue_add
from tests.rooms.conftest import join, playing_id, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def db_state() -> dict:
    """Row counts of every rooms table plus the queue's statuses: what a refusal must not touch."""
    state = {m.__name__: m.objects.count() for m in apps.get_app_config("rooms").get_models()}
    entry = apps.get_model("rooms", "QueueEntry")
    state["statuses"] = sorted(entry.objects.values_list("id", "status", "upvotes", "downvotes"))
    state["playback"] = list(
        apps.get_model("rooms", "Playback").objects.values_list("current_entry_id", "seq")
    )
    return state


def run_refusals(slug, cookie, cases):
    """Send each frame; collect the answers, then check the socket still works."""

    async def body():
        c = await join(slug, cookie)
        answers = []
        for frame in cases:
            await c.send(frame)
            answers.append(await c.expect("error"))
        pong = await c.request_pong()
        await c.close()
        return answers, pong

    return async_to_sync(body)()


@pytest.fixture(autouse=True)
def _pong_helper():
    from tests.rooms.conftest import Client

    async def request_pong(self):
        await self.send({"type": "time.ping", "t0": 123.5})
        return await self.expect("time.pong")

    Client.request_pong = request_pong


def test_malformed_frames(room, owner, tracks):
    cookie = session_cookie(owner)
    cases = [
        ("not json", "bad_frame", None),
        ("[1, 2]", "bad_frame", None),
        ('"text"', "bad_frame", None),
        ({"no": "type"}, "unknown_type", None),
        ({"type": "queue.explode"}, "unknown_type", None),
        ({"type": "chat.send", "text": "x" * 5000}, "frame_too_large", None),
        ({"type": "queue.add"}, "invalid", "queue.add"),
        ({"type": "queue.add", "track_id": "12"}, "invalid", "queue.add"),
        ({"type": "queue.add", "track_id": True}, "invalid", "queue.add"),
        ({"type": "vote", "entry_id": 1, "value": 2}, "invalid", "vote"),
        ({"type": "chat.send", "text": 5}, "invalid", "chat.send"),
        ({"type": "chat.send", "text": "hi", "extra": 1}, "invalid", "chat.send"),
        ({"type": "time.ping", "t0": "now"}, "invalid", "time.ping"),
        ({"type": "audio.state", "playing": "yes"}, "invalid", "audio.state"),
    ]
    before = db_state()
    answers, pong = run_refusals(room.slug, cookie, [c[0] for c in cases])
    for (frame, code, request_type), answer in zip(cases, answers, strict=True):
        assert answer["code"] == code, (frame, answer)
        assert answer["message"]
        if request_type:
            assert answer["request_type"] == request_type
    assert pong["t0"] == 123.5 and isinstance(pong["server_time"], int)
    after = db_state()
    # Connecting and leaving opens and closes one listening session, nothing else.
    after["ListeningSession"] -= 1
    assert after == before


def test_rule_refusals(room, owner, make_user, make_track, make_artist, tracks):
    bea = make_user("bea")
    silent = make_track("No audio yet", playable=False)
    queue_add(room=room, user=bea, track_id=tracks[0].id)  # now playing
    queue_add(room=room, user=bea, track_id=tracks[1].id)
    room.max_queued_per_user = 1
    room.save()
    cases = [
        ({"type": "queue.add", "track_id": 999999}, "not_found"),
        ({"type": "queue.add", "track_id": silent.id}, "not_playable"),
        ({"type": "queue.add", "track_id": tracks[1].id}, "queue_limit"),
        ({"type": "vote", "entry_id": 999999, "value": 1}, "not_found"),
        ({"type": "chat.send", "text": "   "}, "invalid"),
        ({"type": "chat.send", "text": "y" * 301}, "too_long"),
        ({"type": "mod.skip"}, "forbidden"),
        ({"type": "mod.ban", "username": "olive"}, "forbidden"),
        ({"type": "mod.delete_message", "message_id": 1}, "forbidden"),
        ({"type": "mod.settings", "changes": {"name": "Mine"}}, "forbidden"),
        ({"type": "dj.join"}, "wrong_mode"),
    ]
    before = db_state()
    answers, _ = run_refusals(room.slug, session_cookie(bea), [c[0] for c in cases])
    assert [a["code"] for a in answers] == [c[1] for c in cases]
    after = db_state()
    after["ListeningSession"] -= 1
    assert after == before


def test_repeat_and_allowed_artist_rules(room, owner, make_track, make_artist, tracks):
    from rooms.playback import room_advance

    queue_add(room=room, user=owner, track_id=tracks[0].id)
    room_advance(room_id=room.id, expected_entry_id=playing_id(room))
    allowed = make_artist("Allowed One")
    other = make_track("Other artist")
    room.allowed_artists.add(allowed)
    mine = make_track("Allowed track")
    mine.artists.add(allowed)
    cases = [
        ({"type": "queue.add", "track_id": tracks[0].id}, "not_allowed"),
        ({"type": "queue.add", "track_id": other.id}, "not_allowed"),
    ]
    answers, _ = run_refusals(room.slug, session_cookie(owner), [c[0] for c in cases])
    assert [a["code"] for a in answers] == ["not_allowed", "not_allowed"]
    room.allowed_artists.clear()
    cookie = session_cookie(owner)

    async def body():
        c = await join(room.slug, cookie)
        # Autofill brought tracks[0] back, so it is playing; a fresh one is in the window.
        err = await c.request({"type": "queue.add", "track_id": tracks[0].id})
        ok = await c.request({"type": "queue.add", "track_id": mine.id})
        await c.close()
        return err, ok

    err, ok = async_to_sync(body)()
    assert err["code"] in ("already_queued", "recently_played")
    assert ok["type"] == "ack"


def test_recently_played_is_refused(room, owner, tracks):
    from rooms.playback import room_advance

    room.autofill = False
    room.save()
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    room_advance(room_id=room.id, expected_entry_id=playing_id(room))
    answers, _ = run_refusals(
        room.slug, session_cookie(owner), [{"type": "queue.add", "track_id": tracks[0].id}]
    )
    assert answers[0]["code"] == "recently_played"


def test_anonymous_may_listen_but_not_act(room, tracks):
    cases = [
        {"type": "queue.add", "track_id": tracks[0].id},
        {"type": "vote", "entry_id": 1, "value": 1},
        {"type": "chat.send", "text": "hi"},
        {"type": "skip.vote"},
        {"type": "favourite.add"},
        {"type": "mod.skip"},
    ]
    before = db_state()

    async def body():
        c = await join(room.slug, None)
        assert c.snapshot["you"]["role"] == "anonymous" and c.snapshot["you"]["permissions"] == []
        answers = []
        for frame in cases:
            answers.append(await c.request(frame))
        await c.send({"type": "sync"})
        snap = await c.expect("snapshot")
        await c.close()
        return answers, snap

    answers, snap = async_to_sync(body)()
    assert {a["code"] for a in answers} == {"auth_required"}
    assert snap["type"] == "snapshot"
    after = db_state()
    after["ListeningSession"] -= 1
    assert after == before


def test_muted_cannot_chat_until_unmuted(room, owner, make_user):
    bea = make_user("bea")
    mod_mute(room=room, actor=owner, username="bea", minutes=5)
    cookie = session_cookie(bea)

    async def body():
        c = await join(room.slug, cookie)
        assert c.snapshot["you"]["muted"] is True
        err = await c.request({"type": "chat.send", "text": "hello?"})
        await c.close()
        return err

    assert async_to_sync(body)()["code"] == "muted"
    # A mute that has run out no longer applies.
    Sanction.objects.update(until="2000-01-01T00:00:00Z")

    async def again():
        c = await join(room.slug, cookie)
        ok = await c.request({"type": "chat.send", "text": "hello!"})
        await c.close()
        return ok

    assert async_to_sync(again)()["type"] == "ack"


def test_banned_cannot_connect(room, owner, make_user):
    bea = make_user("bea")
    mod_ban(room=room, actor=owner, username="bea", minutes=60)
    cookie = session_cookie(bea)

    async def body():
        c = await join(room.slug, cookie, expect_snapshot=False)
        first = json.loads(await c.comm.receive_from())
        closed = await c.comm.receive_output()
        return c.connected, first, closed

    connected, first, closed = async_to_sync(body)()
    assert first["type"] == "error" and first["code"] == "banned"
    assert closed == {"type": "websocket.close", "code": 4403}
    assert not apps.get_model("rooms", "ListeningSession").objects.exists()


def test_private_room_needs_invite_or_role(owner, make_user):
    from rooms.services import room_create

    private = room_create(owner=owner, name="Secret", visibility=Room.Visibility.PRIVATE)
    bea = make_user("bea")
    bea_cookie, owner_cookie = session_cookie(bea), session_cookie(owner)

    async def body():
        refused = await join(private.slug, bea_cookie, expect_snapshot=False)
        first = json.loads(await refused.comm.receive_from())
        closed = await refused.comm.receive_output()
        wrong = await join(private.slug, None, invite="nope", expect_snapshot=False)
        await wrong.comm.receive_from()
        wrong_closed = await wrong.comm.receive_output()
        invited = await join(private.slug, None, invite=private.invite_token)
        await invited.close()
        owner_in = await join(private.slug, owner_cookie)
        await owner_in.close()
        return first, closed, wrong_closed, invited.snapshot, owner_in.snapshot

    first, closed, wrong_closed, invited, owner_snap = async_to_sync(body)()
    assert first["code"] == "invite_required" and closed["code"] == 4401
    assert wrong_closed["code"] == 4401
    assert invited["room"]["slug"] == private.slug
    assert owner_snap["you"]["role"] == "owner"


def test_unknown_room_closes_with_4404(db):
    async def body():
        c = await join("no-such-room", None, expect_snapshot=False)
        first = json.loads(await c.comm.receive_from())
        return first, await c.comm.receive_output()

    first, closed = async_to_sync(body)()
    assert first["code"] == "not_found" and closed["code"] == 4404


def test_foreign_origin_is_refused(room):
    async def body():
        c = await join(room.slug, None, origin=b"https://evil.example", expect_snapshot=False)
        return c.connected

    assert async_to_sync(body)() is False
    assert not apps.get_model("rooms", "ListeningSession").objects.exists()
