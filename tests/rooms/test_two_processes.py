"""Two real daphne processes serve one room through Redis: both sides see the same room."""

import asyncio
import json

import pytest

from tests.conftest import requires_postgres, requires_redis
from tests.rooms.conftest import session_cookie
from tests.rooms.daphne import daphne_servers

pytestmark = [requires_postgres, requires_redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_servers():
    with daphne_servers(2) as ports:
        yield ports


async def _expect(ws, frame_type, where=lambda f: True, timeout=10):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=max(left, 0.01)))
        if frame["type"] == frame_type and where(frame):
            return frame


def test_a_client_on_each_process_sees_the_same_room(two_servers, room, owner, make_user, tracks):
    from websockets.asyncio.client import connect

    bea = make_user("bea")
    cookies = [session_cookie(owner).decode(), session_cookie(bea).decode()]

    async def body():
        socks = []
        for port, cookie in zip(two_servers, cookies, strict=True):
            ws = await connect(
                f"ws://127.0.0.1:{port}/ws/rooms/{room.slug}/",
                additional_headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"},
                open_timeout=10,
            )
            socks.append(ws)
            await _expect(ws, "snapshot")
        a, b = socks
        await a.send(json.dumps({"type": "queue.add", "track_id": tracks[0].id}))
        seen = [await _expect(ws, "now_playing", lambda f: f["now_playing"]) for ws in socks]
        await b.send(json.dumps({"type": "chat.send", "text": "from the other process"}))
        chats = [await _expect(ws, "chat.message") for ws in socks]
        for ws in socks:
            await ws.close()
        return seen, chats

    seen, chats = asyncio.run(body())
    assert seen[0]["now_playing"] == seen[1]["now_playing"]
    assert seen[0]["seq"] == seen[1]["seq"]
    assert seen[0]["now_playing"]["track"]["id"] == tracks[0].id
    assert chats[0] == chats[1]
    assert chats[0]["message"]["text"] == "from the other process"
