"""Premieres: switched in once, a lead time ahead, starting at `starts_at` exactly for everyone."""

import threading
from datetime import UTC, datetime

import pytest
from asgiref.sync import async_to_sync
from django.db import connection

from labels.models import Label
from rooms.models import Play, Playback, Premiere, QueueEntry
from rooms.selectors import now_ms, room_snapshot
from rooms.services import queue_add
from rooms.services.premieres import premiere_start, premieres_start_due
from rooms.tasks import playback_sweep_task
from tests.conftest import requires_postgres
from tests.rooms.conftest import join, playing_id, session_cookie, snapshot_on_join

pytestmark = pytest.mark.django_db(transaction=True)


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@pytest.fixture
def label(db):
    return Label.objects.create(name="Fjord Records", slug="fjord")


@pytest.fixture
def lead(settings):
    settings.ROOMTONE = {**settings.ROOMTONE, "PREMIERE_LEAD_MS": 1000}
    return 1000


def premiere(room, label, starts_ms: int, track=None, title="First Light") -> Premiere:
    return Premiere.objects.create(
        label=label, room=room, track=track, title=title, starts_at=at(starts_ms)
    )


def test_switches_in_ahead_and_starts_at_starts_at_exactly(room, owner, label, tracks, lead):
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    queue_add(room=room, user=owner, track_id=tracks[1].id)
    before = playing_id(room)
    starts = now_ms() + 600  # inside the lead: due now, still in the future
    p = premiere(room, label, starts, track=tracks[5])

    assert premieres_start_due() == 1
    playback = Playback.objects.get(room=room)
    entry = QueueEntry.objects.get(id=playback.current_entry_id)
    assert entry.track_id == tracks[5].id and entry.added_by is None
    assert playback.started_at_ms == starts == entry.started_at_ms
    assert playback.ends_at_ms == starts + tracks[5].duration_ms
    assert Play.objects.get(entry=entry).started_at == at(starts)
    # The cut track is history; the queue keeps what was waiting.
    assert QueueEntry.objects.get(id=before).status == "played"
    assert list(QueueEntry.objects.filter(status="queued").values_list("track_id", flat=True)) == [
        tracks[1].id
    ]
    p.refresh_from_db()
    assert p.started
    # Until its moment the snapshot still counts down, while now_playing already names it.
    snap = room_snapshot(room=room, user=owner)
    assert snap["premiere"] == {"title": "First Light", "starts_at": starts}
    assert snap["now_playing"]["started_at"] == starts
    assert premieres_start_due() == 0


def test_not_switched_before_the_lead(room, owner, label, tracks, lead):
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    before = playing_id(room)
    premiere(room, label, now_ms() + lead + 2000, track=tracks[5])
    assert premieres_start_due() == 0
    assert playback_sweep_task() == 0
    assert playing_id(room) == before


def test_second_starter_loses(room, label, tracks):
    p = premiere(room, label, now_ms() + 1000, track=tracks[0])
    seq = Playback.objects.get(room=room).seq
    assert premiere_start(premiere_id=p.id) is True
    after = Playback.objects.get(room=room).seq
    assert after > seq
    assert premiere_start(premiere_id=p.id) is False
    assert Playback.objects.get(room=room).seq == after
    assert Play.objects.count() == 1


@requires_postgres
def test_racing_starters_start_it_once(room, owner, label, tracks):
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    starts = now_ms() + 2000
    p = premiere(room, label, starts, track=tracks[5])
    n = 8
    barrier = threading.Barrier(n)
    results: list = []

    def racer(i):
        try:
            barrier.wait()
            if i % 2:
                results.append(premiere_start(premiere_id=p.id))
            else:
                results.append(premieres_start_due(room_id=room.id, now=starts - 1000))
        finally:
            connection.close()

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(int(r) for r in results) == [0] * (n - 1) + [1]
    assert QueueEntry.objects.filter(track=tracks[5]).count() == 1
    assert Play.objects.filter(track=tracks[5]).count() == 1
    assert QueueEntry.objects.filter(status="playing").count() == 1
    assert Playback.objects.get(room=room).started_at_ms == starts


def test_a_premiere_without_a_track_holds_the_room_then_starts_its_queue(
    room, owner, label, tracks, lead
):
    starts = now_ms() + 800
    p = premiere(room, label, starts, title="Doors open")
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    queue_add(room=room, user=owner, track_id=tracks[1].id)
    assert playing_id(room) is None  # held silent: fans may queue, nothing plays

    assert playback_sweep_task() == 1
    playback = Playback.objects.get(room=room)
    assert QueueEntry.objects.get(id=playback.current_entry_id).track_id == tracks[0].id
    assert playback.started_at_ms == starts
    p.refresh_from_db()
    assert p.started


def test_late_join_after_the_start_hears_it_at_the_right_offset(room, owner, label, make_track):
    song = make_track("First Light", duration_ms=240_000)
    starts = now_ms() - 7000  # no timer or sweep ran: the first join starts it, on time
    premiere(room, label, starts, track=song)
    snap = snapshot_on_join(room.slug, session_cookie(owner))
    playing = snap["now_playing"]
    assert playing["track"]["id"] == song.id
    assert playing["started_at"] == starts
    assert 7000 <= snap["server_time"] - playing["started_at"] < 9000
    assert snap["premiere"] is None
    assert Play.objects.get().started_at == at(starts)


def test_process_timer_sends_now_playing_before_the_moment(room, owner, label, tracks, lead):
    starts = now_ms() + lead + 1500
    premiere(room, label, starts, track=tracks[2])
    cookie = session_cookie(owner)

    async def body():
        # Not due on join: the room's first socket here arms the process's premiere timer.
        c = await join(room.slug, cookie)
        assert c.snapshot["now_playing"] is None
        assert c.snapshot["premiere"]["starts_at"] == starts
        frame = await c.expect("now_playing", timeout=4, where=lambda f: f["now_playing"])
        received = now_ms()
        await c.close()
        return frame, received

    frame, received = async_to_sync(body)()
    assert frame["now_playing"]["track"]["id"] == tracks[2].id
    assert frame["now_playing"]["started_at"] == starts
    assert starts - lead - 100 <= received < starts  # switched a lead ahead, not at the moment
