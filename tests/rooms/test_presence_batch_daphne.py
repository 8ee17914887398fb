"""Listener counts stay right across two real daphne processes with batched presence writes."""

import asyncio
import json

import pytest
from django.db import connection

from rooms.models import ListeningSession, Room
from tests.conftest import requires_postgres, requires_redis
from tests.rooms.conftest import session_cookie
from tests.rooms.test_hub_room_daphne import _connect, hub_servers  # noqa: F401 - a fixture

pytestmark = [requires_postgres, requires_redis, pytest.mark.django_db(transaction=True)]


async def _count_reaches(ws, want: dict, timeout: float = 10) -> dict:
    """Read `listeners` events until one says `want` (counts arrive coalesced, so skip others)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = None
    while True:
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError(f"listeners never reached {want}; last {last}")
        frame = json.loads(await asyncio.wait_for(ws.recv(), left))
        if frame["type"] == "listeners":
            last = frame["listeners"]
            if last == want:
                return last


def _stored_count(room_id: int) -> int:
    try:
        return Room.objects.values_list("listener_count", flat=True).get(pk=room_id)
    finally:
        connection.close()  # this worker thread's own connection would outlive the test


def test_people_are_counted_once_across_two_processes(hub_servers, room, owner, make_user):  # noqa: F811
    a_port, b_port = hub_servers
    bea = make_user("bea")
    olive, beas = session_cookie(owner).decode(), session_cookie(bea).decode()

    async def body():
        # Olive has a tab on each process; Bea one on B; six anonymous sockets without a
        # session (each its own listener), split between the processes.
        watcher = await _connect(b_port, room.slug, olive)
        assert json.loads(await watcher.recv())["type"] == "snapshot"
        on_a = [await _connect(a_port, room.slug, olive)]
        on_b = [await _connect(b_port, room.slug, beas)]
        anonymous = await asyncio.gather(
            *(_connect(port, room.slug, "") for port in (a_port, b_port) * 3)
        )
        on_a += anonymous[0::2]
        on_b += anonymous[1::2]
        everyone = await _count_reaches(watcher, {"count": 8, "users": ["bea", "olive"]})
        stored_all = await asyncio.to_thread(_stored_count, room.pk)
        # Process A's sockets leave: Olive is still here through her tab on B.
        await asyncio.gather(*(ws.close() for ws in on_a))
        after_a = await _count_reaches(watcher, {"count": 5, "users": ["bea", "olive"]})
        stored_after_a = await asyncio.to_thread(_stored_count, room.pk)
        await asyncio.gather(*(ws.close() for ws in on_b))
        alone = await _count_reaches(watcher, {"count": 1, "users": ["olive"]})
        await watcher.close()
        return everyone, stored_all, after_a, stored_after_a, alone

    everyone, stored_all, after_a, stored_after_a, alone = asyncio.run(body())
    assert everyone["count"] == 8 and after_a["count"] == 5 and alone["count"] == 1
    assert stored_all == 8 and stored_after_a == 5
    sessions = ListeningSession.objects.filter(room=room)
    assert sessions.count() == 9  # one per socket, for analytics
    assert all(s.ended_at is None or s.ended_at >= s.started_at for s in sessions)
