"""`room.control` through the room hub across two real daphne processes: a role change and a ban
given on one process reach the fan's sockets on both, in order with the room's events, while the
sockets hold no subscription on the channel layer."""

import asyncio
import json

import pytest
import redis
from django.conf import settings

from tests.conftest import requires_postgres, requires_redis
from tests.rooms.conftest import session_cookie
from tests.rooms.test_hub_room_daphne import _connect, _read_until, hub_servers  # noqa: F401

pytestmark = [requires_postgres, requires_redis, pytest.mark.django_db(transaction=True)]


def _subscribers(channel: str) -> int:
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        return dict(client.pubsub_numsub(channel))[channel.encode()]
    finally:
        client.close()


def test_role_change_and_ban_reach_the_fan_on_every_process(
    hub_servers,  # noqa: F811
    room,
    owner,
    make_user,
):
    bea, cid = make_user("bea"), make_user("cid")
    ca, cb, cc = (session_cookie(u).decode() for u in (owner, bea, cid))
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    pubsub_layer = settings.CHANNEL_LAYERS["default"]["BACKEND"].endswith("RedisPubSubChannelLayer")
    first, second = hub_servers

    async def body():
        owner_ws = await _connect(first, room.slug, ca)
        bea_here = await _connect(first, room.slug, cb)
        bea_there = await _connect(second, room.slug, cb)
        cid_there = await _connect(second, room.slug, cc)
        socks = [owner_ws, bea_here, bea_there, cid_there]
        seen = [[] for _ in socks]
        for ws, log in zip(socks, seen, strict=True):
            await _read_until(ws, log, "snapshot")
        # One hub subscription per process; with RedisPubSubChannelLayer a socket on the room
        # group would be a subscriber of the group's channel: there is none.
        subscribers = await asyncio.to_thread(_subscribers, f"{prefix}.hub.room.{room.id}")
        on_group = await asyncio.to_thread(_subscribers, f"{prefix}__group__room.{room.id}")

        await owner_ws.send(json.dumps({"type": "mod.role", "username": "bea", "role": "dj"}))
        roles = [
            (await _read_until(ws, seen[i], "you.updated"))["you"]["role"]
            for i, ws in ((1, bea_here), (2, bea_there))
        ]

        await owner_ws.send(json.dumps({"type": "chat.send", "text": "last words"}))
        await owner_ws.send(json.dumps({"type": "mod.ban", "username": "bea"}))
        codes = []
        for i, ws in ((1, bea_here), (2, bea_there)):
            await _read_until(ws, seen[i], "error", lambda f: f["code"] == "banned")
            try:
                while True:
                    seen[i].append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            except Exception:  # noqa: S110 - ConnectionClosed ends the loop
                pass
            codes.append(ws.close_code)
        # The bystander on the second process stays, sees the ban as an event and nothing else.
        await _read_until(cid_there, seen[3], "moderation", lambda f: f["action"] == "ban")
        await cid_there.send(json.dumps({"type": "chat.send", "text": "still here"}))
        await _read_until(cid_there, seen[3], "chat.message")
        for ws in (owner_ws, cid_there):
            await ws.close()
        return subscribers, on_group, roles, codes, seen

    subscribers, on_group, roles, codes, seen = asyncio.run(body())
    assert subscribers == 2
    if pubsub_layer:
        assert on_group == 0
    assert roles == ["dj", "dj"]
    assert codes == [4403, 4403]
    for log in (seen[1], seen[2]):
        kinds = [f["type"] for f in log]
        chat = next(
            i
            for i, f in enumerate(log)
            if f["type"] == "chat.message" and f["message"]["text"] == "last words"
        )
        assert chat < kinds.index("error")
        assert "room.control" not in kinds
    cid_kinds = [f["type"] for f in seen[3]]
    assert "error" not in cid_kinds and "you.updated" not in cid_kinds
    assert "room.control" not in cid_kinds
