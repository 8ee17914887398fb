"""POST /rooms/<slug>/actions/: one client frame in, the socket's answer frames out."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.conf import settings

from rooms.models import ChatMessage, ListeningSession
from rooms.services import mod_ban, queue_add, room_create
from tests.rooms.conftest import session_cookie
from tests.rooms.test_consumer_errors import db_state
from tests.rooms.test_fallback_kit import http_client, open_stream, post_frame

pytestmark = pytest.mark.django_db(transaction=True)


def post(cookie, slug, frames, **kwargs):
    """POST each frame with one client; the (status, json) answers."""

    async def body():
        client = http_client(cookie, csrf=kwargs.pop("csrf", True))
        answers = []
        for frame in frames:
            response = await post_frame(client, slug, frame, **kwargs)
            content = response.json() if response["Content-Type"] == "application/json" else None
            answers.append((response.status_code, content))
        return answers

    return async_to_sync(body)()


def test_csrf_is_required(room, owner):
    cookie = session_cookie(owner)
    frame = {"type": "chat.send", "text": "forged"}
    no_header = post(cookie, room.slug, [frame], token=False)
    no_cookie = post(cookie, room.slug, [frame], token=False, csrf=False)
    assert [status for status, _ in no_header + no_cookie] == [403, 403]
    assert not ChatMessage.objects.exists()
    [(status, answer)] = post(cookie, room.slug, [frame])
    assert status == 200
    [ack] = answer["frames"]
    assert ack["type"] == "ack" and ack["request_type"] == "chat.send"
    assert ChatMessage.objects.get(pk=ack["message_id"]).text == "forged"


def test_a_foreign_origin_is_refused(room, owner):
    cookie = session_cookie(owner)

    async def body():
        client = http_client(cookie)
        token = client.cookies[settings.CSRF_COOKIE_NAME].value
        return await client.post(
            f"/rooms/{room.slug}/actions/",
            data='{"type": "chat.send", "text": "from elsewhere"}',
            content_type="application/json",
            headers={"X-CSRFToken": token, "Origin": "https://evil.example"},
        )

    assert async_to_sync(body)().status_code == 403
    assert not ChatMessage.objects.exists()


def test_errors_are_error_frames_and_change_nothing(room, owner, make_user, tracks):
    bea = make_user("bea")
    queue_add(room=room, user=bea, track_id=tracks[0].id)
    cases = [
        ("not json", "bad_frame", None),
        ("[1, 2]", "bad_frame", None),
        (b"\xff\xfe", "bad_frame", None),
        ({"type": "queue.explode"}, "unknown_type", None),
        ({"type": "chat.send", "text": "x" * 5000}, "frame_too_large", None),
        ({"type": "queue.add", "track_id": "12"}, "invalid", "queue.add"),
        ({"type": "chat.send", "text": "hi", "extra": 1}, "invalid", "chat.send"),
        ({"type": "queue.add", "track_id": 999999, "ref": 7}, "not_found", "queue.add"),
        ({"type": "mod.skip"}, "forbidden", "mod.skip"),
        ({"type": "chat.send", "text": "   "}, "invalid", "chat.send"),
        ({"type": "audio.state", "playing": True}, "invalid", "audio.state"),
    ]
    before = db_state()
    answers = post(session_cookie(bea), room.slug, [c[0] for c in cases])
    assert db_state() == before
    for (frame, code, request_type), (status, answer) in zip(cases, answers, strict=True):
        assert status == 200, frame
        [error] = answer["frames"]
        assert error["type"] == "error" and error["code"] == code, (frame, error)
        assert error["message"]
        if request_type:
            assert error["request_type"] == request_type
    assert answers[7][1]["frames"][0]["ref"] == 7


def test_anonymous_may_only_listen(room):
    answers = post(None, room.slug, [{"type": "chat.send", "text": "hi"}])
    assert answers[0][1]["frames"][0]["code"] == "auth_required"
    assert not ChatMessage.objects.exists()


def test_time_ping_answers_with_the_server_clock(room):
    from rooms.selectors import now_ms

    before = now_ms()
    [(status, answer)] = post(None, room.slug, [{"type": "time.ping", "t0": 1234.5}])
    after = now_ms()
    [pong] = answer["frames"]
    assert status == 200
    assert pong["type"] == "time.pong" and pong["t0"] == 1234.5
    assert before <= pong["server_time"] <= after


def test_sync_answers_with_a_snapshot(room, owner, tracks):
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    [(_, answer)] = post(session_cookie(owner), room.slug, [{"type": "sync"}])
    [snapshot] = answer["frames"]
    assert snapshot["type"] == "snapshot"
    assert snapshot["you"]["role"] == "owner"
    assert snapshot["now_playing"]["track"]["id"] == tracks[0].id


def test_rate_limits_as_on_the_socket(room, owner):
    frames = [{"type": "chat.send", "text": f"line {i}"} for i in range(8)]
    answers = post(session_cookie(owner), room.slug, frames)
    kinds = [a[1]["frames"][0].get("code", "ack") for a in answers]
    assert kinds[:5] == ["ack"] * 5
    assert "rate_limited" in kinds[5:]
    assert ChatMessage.objects.count() == kinds.count("ack")


def test_audio_state_reports_for_the_fans_own_stream(room, owner, make_user, tracks):
    bea = make_user("bea")
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    bea_cookie, owner_cookie = session_cookie(bea), session_cookie(owner)

    async def body():
        stream = await open_stream(room.slug, bea_cookie)
        token = stream.info["stream"]
        mine = http_client(bea_cookie)
        ok = await post_frame(
            mine, room.slug, {"type": "audio.state", "playing": True}, stream=token
        )
        forged = await post_frame(
            mine, room.slug, {"type": "audio.state", "playing": False}, stream=token + "x"
        )
        # Another fan cannot report through bea's stream.
        theirs = await post_frame(
            http_client(owner_cookie),
            room.slug,
            {"type": "audio.state", "playing": False},
            stream=token,
        )
        active = await database_sync_to_async(
            lambda: ListeningSession.objects.get(room=room, user=bea).audio_active
        )()
        await stream.close()
        return ok.json(), forged.json(), theirs.json(), active

    ok, forged, theirs, active = async_to_sync(body)()
    assert ok == {"frames": []}
    assert forged["frames"][0]["code"] == "invalid"
    assert theirs["frames"][0]["code"] == "invalid"
    assert active is True


def test_private_room_and_banned_fan_refused(owner, make_user):
    private = room_create(
        owner=owner, name="Back Room", description="", genres=[], visibility="private"
    )
    bea = make_user("bea")
    mod_ban(room=private, actor=owner, username="bea")
    ping = {"type": "time.ping", "t0": 1}
    [(status, answer)] = post(session_cookie(make_user("cy")), private.slug, [ping])
    assert status == 403 and answer["frames"][0]["code"] == "invite_required"
    query = f"?invite={private.invite_token}"
    [(status, answer)] = post(session_cookie(bea), private.slug, [ping], query=query)
    assert status == 403 and answer["frames"][0]["code"] == "banned"
    [(status, answer)] = post(session_cookie(make_user("dee")), private.slug, [ping], query=query)
    assert status == 200 and answer["frames"][0]["type"] == "time.pong"
    [(status, answer)] = post(None, "no-such-room", [ping])
    assert status == 404 and answer["frames"][0]["code"] == "not_found"


def test_only_post(room, client):
    assert client.get(f"/rooms/{room.slug}/actions/").status_code == 405
