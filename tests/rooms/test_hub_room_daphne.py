"""Two real daphne processes serving the room consumer on the room hub, through Redis."""

import asyncio
import json
import socket

import pytest
from django.db import connection

from rooms.hub import hub_publish
from rooms.models import Playback
from tests.conftest import requires_postgres, requires_redis
from tests.rooms.conftest import session_cookie
from tests.rooms.daphne import daphne_servers

pytestmark = [requires_postgres, requires_redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def hub_servers():
    with daphne_servers(2, ROOM_EVENTS_VIA_HUB="1") as ports:
        yield ports


async def _connect(port, slug, cookie, **kwargs):
    from websockets.asyncio.client import connect

    return await connect(
        f"ws://127.0.0.1:{port}/ws/rooms/{slug}/",
        additional_headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"},
        open_timeout=10,
        **kwargs,
    )


async def _read_until(ws, seen, frame_type, where=lambda f: True, timeout=10):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=max(left, 0.01)))
        seen.append(frame)
        if frame["type"] == frame_type and where(frame):
            return frame


def test_two_processes_share_a_room_through_the_hub_in_seq_order(
    hub_servers, room, owner, make_user, tracks
):
    bea = make_user("bea")
    cookies = [session_cookie(owner).decode(), session_cookie(bea).decode()]

    async def body():
        socks = [
            await _connect(port, room.slug, cookie)
            for port, cookie in zip(hub_servers, cookies, strict=True)
        ]
        seen = [[], []]
        for ws, log in zip(socks, seen, strict=True):
            await _read_until(ws, log, "snapshot")
        a, b = socks
        await a.send(json.dumps({"type": "queue.add", "track_id": tracks[0].id}))
        for ws, log in zip(socks, seen, strict=True):
            await _read_until(ws, log, "now_playing", lambda f: f["now_playing"])
        await b.send(json.dumps({"type": "chat.send", "text": "from the other process"}))
        for ws, log in zip(socks, seen, strict=True):
            await _read_until(ws, log, "chat.message")
        for ws in socks:
            await ws.close()
        return seen

    seen = asyncio.run(body())
    for log in seen:
        start = log[0]["seq"]
        seqs = [f["seq"] for f in log[1:] if isinstance(f.get("seq"), int)]
        assert seqs == list(range(start + 1, start + 1 + len(seqs)))
    chats = [next(f for f in log if f["type"] == "chat.message") for log in seen]
    playing = [next(f for f in log if f["type"] == "now_playing") for log in seen]
    assert chats[0] == chats[1] and chats[0]["message"]["text"] == "from the other process"
    assert playing[0] == playing[1]
    assert playing[0]["now_playing"]["track"]["id"] == tracks[0].id


def test_a_stalled_reader_is_dropped_while_another_keeps_receiving(hub_servers, room, owner):
    from websockets.exceptions import ConnectionClosed

    cookie = session_cookie(owner).decode()
    port = hub_servers[0]
    frames, size = 600, 16 * 1024  # ~10 MB: more than the loopback buffers hold

    async def body():
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", port))
        slow = await _connect(port, room.slug, cookie, sock=raw, max_queue=1)
        fast = await _connect(port, room.slug, cookie)
        first = [json.loads(await slow.recv()), json.loads(await fast.recv())]
        start = max(s["seq"] for s in first)
        await asyncio.sleep(0.5)  # the joins' listener-count events go out before ours
        base = await asyncio.to_thread(_seq_now, room.id)
        events = [
            {"type": "chat.deleted", "id": n, "pad": "x" * size, "seq": base + n}
            for n in range(1, frames + 1)
        ]
        publishing = asyncio.to_thread(_publish_all, room.id, events)

        async def read_fast():
            got = []
            while len(got) < frames:
                frame = json.loads(await asyncio.wait_for(fast.recv(), 20))
                if frame["type"] == "chat.deleted":
                    got.append(frame["seq"])
            return got

        got, _ = await asyncio.gather(read_fast(), publishing)
        slow_got, code = 0, "open"
        try:
            while True:
                await asyncio.wait_for(slow.recv(), 10)
                slow_got += 1
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
        await fast.close()
        again = await _connect(port, room.slug, cookie)
        snapshot = json.loads(await again.recv())
        await again.close()
        return start, base, got, slow_got, code, snapshot

    start, base, got, slow_got, code, snapshot = asyncio.run(body())
    assert got == [base + n for n in range(1, frames + 1)]  # the room went on, in order
    assert slow_got < frames  # the stalled reader was let go, not merely late
    # 4008 when the client could still read the close frame; 1006 (no code) when daphne gave up
    # waiting for it. Either way the client reconnects and resyncs from a snapshot.
    assert code in (4008, None)
    assert snapshot["type"] == "snapshot" and snapshot["seq"] >= start


def _seq_now(room_id: int) -> int:
    try:
        return Playback.objects.get(room_id=room_id).seq
    finally:
        connection.close()  # this worker thread's own connection would outlive the test


def _publish_all(room_id, events):
    for event in events:
        hub_publish(room_id=room_id, event=event)
