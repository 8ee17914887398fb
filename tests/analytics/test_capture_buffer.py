"""The page buffer of OTS capture: when it sends (size, age, flush, exit), what it sends, and what
a process killed without warning loses. Triggers are driven by an injected clock, not by sleeps."""

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db.models import Sum
from django.utils import timezone

from rooms import impressions
from rooms.impressions import (
    impressions_flush,
    impressions_reach,
    impressions_record,
    impressions_record_at,
    impressions_send,
)
from rooms.impressions_buffer import PageBuffer
from rooms.models import ImpressionCount, Room
from tests.conftest import requires_redis

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Sink:
    def __init__(self, fail=0):
        self.batches: list[list] = []
        self.fail = fail

    def __call__(self, pages):
        if self.fail:
            self.fail -= 1
            raise ConnectionError("redis went away")
        self.batches.append(list(pages))


def make(sink, clock, **kw):
    return PageBuffer(sink, max_pages=5, max_age=0.1, clock=clock, background=False, **kw)


# --- the buffer alone ---------------------------------------------------------------------------
def test_size_trigger_sends_one_batch_in_order():
    sink, clock = Sink(), Clock()
    buf = make(sink, clock)
    for i in range(4):
        buf.add(i)
    assert sink.batches == [] and len(buf) == 4
    buf.add(4)  # the fifth page fills it: sent by the page view that filled it
    assert sink.batches == [[0, 1, 2, 3, 4]] and len(buf) == 0
    assert (buf.batches, buf.sent) == (1, 5)


def test_age_trigger_on_the_next_page_or_the_flusher_step():
    sink, clock = Sink(), Clock()
    buf = make(sink, clock)
    buf.add("a")
    clock.now += 0.099
    assert buf.tick() == 0
    buf.add("b")
    assert sink.batches == []
    clock.now += 0.001  # "a" is 0.1 s old
    assert buf.tick() == 2
    assert sink.batches == [["a", "b"]]
    buf.add("c")
    clock.now += 0.5
    buf.add("d")  # due by age: the page view sends it
    assert sink.batches[-1] == ["c", "d"]
    assert buf.tick() == 0  # nothing waits


def test_flush_sends_everything_in_batches_of_max_pages():
    sink, clock = Sink(), Clock()
    buf = make(sink, clock)
    buf.max_pages = 1000  # no size trigger while filling
    for i in range(12):
        buf.add(i)
    buf.max_pages = 5
    assert buf.flush() == 12
    assert sink.batches == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    assert buf.flush() == 0


def test_a_failed_send_keeps_its_pages_and_waits_before_retrying():
    sink, clock = Sink(fail=1), Clock()
    buf = make(sink, clock, retry=1.0)
    for i in range(5):
        buf.add(i)  # the size trigger fails: logged, kept, not raised into the page view
    assert len(buf) == 5 and sink.batches == []
    buf.add(5)
    clock.now += 0.5
    assert buf.tick() == 0  # within the retry delay: no send per page view
    clock.now += 0.5
    assert buf.tick() == 6
    assert sink.batches == [[0, 1, 2, 3, 4], [5]]  # order kept


def test_an_explicit_flush_raises_and_keeps_the_pages():
    sink, clock = Sink(fail=1), Clock()
    buf = make(sink, clock)
    buf.add("a")
    with pytest.raises(ConnectionError):
        buf.flush()
    assert len(buf) == 1
    assert buf.flush() == 1
    assert sink.batches == [["a"]]


def test_while_sends_fail_the_oldest_pages_beyond_keep_are_dropped_and_counted():
    sink, clock = Sink(fail=100), Clock()
    buf = make(sink, clock, keep=7)
    for i in range(10):
        buf.add(i)
    with pytest.raises(ConnectionError):
        buf.flush()
    assert len(buf) == 7 and buf.dropped == 3
    sink.fail = 0
    buf.flush()
    assert [p for b in sink.batches for p in b] == [3, 4, 5, 6, 7, 8, 9]


def test_discard_drops_the_waiting_pages():
    sink, clock = Sink(), Clock()
    buf = make(sink, clock)
    buf.add("a")
    assert buf.discard() == 1
    assert buf.flush() == 0 and sink.batches == []


