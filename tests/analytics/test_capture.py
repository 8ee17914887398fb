"""Capture across processes, the cap on repeated displays, late commits and cleared votes."""

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db.models import Sum
from django.utils import timezone

from analytics import rollups
from analytics.models import StatHour
from catalog.models import Track
from rooms.impressions import SLOT, impressions_flush, impressions_record_at
from rooms.models import ChatMessage, ImpressionCount, Play, QueueEntry, Room, Vote
from rooms.services import room_create

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]

RECORDER = """
import os, signal, sys
from datetime import datetime
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from django.conf import settings

settings.REDIS_URL = ""
settings.IMPRESSIONS_DIR = Path(sys.argv[1])
from rooms.impressions import impressions_record_at

at = datetime.fromisoformat(sys.argv[2])
for room in sys.argv[3].split(","):
    for viewer in ("a", "b", "c"):
        impressions_record_at(room_ids=[int(room)], surface="page", viewer=viewer, at=at)
# Stopped the hard way: nothing runs after this line, no flush, no atexit.
os.kill(os.getpid(), signal.SIGKILL)
"""


def ots(hour: datetime, room: Room) -> int | None:
    row = StatHour.objects.filter(
        stat="ots", granularity="hour", bucket_start=hour, entity_type="room", entity_id=room.id
    ).first()
    return row.value if row else None


def stored() -> int:
    return ImpressionCount.objects.aggregate(n=Sum("count"))["n"] or 0


def test_recorded_in_one_process_flushed_and_rolled_up_by_another(settings):
    """As on one box without Redis: daphne records, the Celery worker flushes and rolls up, and
    an hour far behind the rollup's time window still lands."""
    settings.REDIS_URL = ""
    rooms = [Room.objects.create(slug=f"x{i}", name=f"X{i}") for i in range(2)]
    rollups.rollup_all()  # the rollup has run: its time window is now the last two hours
    old = (timezone.now() - timedelta(hours=9)).replace(minute=10, second=0, microsecond=0)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            RECORDER,
            str(settings.IMPRESSIONS_DIR),
            old.isoformat(),
            ",".join(str(r.id) for r in rooms),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert stored() == 0
    assert impressions_flush() == [old.replace(minute=0)]
    assert stored() == 6
    rollups.rollup_all()
    assert ots(old.replace(minute=0), rooms[0]) == 3
    impressions_flush()
    rollups.rollup_all()
    assert stored() == 6 and ots(old.replace(minute=0), rooms[1]) == 3


def test_a_dead_flush_is_repeated_without_doubling(settings, monkeypatch):
    from rooms import impressions

    settings.REDIS_URL = ""
    room = Room.objects.create(slug="d", name="D")
    impressions.impressions_record(room_ids=[room.id], surface="page", viewer="a")

    def killed(hours):
        raise KeyboardInterrupt("killed after the database write")

    monkeypatch.setattr(impressions, "_mark_local", killed)
    with pytest.raises(KeyboardInterrupt):
        impressions_flush()
    monkeypatch.undo()
    impressions.impressions_record(room_ids=[room.id], surface="page", viewer="b")
    impressions_flush()
    impressions_flush()
    assert stored() == 2


def test_repeated_displays_are_capped():
    """One viewer counts once per room, surface and half hour; unidentified ones up to a cap."""
    rooms = [Room.objects.create(slug=f"c{i}", name=f"C{i}") for i in range(2)]
    ids = [r.id for r in rooms]
    slot = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)
    for _ in range(50):  # a reload loop
        impressions_record_at(room_ids=ids, surface="page", viewer="u1", at=slot)
    impressions_record_at(room_ids=ids, surface="directory", viewer="u1", at=slot)
    impressions_record_at(room_ids=ids[:1], surface="page", viewer="u2", at=slot)
    later = slot + timedelta(seconds=SLOT)
    impressions_record_at(room_ids=ids[:1], surface="page", viewer="u1", at=later)
    for _ in range(30):
        impressions_record_at(room_ids=ids[:1], surface="embed", viewer="", at=slot)
    impressions_flush()
    counts = {
        (room, surface): n
        for room, surface, n in ImpressionCount.objects.values_list("room_id", "surface", "count")
    }
    assert counts == {
        (ids[0], "page"): 3,  # u1, u2, u1 in the next slot
        (ids[1], "page"): 1,
        (ids[0], "directory"): 1,
        (ids[1], "directory"): 1,
        (ids[0], "embed"): 10,  # IMPRESSIONS_UNIDENTIFIED_CAP
    }


def test_reloading_the_room_page_counts_one_display(client, make_user):
    fan = make_user("loop")
    room = room_create(owner=make_user("host"), name="Loop Room", genres=[])
    client.force_login(fan)
    for _ in range(20):
        assert client.get(f"/rooms/{room.slug}/").status_code == 200
        assert client.get(f"/rooms/{room.slug}/embed/").status_code == 200
    impressions_flush()
    assert dict(ImpressionCount.objects.values_list("surface", "count")) == {"page": 1, "embed": 1}


