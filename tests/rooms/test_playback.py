"""Playback: start lead, exactly-once advance, timers, the sweep, lazy heal, play events."""

import threading

import pytest
from asgiref.sync import async_to_sync
from django.db import connection

from rooms.models import Play, Playback, QueueEntry
from rooms.playback import playback_heal, playback_state, room_advance
from rooms.selectors import now_ms
from rooms.services import queue_add
from rooms.tasks import playback_sweep_task
from tests.conftest import requires_postgres
from tests.rooms.conftest import join, playing_id, session_cookie, snapshot_on_join

pytestmark = pytest.mark.django_db(transaction=True)


def track_ended(room, *, ago_ms: int) -> None:
    """The playing track started a minute before and ended `ago_ms` ago."""
    ends = now_ms() - ago_ms
    Playback.objects.filter(room=room).update(started_at_ms=ends - 60_000, ends_at_ms=ends)


def track_playing(room, *, ends_in_ms: int) -> int:
    """The playing track started a minute ago and ends in `ends_in_ms`; returns its ends_at."""
    ends = now_ms() + ends_in_ms
    Playback.objects.filter(room=room).update(started_at_ms=ends - 60_000, ends_at_ms=ends)
    return ends


@pytest.fixture
def short_lead(settings):
    settings.ROOMTONE = {**settings.ROOMTONE, "START_LEAD_MS": 0}


def test_a_new_track_starts_a_lead_time_ahead_and_writes_a_play(room, owner, tracks, settings):
    before = now_ms()
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    playback = Playback.objects.get(room=room)
    lead = settings.ROOMTONE["START_LEAD_MS"]
    assert before + lead <= playback.started_at_ms <= now_ms() + lead
    assert playback.ends_at_ms == playback.started_at_ms + tracks[0].duration_ms
    play = Play.objects.get()
    assert play.entry_id == playback.current_entry_id and play.track_id == tracks[0].id
    assert QueueEntry.objects.get(id=play.entry_id).status == "playing"


def test_advance_is_compare_and_set(room, owner, tracks):
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    queue_add(room=room, user=owner, track_id=tracks[1].id)
    first = playing_id(room)
    assert room_advance(room_id=room.id, expected_entry_id=first) is True
    # A second caller who saw the same entry playing loses and changes nothing.
    seq = Playback.objects.get(room=room).seq
    assert room_advance(room_id=room.id, expected_entry_id=first) is False
    assert Playback.objects.get(room=room).seq == seq
    assert QueueEntry.objects.get(id=first).status == "played"
    assert Play.objects.count() == 2


def test_only_if_due_waits_for_the_track_end(room, owner, tracks):
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    current = playing_id(room)
    assert room_advance(room_id=room.id, expected_entry_id=current, only_if_due=True) is False
    track_ended(room, ago_ms=1)
    assert room_advance(room_id=room.id, expected_entry_id=current, only_if_due=True) is True


def test_the_next_track_is_chosen_ahead_and_starts_where_the_last_one_ends(
    room, owner, tracks, settings
):
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    queue_add(room=room, user=owner, track_id=tracks[1].id)
    first = playing_id(room)
    ahead = settings.ROOMTONE["ADVANCE_AHEAD_MS"]
    assert ahead > settings.ROOMTONE["START_LEAD_MS"]
    track_playing(room, ends_in_ms=ahead + 1000)
    assert room_advance(room_id=room.id, expected_entry_id=first, only_if_due=True) is False
    ends = track_playing(room, ends_in_ms=ahead - 100)
    assert room_advance(room_id=room.id, expected_entry_id=first, only_if_due=True) is True
    playback = Playback.objects.get(room=room)
    # Back to back: the new track starts the moment the old one ends, not a lead after now.
    assert playback.started_at_ms == ends
    assert playback.ends_at_ms == ends + tracks[1].duration_ms
    assert (
        Play.objects.get(entry_id=playback.current_entry_id).started_at.timestamp() * 1000 == ends
    )
    assert QueueEntry.objects.get(id=first).ended_at.timestamp() * 1000 == ends


