"""Shared by the bench's server app, raw server, clients and publisher."""

import asyncio
import json
import resource
import time

ROOM_ID = 1
GROUP = "bench"
# The room the `real*` targets serve (bench/fanout/real.py makes it).
REAL_SLUG = "fanout-bench"


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def make_event(seq: int) -> dict:
    """A ~200-byte room event; `ts` is the publisher's send time (same machine, same clock)."""
    return {"seq": seq, "ts": round(time.time(), 6), "type": "chat.message", "pad": "x" * 140}


def snapshot_dict(seq: int) -> dict:
    """A snapshot-like frame of about 4 KB: a room, a queue of 20 entries, recent chat."""
    track = {"id": 1, "title": "A track title", "artist_names": "Some Artist", "duration_ms": 1}
    return {
        "type": "snapshot",
        "seq": seq,
        "server_time": int(time.time() * 1000),
        "queue": [{"entry_id": i, "track": track, "up": 3, "down": 1} for i in range(20)],
        "chat": [{"id": i, "user": "fan", "text": "hello " * 5} for i in range(20)],
    }


async def build_snapshot(seq: int, delay_ms: float) -> dict:
    # Stands in for the database round trips of rooms.selectors.room_snapshot.
    await asyncio.sleep(delay_ms / 1000)
    return snapshot_dict(seq)


SNAPSHOT_TEXT = json.dumps(snapshot_dict(0))