def test_a_row_committed_late_is_still_rolled_up(make_user):
    """An id handed out before many newer rows, committed after a run had passed them."""
    room = Room.objects.create(slug="late", name="Late")
    user = make_user("chatty")
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    late = ChatMessage.objects.create(room=room, user=user, text="late")
    late_id = late.id
    late.delete()  # not visible yet: its transaction is still open
    ChatMessage.objects.bulk_create(
        [ChatMessage(room=room, user=user, text="x") for _ in range(1500)]
    )
    ChatMessage.objects.filter(room=room).update(created_at=now - timedelta(minutes=1))
    rollups.rollup_stat("chat", now=now)
    # It commits, with the time it was created at (three hours ago, like a long transaction's).
    ChatMessage.objects.create(id=late_id, room=room, user=user, text="late")
    ChatMessage.objects.filter(id=late_id).update(created_at=hour + timedelta(minutes=5))
    rollups.rollup_stat("chat", now=now + timedelta(minutes=10))
    row = StatHour.objects.get(
        stat="chat", granularity="hour", bucket_start=hour, entity_type="room", entity_id=room.id
    )
    assert row.value == 1


def test_a_cleared_vote_leaves_the_votes_stat(make_user):
    room = Room.objects.create(slug="v", name="V")
    track = Track.objects.create(title="T", duration_ms=1000)
    entry = QueueEntry.objects.create(room=room, track=track)
    fans = [make_user(f"f{i}") for i in range(3)]
    votes = [Vote.objects.create(entry=entry, user=fan, value=1) for fan in fans]
    now = timezone.now()
    # Cast an hour ago: the watermark passes them, so only the clear can bring the hour back.
    Vote.objects.update(created_at=now - timedelta(hours=1))
    QueueEntry.objects.update(created_at=now - timedelta(hours=2))
    hour = (now - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)

    def value():
        return StatHour.objects.get(
            stat="votes",
            granularity="hour",
            bucket_start=hour,
            entity_type="room",
            entity_id=room.id,
        ).value

    rollups.rollup_stat("votes", now=now)
    assert value() == 3
    assert rollups.rollup_stat("votes", now=now)["hours"] > 0  # the live entry's hours
    votes[1].delete()  # vote_cast with value 0
    rollups.rollup_stat("votes", now=now + timedelta(minutes=5))
    assert value() == 2


def test_a_vote_cleared_on_an_entry_dropped_before_the_next_run(make_user):
    """The entry takes a vote, the vote is cleared and the entry leaves the queue, all between
    two runs: the next ordinary run still recomputes the vote's hour (no backfill)."""
    room = Room.objects.create(slug="w", name="W")
    track = Track.objects.create(title="T", duration_ms=1000)
    entry = QueueEntry.objects.create(room=room, track=track)
    fans = [make_user(f"f{i}") for i in range(3)]
    votes = [Vote.objects.create(entry=entry, user=fan, value=1) for fan in fans]
    now = timezone.now()
    Vote.objects.update(created_at=now - timedelta(hours=5))
    QueueEntry.objects.update(created_at=now - timedelta(hours=6))
    hour = (now - timedelta(hours=5)).replace(minute=0, second=0, microsecond=0)
    # Another room's entry, queued since, keeps the queue from being empty.
    other = QueueEntry.objects.create(room=Room.objects.create(slug="x", name="X"), track=track)

    def value():
        row = StatHour.objects.filter(
            stat="votes",
            granularity="hour",
            bucket_start=hour,
            entity_type="room",
            entity_id=room.id,
        ).first()
        return row.value if row else 0

    rollups.rollup_stat("votes", now=now)
    assert value() == 3
    votes[0].delete()  # vote_cast with value 0...
    QueueEntry.objects.filter(id=entry.id).update(status=QueueEntry.Status.DROPPED)  # ...drops it
    rollups.rollup_stat("votes", now=now + timedelta(minutes=5))
    assert value() == 2
    assert QueueEntry.objects.get(id=other.id).status == QueueEntry.Status.QUEUED


def test_a_track_started_in_an_empty_room_is_not_a_play():
    """Rooms play on with nobody in them; only plays someone was there for are counted."""
    room = Room.objects.create(slug="e", name="E")
    track = Track.objects.create(title="T", duration_ms=1000)
    at = timezone.now() - timedelta(hours=1)
    for listeners in (0, 0, 2, 1):
        entry = QueueEntry.objects.create(room=room, track=track)
        Play.objects.create(room=room, entry=entry, track=track, started_at=at, listeners=listeners)
    rollups.rollup_stat("plays", now=timezone.now() + timedelta(minutes=10))
    hours = StatHour.objects.filter(stat="plays", entity_type="room", entity_id=room.id)
    assert [h.value for h in hours] == [2]
