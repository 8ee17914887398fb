"""Analytics benchmarks on PostgreSQL: capture, rollup and export, each beside its raw baseline.

    DATABASE_URL=postgres://... [REDIS_URL=redis://...] .venv/bin/python bench/analytics/run.py

Uses (and empties) the analytics and rooms tables of DATABASE_URL's database: point it at a
scratch database. Sizes are small enough to finish in a few minutes on two cores; --scale grows
them.
"""

import argparse
import io
import json
import os
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Sum  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from analytics import rollups  # noqa: E402
from analytics.models import FillState, StatCount  # noqa: E402
from analytics.params import Filters  # noqa: E402
from analytics.selectors import Window  # noqa: E402
from catalog.models import Track  # noqa: E402
from labels.models import Label  # noqa: E402
from rooms import impressions  # noqa: E402
from rooms.impressions import impressions_flush, impressions_record  # noqa: E402
from rooms.models import ImpressionCount, Room  # noqa: E402

T0 = datetime(2025, 1, 6, tzinfo=UTC)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def reset():
    with connection.cursor() as c:
        c.execute(
            "TRUNCATE analytics_statcount, analytics_fillstate, rooms_play, rooms_queueentry, "
            "rooms_impressioncount, rooms_playback RESTART IDENTITY CASCADE"
        )


def world():
    label, _ = Label.objects.get_or_create(name="Bench Label")
    rooms = [
        Room.objects.get_or_create(slug=f"bench-{i}", defaults={"name": f"B{i}", "label": label})[0]
        for i in range(50)
    ]
    tracks = [
        Track.objects.get_or_create(title=f"bench {i}", label=label, defaults={"duration_ms": 1})[0]
        for i in range(200)
    ]
    return label, rooms, tracks


