"""OTS capture: a flush loses nothing and doubles nothing, whichever buffer is in use."""

import threading

import pytest
from django.db import connection
from django.db.models import Sum

from rooms import impressions
from rooms.impressions import impressions_flush, impressions_reach, impressions_record
from rooms.models import ImpressionCount, Room
from tests.conftest import requires_redis

pytestmark = pytest.mark.django_db


@pytest.fixture
def rooms():
    return [Room.objects.create(slug=f"r{i}", name=f"R{i}") for i in range(5)]


def stored():
    return ImpressionCount.objects.aggregate(n=Sum("count"))["n"] or 0


def test_a_page_of_rooms_is_one_impression_each_and_flush_is_repeatable(rooms):
    ids = [r.id for r in rooms]
    impressions_record(room_ids=ids, surface="directory", viewer="u1")
    impressions_record(room_ids=ids[:2], surface="page", viewer="u2")
    impressions_record(room_ids=ids[:2], surface="page", viewer="")
    hours = impressions_flush()
    assert len(hours) == 1
    assert stored() == 9
    assert ImpressionCount.objects.get(room=rooms[0], surface="page").count == 2
    impressions_flush()
    impressions_flush()
    assert stored() == 9
    impressions_record(room_ids=ids[:1], surface="page", viewer="u3")
    impressions_flush()
    assert ImpressionCount.objects.get(room=rooms[0], surface="page").count == 3
    reach = impressions_reach(groups={"r0": [ids[0]], "all": ids}, start=hours[0], end=hours[0])
    assert reach == {"r0": 0, "all": 0}  # an empty window
    from datetime import timedelta

    reach = impressions_reach(
        groups={"r0": [ids[0]], "all": ids}, start=hours[0], end=hours[0] + timedelta(hours=1)
    )
    assert reach == {"r0": 3, "all": 3}  # u1, u2, u3; the unknown viewer is not reach


def test_one_round_trip_and_no_database_write_per_page(rooms, django_assert_num_queries):
    with django_assert_num_queries(0):
        impressions_record(room_ids=[r.id for r in rooms], surface="directory", viewer="v")


def test_unknown_surface_is_refused_and_nothing_counted(rooms):
    with pytest.raises(ValueError, match="unknown surface"):
        impressions_record(room_ids=[rooms[0].id], surface="billboard", viewer="v")
    impressions_flush()
    assert stored() == 0


def test_a_failed_flush_keeps_its_counts(rooms, monkeypatch):
    impressions_record(room_ids=[rooms[0].id], surface="page", viewer="v")

    def broken(rows, *, add):
        raise RuntimeError("database went away")

    monkeypatch.setattr(impressions, "_upsert", broken)
    with pytest.raises(RuntimeError):
        impressions_flush()
    monkeypatch.undo()
    impressions_record(room_ids=[rooms[0].id], surface="page", viewer="w")
    impressions_flush()
    assert stored() == 2


def test_a_deleted_room_does_not_break_the_flush(rooms):
    impressions_record(room_ids=[rooms[0].id, rooms[1].id], surface="page", viewer="v")
    rooms[1].delete()
    impressions_flush()
    assert stored() == 1


@pytest.mark.django_db(transaction=True)
def test_recording_while_flushing_loses_and_doubles_nothing(rooms):
    ids = [r.id for r in rooms]
    per_thread, threads = 300, 4
    stop = threading.Event()

    def record(n):
        for i in range(per_thread):
            impressions_record(room_ids=ids, surface="directory", viewer=f"v{n}-{i}")

    def flusher():
        while not stop.is_set():
            impressions_flush()
        connection.close()

    workers = [threading.Thread(target=record, args=(n,)) for n in range(threads)]
    f = threading.Thread(target=flusher)
    f.start()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    f.join()
    impressions_flush()
    assert stored() == per_thread * threads * len(ids)


@requires_redis
def test_redis_flush_survives_a_crash_after_the_database_write(rooms, monkeypatch):
    """The totals stay in Redis until the dirty mark is cleared: writing them again is harmless."""
    impressions_record(room_ids=[rooms[0].id], surface="embed", viewer="a")
    original = impressions._script

    def no_clean(name, source):
        if name == "clean":
            raise KeyboardInterrupt("killed before clearing the dirty mark")
        return original(name, source)

    monkeypatch.setattr(impressions, "_script", no_clean)
    with pytest.raises(KeyboardInterrupt):
        impressions_flush()
    monkeypatch.undo()
    assert stored() == 1
    impressions_flush()
    impressions_flush()
    assert stored() == 1


@pytest.mark.django_db
def test_reach_files_older_than_the_sketches_are_pruned(settings, rooms):
    from datetime import timedelta

    from django.utils import timezone

    from analytics.tasks import forget_reach

    settings.REDIS_URL = None
    old = timezone.now() - timedelta(seconds=impressions.REACH_TTL, hours=2)
    impressions.impressions_record_at(room_ids=[rooms[0].id], surface="page", viewer="a", at=old)
    impressions.impressions_record(room_ids=[rooms[0].id], surface="page", viewer="b")
    impressions_flush()
    folder = settings.IMPRESSIONS_DIR
    assert len(list(folder.glob("*.txt"))) == 2
    assert forget_reach() == 1
    assert [p.stem for p in folder.glob("*.txt")] == [timezone.now().strftime("%Y%m%d%H")]


def test_a_large_spool_flushes_in_one_go(settings, rooms):
    """Without Redis: thousands of (room, hour, surface) counts in one flush (the demo's weeks of
    history, a busy hour of a big directory) are read back a few hours at a time."""
    from datetime import timedelta

    from django.utils import timezone

    settings.REDIS_URL = None
    start = (timezone.now() - timedelta(days=3)).replace(minute=5, second=0, microsecond=0)
    ids = [r.id for r in rooms]
    for hour in range(60):
        at = start + timedelta(hours=hour)
        for surface in ("directory", "page", "search", "embed"):
            impressions.impressions_record_at(room_ids=ids, surface=surface, viewer="", at=at)
    assert len(impressions_flush()) == 60
    assert ImpressionCount.objects.count() == 60 * 4 * 5
    assert stored() == 1200
    # Flushed again on top of stored counts: each key adds to its own row.
    for surface in ("directory", "page"):
        impressions.impressions_record_at(room_ids=ids, surface=surface, viewer="x", at=start)
    impressions_flush()
    assert stored() == 1210
    assert (
        ImpressionCount.objects.get(
            room=rooms[0], surface="page", hour=start.replace(minute=0)
        ).count
        == 2
    )
