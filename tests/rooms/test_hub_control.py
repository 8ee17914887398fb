"""`room.control` (bans, roles, room settings) with the hub on and off, in process.

On (the default) it travels the room hub with the events, and a room socket has no channel of
its own on the channel layer; off, both take the room group, as before the hub. Either way each
socket answers for its own fan and no client sees the instruction itself. Runs on whatever
DATABASE_URL / REDIS_URL say."""

import pytest
from asgiref.sync import async_to_sync

from rooms.consumers import RoomConsumer
from rooms.hub import current_hub
from tests.rooms.conftest import join, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=[True, False], ids=["hub", "group"])
def via_hub(request, settings):
    settings.ROOM_EVENTS_VIA_HUB = request.param
    return request.param


@pytest.fixture
def consumers(monkeypatch):
    """The RoomConsumer instances that connect during the test."""
    made = []
    connect = RoomConsumer.connect

    async def recording(self):
        made.append(self)
        await connect(self)

    monkeypatch.setattr(RoomConsumer, "connect", recording)
    return made


async def close_hub():
    hub = current_hub()
    if hub is not None:
        await hub.aclose()


def test_a_room_socket_has_a_layer_channel_only_without_the_hub(
    via_hub, room, owner, make_user, consumers
):
    cookie = session_cookie(owner)

    async def body():
        a = await join(room.slug, cookie)
        anon = await join(room.slug)
        await a.close()
        await anon.close()
        await close_hub()

    async_to_sync(body)()
    assert len(consumers) == 2
    for consumer in consumers:
        if via_hub:
            assert consumer.channel_layer is None
            # Still a distinct label per socket (listening session, anonymous rate limits).
            assert consumer.channel_name.startswith("hub!")
        else:
            assert consumer.channel_layer is not None
            assert "specific." in consumer.channel_name
    assert consumers[0].channel_name != consumers[1].channel_name


def test_ban_role_and_settings_reach_the_fan_after_the_events_before_them(
    via_hub, room, owner, make_user
):
    bea, cid = make_user("bea"), make_user("cid")
    ca, cb, cc = session_cookie(owner), session_cookie(bea), session_cookie(cid)

    async def body():
        a = await join(room.slug, ca)
        b = await join(room.slug, cb)
        c = await join(room.slug, cc)

        assert (await a.request({"type": "mod.role", "username": "bea", "role": "dj"}))[
            "type"
        ] == "ack"
        role = await b.expect("you.updated")
        changes = {"type": "mod.settings", "changes": {"pinned_message": "be kind"}}
        assert (await a.request(changes))["type"] == "ack"
        settings_b = await b.expect("you.updated")
        premiere_b = await b.expect("premiere")
        premiere_c = await c.expect("premiere")

        # A chat and the ban right behind it: bea reads the chat, then the ban, then the close.
        await a.send({"type": "chat.send", "text": "last words"})
        await a.send({"type": "mod.ban", "username": "bea"})
        banned = await b.expect("error", code="banned")
        closed = await b.comm.receive_output(timeout=3)
        await a.expect("moderation", action="ban")
        await c.expect("moderation", action="ban")
        await a.close()
        # Last: a receive that times out ends the communicator's application.
        cid_quiet = await c.silent("you.updated", wait=0.5)
        await close_hub()
        return role, settings_b, premiere_b, premiere_c, banned, closed, b.seen, c.seen, cid_quiet

    role, settings_b, premiere_b, premiere_c, banned, closed, seen_b, seen_c, cid_quiet = (
        async_to_sync(body)()
    )
    assert role["you"]["role"] == "dj"
    assert settings_b["you"]["role"] == "dj"
    assert premiere_b["premiere"] is None and premiere_c["premiere"] is None
    assert banned["code"] == "banned"
    assert closed == {"type": "websocket.close", "code": 4403}
    types_b = [f["type"] for f in seen_b]
    chat_at = next(
        i
        for i, f in enumerate(seen_b)
        if f["type"] == "chat.message" and f["message"]["text"] == "last words"
    )
    assert chat_at < types_b.index("error")
    # Only bea's own socket answered her role change and ban; nobody saw the instruction itself.
    assert cid_quiet
    # cid's one `you.updated` is the settings change's, which is for everyone.
    assert len([f for f in seen_c if f["type"] == "you.updated"]) == 1
    assert not any(f["type"] == "room.control" or "action" in f and "user_id" in f for f in seen_b)
    assert not any(f["type"] == "room.control" for f in seen_c)