def copy_plays(rooms, tracks, n, start_hour):
    """n plays (with their queue entries) by binary-free text COPY, spread over hours."""
    with connection.cursor() as c:
        c.execute("SELECT COALESCE(MAX(id), 0) FROM rooms_queueentry")
        base = c.fetchone()[0]
        t = time.perf_counter()
        with c.cursor.copy(
            "COPY rooms_queueentry (id, room_id, track_id, status, upvotes, downvotes, "
            "autofilled, created_at) FROM STDIN"
        ) as cp:
            for i in range(n):
                at = T0 + timedelta(hours=start_hour + i // 2000, seconds=i % 3600)
                r, tr = rooms[i % len(rooms)].id, tracks[i % len(tracks)].id
                cp.write_row((base + i + 1, r, tr, "played", 0, 0, False, at))
        entries = time.perf_counter() - t
        t = time.perf_counter()
        with c.cursor.copy(
            "COPY rooms_play (room_id, entry_id, track_id, started_at, listeners) FROM STDIN"
        ) as cp:
            for i in range(n):
                at = T0 + timedelta(hours=start_hour + i // 2000, seconds=i % 3600)
                r, tr = rooms[i % len(rooms)].id, tracks[i % len(tracks)].id
                cp.write_row((r, base + i + 1, tr, at, 3))
        plays = time.perf_counter() - t
        c.execute("SELECT setval('rooms_queueentry_id_seq', %s)", [base + n])
    return entries, plays


def bench_ingest(rooms, out, scale):
    """OTS: what a directory page view does (one impressions_record call for its 50 rooms: with
    Redis, an entry in the process's page buffer, sent in batches as the page views fill it) and
    the Celery task's flush into ImpressionCount, which first sends what the buffer still holds:
    the clock stops when the counts are in PostgreSQL. Against binary COPY of one row per
    impression into a logged table shaped like ImpressionCount (id primary key, room, hour,
    surface, count; no unique key, as a raw log)."""
    pages = 2000 * scale
    ids = [r.id for r in rooms]
    if settings.REDIS_URL:
        # A run within the same half-hour slot as the last would find every display seen already.
        from rooms.impressions import _prefix, _redis

        for pattern in (f"{_prefix()}:ots:*", f"{_prefix()}:reach:*"):
            for key in _redis().scan_iter(match=pattern, count=1000):
                _redis().delete(key)
    record, _ = timed(
        lambda: [
            impressions_record(room_ids=ids, surface="directory", viewer=f"v{i % 997}")
            for i in range(pages)
        ]
    )
    flush, _ = timed(impressions_flush)
    buffer = impressions._buffer
    assert buffer is None or len(buffer) == 0, "pages left in the buffer after the flush"
    n = pages * len(ids)
    capture_rate = n / (record + flush)
    with connection.cursor() as c:
        c.execute(
            "CREATE TABLE bench_raw_impression (id bigint GENERATED BY DEFAULT AS IDENTITY "
            "PRIMARY KEY, room_id bigint NOT NULL, hour timestamptz NOT NULL, "
            "surface varchar(10) NOT NULL, count integer NOT NULL)"
        )
        hour = T0
        t = time.perf_counter()
        with c.cursor.copy(
            "COPY bench_raw_impression (room_id, hour, surface, count) FROM STDIN (FORMAT BINARY)"
        ) as cp:
            cp.set_types(["int8", "timestamptz", "varchar", "int4"])
            for i in range(n):
                cp.write_row((ids[i % len(ids)], hour, "directory", 1))
        copy = time.perf_counter() - t
        c.execute("DROP TABLE bench_raw_impression")
    out["ingest"] = {
        "impressions": n,
        "pages": pages,
        "capture_per_s": round(capture_rate),
        "record_s": round(record, 2),
        "per_page_ms": round(1000 * record / pages, 3),
        "flush_s": round(flush, 3),
        "rows_written": ImpressionCount.objects.count(),
        "ots_stored": ImpressionCount.objects.aggregate(n=Sum("count"))["n"],
        "batches": buffer.batches if buffer is not None else 0,
        "copy_per_s": round(n / copy),
        "ratio": round(capture_rate / (n / copy), 2),
        "backend": "redis" if settings.REDIS_URL else "in-process",
    }


def bench_plays(rooms, tracks, out, scale):
    """Plays: room_advance (the real path: the compare-and-set, the queue, the Play row and the
    broadcasts, one transaction per play), the Play insert alone as the advance does it (one
    row in its own transaction), and binary COPY of the same rows into rooms_play."""
    from rooms.models import Play, Playback, QueueEntry
    from rooms.playback import playback_state, room_advance

    Track.objects.filter(id__in=[t.id for t in tracks]).update(
        audio="bench/silence.opus", duration_ms=180_000
    )
    per_room = 10 * scale
    playing = rooms[:20]
    QueueEntry.objects.bulk_create(
        QueueEntry(room=room, track=tracks[(i * 7 + j) % len(tracks)])
        for i, room in enumerate(playing)
        for j in range(per_room + 1)
    )
    for room in playing:
        Playback.objects.get_or_create(room=room)
        room_advance(room_id=room.id, expected_entry_id=None)  # starts the first entry
    before = Play.objects.count()
    t = time.perf_counter()
    for _ in range(per_room):
        for room in playing:
            assert room_advance(room_id=room.id, expected_entry_id=playback_state(room.id)[0])
    advance = time.perf_counter() - t
    advanced = Play.objects.count() - before

    n = 2000 * scale
    entries = QueueEntry.objects.bulk_create(
        QueueEntry(room=rooms[i % len(rooms)], track=tracks[i % len(tracks)], status="played")
        for i in range(2 * n)
    )
    first, second = entries[:n], entries[n:]
    t = time.perf_counter()
    for e in first:
        with transaction.atomic():
            Play.objects.create(
                room_id=e.room_id, entry_id=e.id, track_id=e.track_id, started_at=T0, listeners=3
            )
    insert = time.perf_counter() - t
    with connection.cursor() as c:
        t = time.perf_counter()
        with c.cursor.copy(
            "COPY rooms_play (room_id, entry_id, track_id, started_at, listeners) "
            "FROM STDIN (FORMAT BINARY)"
        ) as cp:
            cp.set_types(["int8", "int8", "int8", "timestamptz", "int4"])
            for e in second:
                cp.write_row((e.room_id, e.id, e.track_id, T0, 3))
        copy = time.perf_counter() - t
    out["plays"] = {
        "advances": advanced,
        "advance_per_s": round(advanced / advance),
        "insert_rows": n,
        "insert_per_s": round(n / insert),
        "copy_per_s": round(n / copy),
        "advance_ratio": round((advanced / advance) / (n / copy), 4),
        "insert_ratio": round((n / insert) / (n / copy), 3),
    }


def _rollup_case(rooms, tracks, history: int, new: int, steady: bool = False) -> dict:
    """One rollup of ``new`` plays over ``history`` rolled up already, beside the bare GROUP BY
    of the same new rows (the median of three runs of it, which reads the same pages).

    The new plays start a day after the history; ``steady`` puts them in the history's last hour
    instead, as a beat run finds them: a few minutes of plays in an hour rolled up before."""
    reset()
    copy_plays(rooms, tracks, history, 0)
    with connection.cursor() as c:
        c.execute("ANALYZE rooms_play")
    rollups.rollup_stat("plays")  # the history is rolled up already
    last_hour = (history - 1) // 2000
    copy_plays(rooms, tracks, new, last_hour if steady else history // 2000 + 25)
    with connection.cursor() as c:
        c.execute("ANALYZE rooms_play")
        c.execute("SELECT MAX(id) FROM rooms_play")
        last = c.fetchone()[0]
        bare_sql = (
            "SELECT date_trunc('hour', started_at), room_id, track_id, count(*) "
            "FROM rooms_play WHERE id > %s GROUP BY 1, 2, 3"
        )
        bares = []
        for _ in range(3):
            start = time.perf_counter()
            c.execute(bare_sql, [last - new])
            c.fetchall()
            bares.append(time.perf_counter() - start)
    bare = statistics.median(bares)
    with CaptureQueriesContext(connection) as queries:
        roll, result = timed(lambda: rollups.rollup_stat("plays"))
    # The rollup's own SELECT of the hour rows (every entity kind from the fine counts),
    # without the days, weeks, comparison or writing.
    merge = next(q["sql"] for q in queries.captured_queries if q["sql"].startswith("WITH"))
    derive_sql = merge[: merge.index(", tk (d, keys) AS")] + " SELECT count(*) FROM e"
    with connection.cursor() as c:
        derive, _ = timed(lambda sql=derive_sql: c.execute(sql))
    assert FillState.objects.get(stat="plays").state == "done"
    return {
        "bare_group_by_s": round(bare, 3),
        "rollup_s": round(roll, 3),
        "ratio": round(roll / bare, 2),
        "derive_ratio": round(derive / bare, 2),
        "statements": len(queries.captured_queries),
        "hours": result["hours"],
        "rows_written": StatCount.objects.filter(stat="plays").count(),
    }


def bench_rollup(rooms, tracks, out, scale, repeat):
    """Each case ``repeat`` times from scratch; the medians, and every ratio (single rollups take
    tens of milliseconds, so one scheduler hiccup moves one run)."""
    results = {}
    cases = (
        ("history", 50_000 * scale, 25_000 * scale, False),
        ("history_x10", 500_000 * scale, 25_000 * scale, False),
        # Five minutes of plays at 2,000 an hour, as the beat's run every 300 s finds them.
        ("steady", 50_000 * scale, 167 * scale, True),
    )
    for name, history, new, steady in cases:
        runs = [_rollup_case(rooms, tracks, history, new, steady) for _ in range(repeat)]
        results[name] = {
            "history_rows": history,
            "new_rows": new,
            **{
                key: statistics.median(r[key] for r in runs)
                for key in ("bare_group_by_s", "rollup_s", "ratio", "derive_ratio")
            },
            "ratios": [r["ratio"] for r in runs],
            "statements": runs[0]["statements"],
            "hours": runs[0]["hours"],
            "rows_stored": runs[0]["rows_written"],
        }
    results["x10_over_x1"] = round(
        results["history_x10"]["rollup_s"] / results["history"]["rollup_s"], 2
    )
    out["rollup"] = results


def bench_export(label, rooms, out, scale):
    StatCount.objects.all().delete()
    n = 200_000 * scale  # hour rows: every hour of each room's days, held in its day rows
    days = n // len(rooms) // 24
    with connection.cursor() as c:
        with c.cursor.copy(
            "COPY analytics_statcount (stat, granularity, bucket_start, entity_type, entity_id, "
            "label_id, value, hours) FROM STDIN"
        ) as cp:
            for d in range(days):
                for k, room in enumerate(rooms):
                    hours = {str(h): 1 + (d * 24 + h + k) % 97 for h in range(24)}
                    cp.write_row(
                        (
                            "plays",
                            "day",
                            T0 + timedelta(days=d),
                            "room",
                            room.id,
                            label.id,
                            sum(hours.values()),
                            json.dumps(hours),
                        )
                    )
        c.execute("ANALYZE analytics_statcount")
    n = days * len(rooms) * 24
    end = T0 + timedelta(days=days - 1)
    filters = Filters(Window(T0.date(), end.date(), "hour"), "room", None, [])
    from analytics.exports import csv_stream

    t = time.perf_counter()
    size = rows = 0
    for chunk in csv_stream(label.id, filters):
        size += len(chunk)
        rows += chunk.count(b"\n")
    ours = time.perf_counter() - t
    # Memory in a second pass: tracemalloc slows Python several times over.
    tracemalloc.start()
    for _chunk in csv_stream(label.id, filters):
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    with connection.cursor() as c:
        t = time.perf_counter()
        buf = 0
        # The same hour rows through the same view, as plain CSV.
        sql = (
            "COPY (SELECT s.bucket_start, s.granularity, s.entity_type, s.entity_id, r.name, "
            "s.stat, s.value FROM analytics_stathour s LEFT JOIN rooms_room r "
            "ON r.id = s.entity_id WHERE s.label_id = %s AND s.entity_type = 'room' "
            "ORDER BY s.bucket_start, s.entity_id, s.stat) TO STDOUT WITH CSV HEADER"
        )
        with c.cursor.copy(sql.replace("%s", str(int(label.id)))) as cp:
            for data in cp:
                buf += len(data)
        copy = time.perf_counter() - t
    out["export"] = {
        "rows": rows - 1,
        "csv_rows_per_s": round((rows - 1) / ours),
        "copy_rows_per_s": round(n / copy),
        "ratio": round(((rows - 1) / ours) / (n / copy), 2),
        "python_peak_mb": round(peak / 1e6, 1),
        "bytes": size,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each rollup case (medians reported)"
    )
    parser.add_argument(
        "--only",
        default="ingest,plays,rollup,export",
        help="comma-separated sections to run (default: all)",
    )
    args = parser.parse_args()
    if not settings.IS_POSTGRES:
        sys.exit("the analytics bench needs PostgreSQL: set DATABASE_URL=postgres://...")
    call_command("migrate", verbosity=0)
    reset()
    label, rooms, tracks = world()
    out = {}
    only = set(args.only.split(","))
    if "ingest" in only:
        bench_ingest(rooms, out, args.scale)
    if "plays" in only:
        bench_plays(rooms, tracks, out, args.scale)
    if "rollup" in only:
        bench_rollup(rooms, tracks, out, args.scale, args.repeat)
    if "export" in only:
        bench_export(label, rooms, out, args.scale)
    reset()
    buf = io.StringIO()
    for section, figures in out.items():
        buf.write(f"{section}: {figures}\n")
    print(buf.getvalue(), end="")


if __name__ == "__main__":
    main()