def test_pages_added_from_many_threads_are_sent_once_each():
    sink = Sink()
    buf = PageBuffer(sink, max_pages=7, max_age=0.05, background=True)
    per_thread, threads = 500, 6

    def add(n):
        for i in range(per_thread):
            buf.add((n, i))

    workers = [threading.Thread(target=add, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    buf.flush()
    sent = [p for b in sink.batches for p in b]
    assert sorted(sent) == [(n, i) for n in range(threads) for i in range(per_thread)]
    assert all(len(b) <= 7 for b in sink.batches)
    for n in range(threads):  # each thread's pages go out in the order it added them
        assert [i for m, i in sent if m == n] == list(range(per_thread))


def test_the_background_flusher_sends_stragglers_without_a_flush():
    sent = threading.Event()
    sink = Sink()

    def send(pages):
        sink(pages)
        sent.set()

    buf = PageBuffer(send, max_pages=100, max_age=0.01, background=True)
    buf.add("straggler")
    # Waits for the event, not for a guessed duration: 10 s is only a bound for a stuck test.
    assert sent.wait(10)
    assert sink.batches == [["straggler"]]


# --- the real capture path ----------------------------------------------------------------------
def stored() -> int:
    return ImpressionCount.objects.aggregate(n=Sum("count"))["n"] or 0


@pytest.fixture
def rooms(db):
    return [Room.objects.create(slug=f"b{i}", name=f"B{i}") for i in range(3)]


@pytest.fixture
def held(settings):
    """Pages wait until the test sends them: no trigger fires by itself."""
    settings.IMPRESSIONS_BUFFER_SECONDS = 3600
    settings.IMPRESSIONS_BUFFER_PAGES = 10_000
    return settings


@requires_redis
def test_many_pages_go_to_redis_in_one_call_with_every_cap_kept(rooms, held, monkeypatch):
    held.IMPRESSIONS_UNIDENTIFIED_CAP = 3
    calls = []
    original = impressions._script

    def counted(name, source):
        script = original(name, source)
        if name != "record":
            return script
        return lambda **kw: (calls.append(len(kw["args"])), script(**kw))[1]

    monkeypatch.setattr(impressions, "_script", counted)
    ids = [r.id for r in rooms]
    for _ in range(3):
        impressions_record(room_ids=ids, surface="directory", viewer="u1")  # repeats: once
    impressions_record(room_ids=ids[:1], surface="page", viewer="u1")  # another surface
    impressions_record(room_ids=ids[:1], surface="page", viewer="u2")
    for _ in range(5):
        impressions_record(room_ids=ids[:1], surface="embed", viewer="")  # capped at 3
    assert calls == [] and len(impressions._buffer) == 10
    assert stored() == 0
    assert impressions_send() == 10
    assert len(calls) == 1  # ten pages, one script call
    hours = impressions_flush()
    assert len(calls) == 1  # the flush found nothing more to send
    assert stored() == 3 + 2 + 3
    assert ImpressionCount.objects.get(room=rooms[0], surface="embed").count == 3
    hour = hours[0]
    reach = impressions_reach(
        groups={"r0": [ids[0]], "r1": [ids[1]]}, start=hour, end=hour + timedelta(hours=1)
    )
    assert reach == {"r0": 2, "r1": 1}


@requires_redis
def test_pages_of_different_hours_in_one_batch_land_in_their_hours(rooms, held):
    base = timezone.now().replace(minute=5, second=0, microsecond=0) - timedelta(hours=3)
    for h in range(3):
        impressions_record_at(
            room_ids=[rooms[0].id], surface="page", viewer="v", at=base + timedelta(hours=h)
        )
    impressions_record_at(room_ids=[rooms[0].id], surface="page", viewer="v", at=base)  # repeat
    hours = impressions_flush()
    assert hours == [(base + timedelta(hours=h)).replace(minute=0) for h in range(3)]
    assert list(
        ImpressionCount.objects.filter(room=rooms[0])
        .order_by("hour")
        .values_list("count", flat=True)
    ) == [1, 1, 1]


@requires_redis
def test_the_size_trigger_sends_from_the_page_view(rooms, held):
    held.IMPRESSIONS_BUFFER_PAGES = 4
    for i in range(3):
        impressions_record(room_ids=[rooms[0].id], surface="page", viewer=f"v{i}")
    assert len(impressions._buffer) == 3
    impressions_record(room_ids=[rooms[0].id], surface="page", viewer="v3")
    assert len(impressions._buffer) == 0
    impressions.impressions_discard()  # nothing waits: the flush below reads only Redis
    impressions_flush()
    assert stored() == 4


def test_without_redis_a_page_is_spooled_at_once_and_not_buffered(rooms, settings):
    settings.REDIS_URL = ""
    impressions_record(room_ids=[r.id for r in rooms], surface="directory", viewer="v")
    assert impressions._buffer is None or len(impressions._buffer) == 0
    assert list((settings.IMPRESSIONS_DIR / "spool").glob("*.log"))
    impressions_flush()
    assert stored() == 3


def test_pages_buffered_for_redis_go_to_the_spool_if_redis_is_gone(rooms, settings):
    at = datetime(2026, 11, 25, 10, 20, tzinfo=UTC)
    slot = str(int(at.timestamp()) // impressions.SLOT)
    who = impressions._viewer_hash("v")
    settings.REDIS_URL = ""
    packed = f"{rooms[0].id},{rooms[1].id}"
    impressions._send_pages([("2026112510", slot, "page", who, packed)] * 2)  # a repeat
    impressions_flush()
    assert stored() == 2
    assert ImpressionCount.objects.get(room=rooms[0]).hour == at.replace(minute=0)


RECORDER = """
import os, signal, sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from django.conf import settings

settings.IMPRESSIONS_BUFFER_SECONDS = 3600  # nothing is sent unless asked
settings.IMPRESSIONS_BUFFER_PAGES = 10_000
from rooms.impressions import impressions_record, impressions_send

room = int(sys.argv[2])
for viewer in ("a", "b", "c"):
    impressions_record(room_ids=[room], surface="page", viewer=viewer)
if sys.argv[1] == "kill":
    impressions_send()
    for viewer in ("d", "e"):
        impressions_record(room_ids=[room], surface="page", viewer=viewer)
    # Stopped the hard way: no atexit, the two pages still buffered are lost.
    os.kill(os.getpid(), signal.SIGKILL)
# A normal exit: atexit sends what is buffered.
"""


def run_recorder(how: str, room: Room) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", RECORDER, how, str(room.id)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@requires_redis
def test_a_process_killed_loses_only_its_unsent_pages(rooms):
    done = run_recorder("kill", rooms[0])
    assert done.returncode == -9, done.stderr
    impressions_flush()
    assert stored() == 3


@requires_redis
def test_a_process_that_exits_sends_its_buffer(rooms):
    done = run_recorder("exit", rooms[0])
    assert done.returncode == 0, done.stderr
    impressions_flush()
    assert stored() == 3
