"""Presence at premiere size: joins and leaves written in batches per process, counts coalesced.

Runs on whatever DATABASE_URL / REDIS_URL say (one-box defaults included).
"""

import asyncio
import math
import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rooms import presence
from rooms.hub import current_hub
from rooms.models import DJSeat, ListeningSession, Room
from rooms.presence import PresenceBatch, presence_batch, session_open
from rooms.selectors import listener_count
from rooms.services import room_create
from tests.rooms.conftest import join, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

TICK = 0.2


@pytest.fixture(autouse=True)
def slow_tick(settings):
    settings.ROOM_PRESENCE_TICK_S = TICK


def _statements(ctx, head: str) -> int:
    return sum(1 for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith(head))


def _session_inserts(ctx) -> int:
    return _statements(ctx, 'INSERT INTO "ROOMS_LISTENINGSESSION"')


def _session_updates(ctx) -> int:
    return _statements(ctx, 'UPDATE "ROOMS_LISTENINGSESSION"')


def _count_updates(ctx) -> int:
    return sum(
        1
        for q in ctx.captured_queries
        if q["sql"].lstrip().upper().startswith('UPDATE "ROOMS_ROOM"')
        and "LISTENER_COUNT" in q["sql"].upper()
    )


async def _drain(client) -> list[dict]:
    """The frames the socket has been sent so far, without waiting for more."""
    frames = []
    while not await client.comm.receive_nothing(timeout=0.05):
        frames.append(await client.recv())
    return frames


def test_a_join_storm_costs_a_few_writes_and_listener_events_not_one_per_socket(room):
    n = 40

    async def body():
        first = await join(room.slug)  # anonymous, no session: every socket counts on its own
        started = time.monotonic()
        others = await asyncio.gather(*(join(room.slug) for _ in range(n - 1)))
        storm_s = time.monotonic() - started
        # Past the last coalescing window (a read timing out would end the test's socket).
        await asyncio.sleep(2 * presence.LISTENERS_COALESCE_S + 2 * TICK)
        counts = [f["listeners"]["count"] for f in await _drain(first) if f["type"] == "listeners"]
        listening_s = time.monotonic() - started
        await asyncio.gather(*(client.close() for client in others))
        await presence_batch().drain()
        await asyncio.sleep(2 * presence.LISTENERS_COALESCE_S)
        after_leaves = [f["listeners"] for f in await _drain(first) if f["type"] == "listeners"]
        await first.close()
        await presence_batch().drain()
        hub = current_hub()
        if hub is not None:
            await hub.aclose()
        return storm_s, listening_s, counts, after_leaves

    with CaptureQueriesContext(connection) as ctx:
        storm_s, listening_s, counts, after_leaves = async_to_sync(body)()

    assert ListeningSession.objects.count() == n
    assert not ListeningSession.objects.filter(ended_at__isnull=True).exists()
    assert counts and counts[-1] == n
    assert after_leaves and after_leaves[-1] == {"count": 1, "users": []}
    # One INSERT per batch, and at most one batch per tick, however many sockets joined.
    inserts = _session_inserts(ctx)
    assert inserts <= math.ceil(storm_s / TICK) + 2, (inserts, storm_s)
    assert inserts < n / 4
    # Leaves likewise: one UPDATE per batch, not one per socket.
    assert _session_updates(ctx) < n / 4
    # The `listeners` event: one per room per coalescing window; the stored count, per batch.
    events_bound = math.ceil(listening_s / presence.LISTENERS_COALESCE_S) + 2
    assert len(counts) <= events_bound, (counts, listening_s)
    assert _count_updates(ctx) < n / 4
    assert Room.objects.get(pk=room.pk).listener_count == 0 == listener_count(room.id)


