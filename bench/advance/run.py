"""Exactly-once advance under competition: many rooms with short tracks, several processes racing
to advance them, one killed with SIGKILL midway; the database then says whether any advance was
doubled or missed, and how late the advances were.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/roomtone_bench \\
    REDIS_URL=redis://127.0.0.1:6379/11 \\
    python bench/advance/run.py --rooms 200 --procs 4 --seconds 40

Use a scratch database: the bench migrates it and replaces its own rooms (slugs `bench-adv-*`).
An advance is due `ADVANCE_AHEAD_MS` before the playing track ends and starts the next one where
it ends. Reported, on one machine's clock:
- gap: the next track's `started_at` − the replaced track's `ends_at` (what listeners hear
  between two tracks; 0 is back to back);
- lateness: the winner's commit − the moment the advance fell due;
- notice: the next track's `started_at` − the commit (the time clients have to load it).
"""

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BASE_DIR, SLUG_PREFIX, TABLE, django_setup, ensure_table  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = BASE_DIR / "bench" / "results"


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summary(values: list[float], *, over: float) -> dict:
    return {
        "n": len(values),
        "p50": pct(values, 50),
        "p90": pct(values, 90),
        "p99": pct(values, 99),
        "max": max(values) if values else None,
        "mean": round(statistics.fmean(values), 1) if values else None,
        f"over_{over:g}ms": sum(1 for x in values if x > over),
    }


def setup(rooms: int, min_ms: int, max_ms: int) -> list[int]:
    from django.core.management import call_command
    from django.db import connection

    from catalog.models import Track
    from rooms.models import Playback, QueueEntry, Room

    call_command("migrate", verbosity=0)
    ensure_table()
    with connection.cursor() as cur:
        cur.execute(f"TRUNCATE {TABLE}")
    Room.objects.filter(slug__startswith=SLUG_PREFIX).delete()
    Track.objects.filter(audio__startswith="bench/advance/").delete()
    rng = random.Random(7)
    tracks = Track.objects.bulk_create(
        Track(
            title=f"Bench jingle {i}",
            duration_ms=rng.randint(min_ms, max_ms),
            audio=f"bench/advance/{i}.wav",  # never fetched: only duration_ms matters here
        )
        for i in range(60)
    )
    made = Room.objects.bulk_create(
        Room(slug=f"{SLUG_PREFIX}{i}", name=f"Bench room {i}", no_repeat_window=2, autofill=True)
        for i in range(rooms)
    )
    Playback.objects.bulk_create(Playback(room=r) for r in made)
    QueueEntry.objects.bulk_create(
        QueueEntry(room=r, track=t) for r in made for t in rng.sample(tracks, 3)
    )
    return [r.id for r in made]


def start_rooms(room_ids: list[int]) -> None:
    """Start every room once the workers listen: they arm their timers from the `now_playing`
    events, as daphne processes do; autofill keeps every room going after."""
    from rooms.playback import room_advance

    for room_id in room_ids:
        room_advance(room_id=room_id, expected_entry_id=None)


def start_workers(n: int, env: dict) -> list[subprocess.Popen]:
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "worker.py")],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    for p in procs:
        line = p.stdout.readline()
        if not line.startswith("ready"):
            raise SystemExit(f"worker {p.pid} did not start: {line!r}")
        print("  " + line.strip(), flush=True)
    return procs


