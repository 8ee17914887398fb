"""GET /rooms/<slug>/events/: the room's stream over server-sent events."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from rooms import sse
from rooms.models import ListeningSession, Room, Sanction
from rooms.services import mod_ban, mod_mute, queue_add
from tests.rooms.conftest import join, session_cookie
from tests.rooms.test_fallback_kit import EventStream, open_stream

pytestmark = pytest.mark.django_db(transaction=True)


def open_sessions(room) -> int:
    return ListeningSession.objects.filter(room=room, ended_at__isnull=True).count()


def test_stream_sends_snapshot_then_another_clients_chat(room, owner, make_user, tracks):
    bea = make_user("bea")
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    bea_cookie, owner_cookie = session_cookie(bea), session_cookie(owner)

    async def body():
        stream = EventStream(f"/rooms/{room.slug}/events/", bea_cookie)
        assert await stream.start() == 200
        headers = dict(stream.headers)
        info = await stream.frame("stream")
        snapshot = await stream.frame("snapshot")
        sessions_while_open = await sync_count(room)
        other = await join(room.slug, owner_cookie)
        ack = await other.request({"type": "chat.send", "text": "hello over http"})
        chat = await stream.frame("chat.message")
        await other.close()
        await stream.close()
        return headers, info, snapshot, sessions_while_open, ack, chat

    headers, info, snapshot, sessions_while_open, ack, chat = async_to_sync(body)()
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["cache-control"] == "no-cache"
    assert headers["x-accel-buffering"] == "no"
    assert info["stream"] and info["csrf"]
    assert snapshot["you"]["username"] == "bea"
    assert snapshot["now_playing"]["track"]["id"] == tracks[0].id
    assert snapshot["_id"] == str(snapshot["seq"])
    assert sessions_while_open == 1
    assert chat["message"]["text"] == "hello over http"
    assert chat["message"]["id"] == ack["message_id"]
    assert chat["seq"] > snapshot["seq"] and chat["_id"] == str(chat["seq"])
    # The client went away: its listening session is closed.
    assert open_sessions(room) == 0
    assert ListeningSession.objects.get(room=room, user=bea).ended_at is not None


async def sync_count(room) -> int:
    return await database_sync_to_async(open_sessions)(room)


def test_reconnect_with_last_event_id_starts_from_a_fresh_snapshot(room, owner, tracks):
    cookie = session_cookie(owner)

    async def body():
        first = await open_stream(room.slug, cookie)
        await first.close()
        await database_sync_to_async(queue_add)(room=room, user=owner, track_id=tracks[1].id)
        again = EventStream(
            f"/rooms/{room.slug}/events/",
            cookie,
            headers={"Last-Event-ID": str(first.snapshot["seq"])},
        )
        await again.start()
        await again.frame("stream")
        snapshot = await again.frame("snapshot")
        await again.close()
        return first.snapshot, snapshot

    old, new = async_to_sync(body)()
    assert new["seq"] > old["seq"]
    assert new["now_playing"]["track"]["id"] == tracks[1].id


def test_heartbeat_comments_keep_the_stream_alive(room, owner, monkeypatch):
    monkeypatch.setattr(sse, "HEARTBEAT_S", 0.1)
    cookie = session_cookie(owner)

    async def body():
        stream = await open_stream(room.slug, cookie)
        blocks = [await stream.block(timeout=3) for _ in range(2)]
        await stream.close()
        return blocks

    blocks = async_to_sync(body)()
    assert [b["comment"] for b in blocks] == ["keep-alive", "keep-alive"]
    assert all(b["data"] is None for b in blocks)


def test_personal_frames_reach_the_stream_and_a_ban_ends_it(room, owner, make_user):
    bea = make_user("bea")
    cookie = session_cookie(bea)

    async def body():
        stream = await open_stream(room.slug, cookie)
        await database_sync_to_async(mod_mute)(room=room, actor=owner, username="bea")
        muted = await stream.frame("you.updated")
        await database_sync_to_async(mod_ban)(room=room, actor=owner, username="bea")
        banned = await stream.frame("error")
        close = await stream.frame("close")
        ended = await stream.block(timeout=3)
        await stream.close()
        return muted, banned, close, ended

    muted, banned, close, ended = async_to_sync(body)()
    assert muted["you"]["muted"] is True and "chat" not in muted["you"]["permissions"]
    assert banned["code"] == "banned"
    assert close["code"] == 4403
    assert ended is None
    assert open_sessions(room) == 0


def test_private_room_refused_without_invite(owner, make_user):
    from rooms.services import room_create

    private = room_create(
        owner=owner, name="Back Room", description="", genres=[], visibility="private"
    )
    bea = make_user("bea")
    cookie = session_cookie(bea)

    async def body():
        refused = EventStream(f"/rooms/{private.slug}/events/", cookie)
        status = await refused.start()
        await refused.block(timeout=3)
        await refused.close()
        invited = await open_stream(private.slug, cookie, invite=private.invite_token)
        await invited.close()
        missing = EventStream("/rooms/no-such-room/events/")
        missing_status = await missing.start()
        await missing.close()
        return status, refused.body, invited.snapshot, missing_status

    status, body_bytes, snapshot, missing_status = async_to_sync(body)()
    assert Room.objects.get(pk=private.pk).visibility == Room.Visibility.PRIVATE
    assert status == 403
    assert b'"invite_required"' in body_bytes
    assert snapshot["room"]["slug"] == private.slug
    assert missing_status == 404
    assert ListeningSession.objects.filter(room=private, ended_at__isnull=True).count() == 0


def test_banned_fan_refused(room, owner, make_user):
    bea = make_user("bea")
    mod_ban(room=room, actor=owner, username="bea")
    assert Sanction.objects.filter(room=room, user=bea).exists()
    cookie = session_cookie(bea)

    async def body():
        stream = EventStream(f"/rooms/{room.slug}/events/", cookie)
        status = await stream.start()
        await stream.block(timeout=3)
        await stream.close()
        return status, stream.body

    status, body_bytes = async_to_sync(body)()
    assert status == 403
    assert b'"banned"' in body_bytes
    assert not ListeningSession.objects.filter(room=room, user=bea).exists()