def test_each_session_keeps_its_own_join_and_leave_time(room, owner, make_user):
    bea = make_user("bea")

    async def body():
        batch = PresenceBatch(tick=0.3)
        before = timezone.now()
        first = batch.open(room_id=room.id, user_id=owner.pk, session_key="o", channel_name="a")
        await asyncio.sleep(0.05)
        # These two wait for the next batch, a tick after the first.
        second = batch.open(room_id=room.id, user_id=bea.pk, session_key="b", channel_name="b")
        await asyncio.sleep(0.1)
        third = batch.open(room_id=room.id, user_id=None, session_key="", channel_name="c")
        ids = [await first, await second, await third]
        joined = timezone.now()
        await asyncio.sleep(0.05)
        leave_a = batch.close(session_id=ids[0])
        await asyncio.sleep(0.1)
        leave_b = batch.close(session_id=ids[1])
        await asyncio.gather(leave_a, leave_b)
        return before, joined, ids, batch.batches

    before, joined, ids, batches = async_to_sync(body)()
    a, b, c = (ListeningSession.objects.get(id=i) for i in ids)
    assert batches == 3  # the first join alone, the two others together, both leaves together
    assert before <= a.started_at < b.started_at < c.started_at <= joined
    assert b.started_at - a.started_at >= timedelta(milliseconds=40)
    assert c.started_at - b.started_at >= timedelta(milliseconds=90)
    assert joined < a.ended_at < b.ended_at
    assert b.ended_at - a.ended_at >= timedelta(milliseconds=90)
    assert a.last_seen_at == a.ended_at and b.last_seen_at == b.ended_at
    assert c.ended_at is None and c.user_id is None
    assert (a.user_id, a.session_key, a.channel_name) == (owner.pk, "o", "a")


def test_a_session_the_sweep_closed_keeps_the_sweeps_end(room, owner):
    session_id = session_open(room=room, user=owner)
    swept_at = timezone.now() - timedelta(minutes=5)
    ListeningSession.objects.filter(id=session_id).update(ended_at=swept_at)

    async def body():
        await PresenceBatch(tick=0).close(session_id=session_id)

    async_to_sync(body)()
    assert ListeningSession.objects.get(id=session_id).ended_at == swept_at


def test_a_join_whose_socket_gave_up_waiting_is_closed_again(room):
    async def body():
        batch = PresenceBatch(tick=0.2)
        await batch.open(room_id=room.id, user_id=None, session_key="", channel_name="x")
        # Within a tick of that write: this one waits for the next batch.
        waiting = asyncio.ensure_future(
            batch.open(room_id=room.id, user_id=None, session_key="k", channel_name="y")
        )
        await asyncio.sleep(0.05)
        assert not waiting.done()
        waiting.cancel()
        await batch.drain()

    async_to_sync(body)()
    gave_up = ListeningSession.objects.get(session_key="k")
    assert gave_up.ended_at is not None and gave_up.ended_at >= gave_up.started_at
    assert ListeningSession.objects.get(channel_name="x").ended_at is None


def test_a_djs_seat_goes_away_with_the_last_socket_and_back_with_the_next(owner, make_user):
    room = room_create(owner=owner, name="Decks", mode=Room.Mode.DJ)
    bea = make_user("bea")
    DJSeat.objects.create(room=room, user=bea, position=1)
    cookie = session_cookie(bea)

    async def body():
        tabs = await asyncio.gather(join(room.slug, cookie), join(room.slug, cookie))
        await tabs[0].close()
        await presence_batch().drain()
        one_left = await DJSeat.objects.aget(room=room, user=bea)
        await tabs[1].close()
        await presence_batch().drain()
        none_left = await DJSeat.objects.aget(room=room, user=bea)
        back = await join(room.slug, cookie)
        await presence_batch().drain()
        returned = await DJSeat.objects.aget(room=room, user=bea)
        await back.close()
        await presence_batch().drain()
        hub = current_hub()
        if hub is not None:
            await hub.aclose()
        return one_left.away_since, none_left.away_since, returned.away_since

    one_left, none_left, returned = async_to_sync(body)()
    assert one_left is None  # another tab of hers is still open
    assert none_left is not None
    assert returned is None