def verify(room_ids: list[int], t_start: int, t_stop: int, bound_ms: int) -> dict:
    from django.conf import settings
    from django.db import connection

    from rooms.models import Play, Playback, QueueEntry

    with connection.cursor() as cur:
        cur.execute(
            f"SELECT room_id, prev_entry_id, committed_ms, pid, via, called_ms FROM {TABLE}"
            " WHERE prev_entry_id IS NOT NULL"
        )
        records = cur.fetchall()
    entries = {
        e["id"]: e
        for e in QueueEntry.objects.filter(room_id__in=room_ids)
        .exclude(started_at_ms=None)
        .values("id", "room_id", "status", "started_at_ms", "track__duration_ms")
    }
    ends = {i: e["started_at_ms"] + e["track__duration_ms"] for i, e in entries.items()}
    by_prev: dict[int, int] = {}
    for _room, prev, *_ in records:
        by_prev[prev] = by_prev.get(prev, 0) + 1
    duplicates = sum(c - 1 for c in by_prev.values() if c > 1)
    ended = [i for i, e in entries.items() if e["status"] in ("played", "skipped")]
    # An advance whose winner died between COMMIT and writing its record leaves no record.
    unrecorded = [i for i in ended if i not in by_prev]
    playing = QueueEntry.objects.filter(room_id__in=room_ids, status="playing").count()
    plays = Play.objects.filter(room_id__in=room_ids).count()
    stuck = [
        (room_id, t_stop - ends_at)
        for room_id, ends_at in Playback.objects.filter(room_id__in=room_ids).values_list(
            "room_id", "ends_at_ms"
        )
        if ends_at is None or ends_at < t_stop - bound_ms
    ]
    # Every track that ended (by more than the bound) before the stop must have been replaced.
    due = [i for i, end in ends.items() if end < t_stop - bound_ms]
    missed = [i for i in due if entries[i]["status"] == "playing"]
    measured = [r for r in records if r[1] in ends and ends[r[1]] >= t_start]
    # The entry that followed each replaced one: the room's next start.
    by_room: dict[int, list[tuple[int, int]]] = {}
    for i, e in entries.items():
        by_room.setdefault(e["room_id"], []).append((e["started_at_ms"], i))
    following: dict[int, int] = {}
    for starts in by_room.values():
        starts.sort()
        for (_s, a), (_t, b) in zip(starts, starts[1:], strict=False):
            following[a] = b
    ahead = settings.ROOMTONE["ADVANCE_AHEAD_MS"]
    gap, lateness, notice, call_late, txn = [], [], [], [], []
    for _room, prev, committed, _pid, _via, called in measured:
        started = entries[prev]["started_at_ms"]
        due_at = max(started, ends[prev] - ahead)
        lateness.append(committed - due_at)
        call_late.append(called - due_at)
        txn.append(committed - called)
        nxt = following.get(prev)
        if nxt is not None:
            gap.append(entries[nxt]["started_at_ms"] - ends[prev])
            notice.append(entries[nxt]["started_at_ms"] - committed)
    by_via: dict[str, int] = {}
    by_pid: dict[int, int] = {}
    for _room, _prev, _c, pid, via, _called in records:
        by_via[via] = by_via.get(via, 0) + 1
        by_pid[pid] = by_pid.get(pid, 0) + 1
    return {
        "advances": len(records),
        "plays": plays,
        "entries_started": len(entries),
        "plays_equal_entries_started": plays == len(entries),
        "duplicates": duplicates,
        "playing_entries": playing,
        "rooms": len(room_ids),
        "missed": len(missed),
        "rooms_stuck_at_stop": len(stuck),
        "unrecorded_winners": len(unrecorded),
        "expected_advances": len(due),
        "gap_ms": summary(gap, over=50),
        "lateness_ms": summary(lateness, over=50),
        "notice_ms": {
            "min": min(notice, default=None),
            "p1": pct(notice, 1),
            "p50": pct(notice, 50),
        },
        "late_past_bound": sum(1 for x in lateness if x > bound_ms),
        "call_started_late_ms": {"p50": pct(call_late, 50), "p99": pct(call_late, 99)},
        "winning_transaction_ms": {
            "p50": pct(txn, 50),
            "p99": pct(txn, 99),
            "max": max(txn, default=None),
        },
        "won_by": by_via,
        "won_by_pid": by_pid,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rooms", type=int, default=200)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=40)
    ap.add_argument("--kill-at", type=float, default=0.5, help="fraction of the run (0: no kill)")
    ap.add_argument("--lead-ms", type=int, default=1500, help="START_LEAD_MS for the workers")
    ap.add_argument("--bound-ms", type=int, default=1000, help="later than this counts as missed")
    ap.add_argument("--ahead-ms", type=int, default=3000, help="ADVANCE_AHEAD_MS for the workers")
    ap.add_argument("--min-ms", type=int, default=2000, help="shortest track")
    ap.add_argument("--max-ms", type=int, default=4000, help="longest track")
    args = ap.parse_args()

    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a scratch PostgreSQL database.")
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("Set REDIS_URL: the processes share rooms through the channel layer.")
    timing = {"START_LEAD_MS": str(args.lead_ms), "ADVANCE_AHEAD_MS": str(args.ahead_ms)}
    env = {**os.environ, **timing, "LOG_LEVEL": "WARNING"}
    os.environ.update(timing)
    django_setup()
    from django.conf import settings
    from django.db import connection

    print(f"setup: {args.rooms} rooms, tracks of {args.min_ms}-{args.max_ms} ms", flush=True)
    room_ids = setup(args.rooms, args.min_ms, args.max_ms)
    procs = start_workers(args.procs, env)
    time.sleep(1)  # let every worker's group subscriptions settle
    start_rooms(room_ids)
    connection.close()
    # Lateness counts tracks that end from here on: the start of 200 rooms at once is no steady
    # state.
    t_start = int(time.time() * 1000)
    killed = None
    deadline = time.monotonic() + args.seconds
    kill_time = time.monotonic() + args.seconds * args.kill_at if args.kill_at else None
    try:
        while time.monotonic() < deadline:
            if kill_time and killed is None and time.monotonic() >= kill_time:
                killed = procs[0]
                os.kill(killed.pid, signal.SIGKILL)
                at = time.monotonic() - deadline + args.seconds
                print(f"  SIGKILL worker {killed.pid} at {at:.1f} s", flush=True)
            for p in procs:
                if p is not killed and p.poll() is not None:
                    raise SystemExit(f"worker {p.pid} died on its own (exit {p.returncode})")
            time.sleep(0.05)
        t_stop = int(time.time() * 1000)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    result = verify(room_ids, t_start, t_stop, args.bound_ms)
    result["config"] = {
        "rooms": args.rooms,
        "procs": args.procs,
        "seconds": args.seconds,
        "killed_pid": killed.pid if killed else None,
        "lead_ms": args.lead_ms,
        "ahead_ms": args.ahead_ms,
        "track_ms": [args.min_ms, args.max_ms],
        "bound_ms": args.bound_ms,
        "channel_layer": bool(settings.REDIS_URL),
        "conn_max_age": settings.DATABASES["default"].get("CONN_MAX_AGE"),
    }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"advance-{args.rooms}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"saved {out.relative_to(BASE_DIR)}")
    ok = (
        result["duplicates"] == 0
        and result["missed"] == 0
        and result["rooms_stuck_at_stop"] == 0
        and result["late_past_bound"] == 0
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
