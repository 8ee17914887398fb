"""Two fans in one room see each other's adds, votes, chat and moderation, live."""

import pytest
from asgiref.sync import async_to_sync

from rooms.models import ChatMessage, ModerationAction, QueueEntry, Sanction, Vote
from tests.rooms.conftest import join, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def test_snapshot_has_the_agreed_shape(room, owner, tracks):
    cookie = session_cookie(owner)

    async def body():
        a = await join(room.slug, cookie)
        await a.close()
        return a.snapshot

    snap = async_to_sync(body)()
    assert snap["type"] == "snapshot"
    assert isinstance(snap["seq"], int) and isinstance(snap["server_time"], int)
    assert set(snap) >= {
        "room",
        "now_playing",
        "queue",
        "listeners",
        "djs",
        "chat",
        "history",
        "premiere",
        "you",
    }
    assert snap["room"]["slug"] == room.slug
    assert set(snap["room"]) >= {"theme", "links", "rules", "is_official", "label"}
    assert snap["now_playing"] is None and snap["queue"] == []
    assert snap["you"]["username"] == "olive" and snap["you"]["role"] == "owner"
    assert "moderate" in snap["you"]["permissions"]


def test_two_fans_see_adds_votes_and_chat(room, owner, make_user, tracks):
    bea = make_user("bea")
    ca, cb = session_cookie(owner), session_cookie(bea)

    async def body():
        a = await join(room.slug, ca)
        b = await join(room.slug, cb)
        # The first add starts playback at once; the second waits in the queue.
        ack = await a.request({"type": "queue.add", "track_id": tracks[0].id})
        assert ack["type"] == "ack", ack
        playing = await b.expect("now_playing")
        assert playing["now_playing"]["track"]["id"] == tracks[0].id
        assert playing["now_playing"]["started_at"] > a.snapshot["server_time"]
        ack = await a.request({"type": "queue.add", "track_id": tracks[1].id})
        queued = await b.expect("queue.updated", where=lambda f: f["queue"])
        assert [e["track"]["id"] for e in queued["queue"]] == [tracks[1].id]
        assert queued["queue"][0]["added_by"] == "olive"
        second = ack["entry_id"]

        ack = await b.request({"type": "queue.add", "track_id": tracks[2].id})
        third = ack["entry_id"]
        await a.expect("queue.updated", where=lambda f: len(f["queue"]) == 2)
        # Bea upvotes her own entry past Olive's: the queue reorders for both.
        ack = await b.request({"type": "vote", "entry_id": third, "value": 1})
        assert ack["value"] == 1
        update = await a.expect("queue.updated")
        assert [e["entry_id"] for e in update["queue"]] == [third, second]
        assert update["queue"][0]["up"] == 1

        await b.send({"type": "chat.send", "text": "<b>hi</b> & welcome"})
        msg = await a.expect("chat.message")
        assert msg["message"]["text"] == "<b>hi</b> & welcome"
        assert msg["message"]["user"] == "bea"
        await a.close()
        await b.close()

    async_to_sync(body)()
    assert QueueEntry.objects.filter(room=room).count() == 3
    assert Vote.objects.get().value == 1
    assert ChatMessage.objects.get().text == "<b>hi</b> & welcome"


def test_events_carry_increasing_seq_and_sync_returns_a_snapshot(room, owner, tracks):
    cookie = session_cookie(owner)

    async def body():
        a = await join(room.slug, cookie)
        start = a.snapshot["seq"]
        await a.send({"type": "chat.send", "text": "one"})
        first = await a.expect("chat.message")
        await a.send({"type": "chat.send", "text": "two"})
        second = await a.expect("chat.message")
        assert start < first["seq"] < second["seq"]
        # A client that saw a gap asks again and gets the whole room, numbered.
        await a.send({"type": "sync"})
        snap = await a.expect("snapshot")
        assert snap["seq"] >= second["seq"]
        assert [m["text"] for m in snap["chat"]] == ["one", "two"]
        await a.close()

    async_to_sync(body)()


def test_moderation_is_seen_by_everyone_and_logged(room, owner, make_user, tracks):
    bea = make_user("bea")
    ca, cb = session_cookie(owner), session_cookie(bea)

    async def body():
        a = await join(room.slug, ca)
        b = await join(room.slug, cb)
        await b.send({"type": "chat.send", "text": "spam"})
        msg = await a.expect("chat.message")
        ack = await a.request({"type": "mod.delete_message", "message_id": msg["message"]["id"]})
        assert ack["type"] == "ack", ack
        deleted = await b.expect("chat.deleted")
        assert deleted["id"] == msg["message"]["id"]

        await b.request({"type": "queue.add", "track_id": tracks[0].id})
        await b.request({"type": "queue.add", "track_id": tracks[1].id})
        queued = await a.expect("queue.updated", where=lambda f: f["queue"])
        entry_id = queued["queue"][0]["entry_id"]
        ack = await a.request({"type": "mod.remove", "entry_id": entry_id})
        assert ack["type"] == "ack", ack
        # b's own adds may still be on their way: wait for the queue the removal leaves.
        update = await b.expect("queue.updated", where=lambda f: f["queue"] == [])
        assert update["queue"] == []

        ack = await a.request({"type": "mod.skip"})
        assert ack["type"] == "ack", ack
        # Autofill replays the room's history, as a new entry.
        after = await b.expect("now_playing")
        assert after["now_playing"]["entry_id"] != ack["entry_id"]
        assert after["now_playing"]["track"]["id"] == tracks[0].id

        ack = await a.request({"type": "mod.mute", "username": "bea", "minutes": 5})
        assert ack["type"] == "ack", ack
        seen = await b.expect("moderation", action="mute")
        assert seen["target"] == "bea"
        you = await b.expect("you.updated")
        assert you["you"]["muted"] is True and "chat" not in you["you"]["permissions"]
        err = await b.request({"type": "chat.send", "text": "let me talk"})
        assert err["code"] == "muted"

        ack = await a.request({"type": "mod.ban", "username": "bea"})
        assert ack["type"] == "ack", ack
        kicked = await b.expect("error", code="banned")
        assert kicked["code"] == "banned"
        assert (await b.comm.receive_output(timeout=2))["type"] == "websocket.close"
        await a.close()

    async_to_sync(body)()
    actions = set(ModerationAction.objects.values_list("action", flat=True))
    assert actions == {"delete_message", "remove_entry", "skip", "mute", "ban"}
    assert ChatMessage.objects.get().deleted_at is not None
    assert set(Sanction.objects.values_list("kind", flat=True)) == {"mute", "ban"}