def test_a_late_advance_still_leaves_every_client_the_start_lead(room, owner, tracks, settings):
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    queue_add(room=room, user=owner, track_id=tracks[1].id)
    first = playing_id(room)
    lead = settings.ROOMTONE["START_LEAD_MS"]
    track_playing(room, ends_in_ms=lead // 2)  # the timer fired far too late
    before = now_ms()
    assert room_advance(room_id=room.id, expected_entry_id=first, only_if_due=True) is True
    assert Playback.objects.get(room=room).started_at_ms >= before + lead


def test_a_track_shorter_than_the_ahead_time_is_not_replaced_before_it_starts(
    room, owner, make_track, settings
):
    for i in range(2):
        queue_add(room=room, user=owner, track_id=make_track(f"Jingle {i}", duration_ms=500).id)
    first = playing_id(room)
    started = Playback.objects.get(room=room).started_at_ms
    assert started > now_ms()  # a start lead ahead
    assert room_advance(room_id=room.id, expected_entry_id=first, only_if_due=True) is False
    assert playback_state(room.id) == (first, started)


def test_with_nothing_to_follow_the_track_plays_to_its_end(room, owner, tracks, settings):
    room.autofill = False
    room.save()
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    first = playing_id(room)
    # Due (inside the ahead time) and still more than a start lead from its end.
    ends = track_playing(room, ends_in_ms=settings.ROOMTONE["ADVANCE_AHEAD_MS"] - 500)
    seq = Playback.objects.get(room=room).seq
    assert room_advance(room_id=room.id, expected_entry_id=first, only_if_due=True) is False
    playback = Playback.objects.get(room=room)
    assert (playback.current_entry_id, playback.ends_at_ms, playback.seq) == (first, ends, seq)
    assert QueueEntry.objects.get(id=first).status == "playing"
    # A fan queues a track in time: the next due advance follows on back to back.
    queue_add(room=room, user=owner, track_id=tracks[1].id)
    assert room_advance(room_id=room.id, expected_entry_id=first, only_if_due=True) is True
    assert Playback.objects.get(room=room).started_at_ms == ends
    # Nothing after that one: at its very end the room falls silent.
    second = playing_id(room)
    assert room_advance(room_id=room.id, expected_entry_id=second, only_if_due=True) is False
    track_ended(room, ago_ms=1)
    assert room_advance(room_id=room.id, expected_entry_id=second, only_if_due=True) is True
    assert Playback.objects.get(room=room).current_entry_id is None


@requires_postgres
def test_racing_advancers_admit_exactly_one_winner(room, owner, tracks):
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    for track in tracks[1:4]:
        queue_add(room=room, user=owner, track_id=track.id)
    track_ended(room, ago_ms=1)
    current = playing_id(room)
    n = 8
    barrier = threading.Barrier(n)
    results: list = []

    def racer():
        try:
            barrier.wait()
            results.append(
                room_advance(room_id=room.id, expected_entry_id=current, only_if_due=True)
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=racer) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * (n - 1) + [True]
    assert Play.objects.count() == 2
    assert QueueEntry.objects.filter(status="playing").count() == 1
    assert QueueEntry.objects.get(id=current).status == "played"


def test_sweep_advances_ended_rooms_once(room, owner, tracks):
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    queue_add(room=room, user=owner, track_id=tracks[1].id)
    assert playback_sweep_task() == 0
    track_ended(room, ago_ms=10)
    assert playback_sweep_task() == 1
    assert playback_sweep_task() == 0
    assert QueueEntry.objects.get(id=playing_id(room)).track_id == tracks[1].id


def test_lost_schedule_heals_on_join(room, owner, tracks):
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    queue_add(room=room, user=owner, track_id=tracks[1].id)
    # The track ended while no process held a timer for the room and the sweep was down.
    track_ended(room, ago_ms=5000)
    snap = snapshot_on_join(room.slug, session_cookie(owner))
    assert snap["now_playing"]["track"]["id"] == tracks[1].id
    assert snap["now_playing"]["started_at"] >= snap["server_time"] - 1000
    assert Play.objects.count() == 2
    assert playback_heal(room.id) is False


def test_process_timer_advances_ahead_of_the_track_end(room, owner, make_track, settings):
    # A short start lead, so both jingles are queued before the first starts; the advance falls
    # due as the first starts (it is shorter than the ahead time) and the second follows on.
    settings.ROOMTONE = {**settings.ROOMTONE, "START_LEAD_MS": 300}
    short = [make_track(f"Jingle {i}", duration_ms=800) for i in range(2)]
    room.autofill = False  # the room falls silent after the second jingle
    room.save()
    cookie = session_cookie(owner)

    async def body():
        a = await join(room.slug, cookie)
        b = await join(room.slug, cookie)
        await a.request({"type": "queue.add", "track_id": short[0].id})
        await a.request({"type": "queue.add", "track_id": short[1].id})
        first = await b.expect("now_playing", where=lambda f: f["now_playing"])
        assert first["now_playing"]["track"]["id"] == short[0].id
        nxt = await b.expect(
            "now_playing",
            timeout=3,
            where=lambda f: f["now_playing"] and f["now_playing"]["track"]["id"] == short[1].id,
        )
        late = now_ms() - first["now_playing"]["ends_at"]
        await a.close()
        await b.close()
        return first, nxt, late

    first, nxt, late = async_to_sync(body)()
    # Announced before the end, back to back.
    assert late < 0
    assert nxt["now_playing"]["started_at"] == first["now_playing"]["ends_at"]
    # Two sockets in one process and one timer each: still one advance, one play each; the
    # two sockets are one fan in two tabs, so one listener.
    assert Play.objects.filter(track_id=short[1].id).count() == 1
    assert Play.objects.count() == 2
    assert Play.objects.get(track_id=short[1].id).listeners == 1


def test_play_counts_open_sessions_as_listeners(room, owner, make_user, tracks):
    bea = make_user("bea")
    ca, cb = session_cookie(owner), session_cookie(bea)

    async def body():
        a = await join(room.slug, ca)
        b = await join(room.slug, cb)
        anon = await join(room.slug, None)
        await a.request({"type": "queue.add", "track_id": tracks[0].id})
        listeners = await b.expect("listeners", where=lambda f: f["listeners"]["count"] == 3)
        for c in (a, b, anon):
            await c.close()
        return listeners

    listeners = async_to_sync(body)()
    assert listeners["listeners"]["users"] == ["bea", "olive"]
    assert Play.objects.get().listeners == 3
    room.refresh_from_db()
    assert room.listener_count == 0


def test_autofill_plays_from_history_when_the_queue_runs_dry(room, owner, tracks):
    for track in tracks[:3]:
        queue_add(room=room, user=owner, track_id=track.id)
    for _ in range(3):
        room_advance(room_id=room.id, expected_entry_id=playing_id(room))
    entry = QueueEntry.objects.get(id=playing_id(room))
    assert entry.autofilled and entry.added_by is None
    assert entry.track_id in {t.id for t in tracks[:3]}
    room.autofill = False
    room.save()
    room_advance(room_id=room.id, expected_entry_id=entry.id)
    assert playing_id(room) is None
    assert Playback.objects.get(room=room).ends_at_ms is None


def test_sweep_is_registered_for_beat_every_two_seconds():
    from rooms.tasks import BEAT_SCHEDULE

    entry = BEAT_SCHEDULE["rooms-playback-sweep"]
    assert entry["task"] == "rooms.playback_sweep" and entry["schedule"] <= 2.0


def test_timer_after_lost_race_rearms_from_the_database(room, owner, tracks, settings):
    from rooms import scheduler

    queue_add(room=room, user=owner, track_id=tracks[0].id)
    queue_add(room=room, user=owner, track_id=tracks[1].id)
    stale = playing_id(room)
    room_advance(room_id=room.id, expected_entry_id=stale)  # another process won
    current = playing_id(room)
    playback = Playback.objects.get(room=room)
    due = max(playback.started_at_ms, playback.ends_at_ms - settings.ROOMTONE["ADVANCE_AHEAD_MS"])

    async def body():
        scheduler.watch(room.id, -1)
        try:
            await scheduler._advance(room.id, stale)
            return scheduler.armed(room.id)
        finally:
            scheduler.unwatch(room.id, -1)

    assert async_to_sync(body)() == (current, due)
