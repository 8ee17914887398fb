"""One competing process: what a daphne process and a Celery worker do for every bench room.

It runs the real per-process scheduler (rooms/scheduler.py) with a watch on every bench room,
arms each room's timer from the playback row, follows `now_playing` events through the channel
layer as room consumers do (when REDIS_URL is set), and runs the beat sweep every two seconds
in a thread, as a Celery worker would. Every winning advance is recorded with the winner's
clock at commit.

    python bench/advance/worker.py            (started by run.py)
"""

import asyncio
import os
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SLUG_PREFIX, TABLE, django_setup  # noqa: E402

django_setup()

from channels.db import database_sync_to_async  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import close_old_connections, connection, transaction  # noqa: E402

from rooms import playback, scheduler  # noqa: E402
from rooms.broadcast import room_group  # noqa: E402
from rooms.hub import hub_rooms_enabled  # noqa: E402
from rooms.models import Playback  # noqa: E402
from rooms.tasks import playback_sweep_task  # noqa: E402

SWEEP_EVERY_S = 2.0
PID = os.getpid()
real_advance = playback.room_advance


def recorded(via: str):
    def advance(*, room_id: int, expected_entry_id: int | None, **kwargs) -> bool:
        mark: dict = {}
        called = time.time() * 1000
        with transaction.atomic():
            # Registered before the advance's own broadcasts, so it runs first after COMMIT.
            transaction.on_commit(lambda: mark.setdefault("t", time.time() * 1000))
            won = real_advance(room_id=room_id, expected_entry_id=expected_entry_id, **kwargs)
        if won:
            with connection.cursor() as cur:
                cur.execute(
                    f"INSERT INTO {TABLE}"
                    " (room_id, prev_entry_id, called_ms, committed_ms, pid, via)"
                    " VALUES (%s, %s, %s, %s, %s, %s)",
                    [room_id, expected_entry_id, int(called), int(mark["t"]), PID, via],
                )
        return won

    return advance


scheduler.room_advance = recorded("timer")
playback.room_advance = recorded("sweep")


def sweep_loop(stop: threading.Event) -> None:
    while not stop.is_set():
        started = time.monotonic()
        close_old_connections()
        try:
            playback_sweep_task()
        except Exception as exc:  # a dead database mid-run shows in the report as misses
            print(f"worker {PID}: sweep failed: {exc!r}", file=sys.stderr, flush=True)
        stop.wait(max(0.0, SWEEP_EVERY_S - (time.monotonic() - started)))


async def follow_hub(room_id: int) -> None:
    """What the room hub does for a process with sockets in the room: its tap re-arms the timer
    on every `now_playing` it delivers (the frames themselves go nowhere here)."""
    from rooms.protocol import room_hub

    async def discard(message) -> None:
        pass

    listener = await room_hub().join(room_id, discard)
    listener.start()
    try:
        await asyncio.Event().wait()
    finally:
        room_hub().leave(listener)


async def follow(layer, room_id: int) -> None:
    """What a room consumer does with the room's events: re-arm on `now_playing`."""
    channel = await layer.new_channel()
    await layer.group_add(room_group(room_id), channel)
    while True:
        message = await layer.receive(channel)
        if message.get("event") == "now_playing":
            scheduler.arm(room_id, message.get("entry_id"), message.get("ends_at"))


async def main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    def rooms():
        return list(
            Playback.objects.filter(room__slug__startswith=SLUG_PREFIX).values_list(
                "room_id", "current_entry_id", "started_at_ms", "ends_at_ms"
            )
        )

    rows = await database_sync_to_async(rooms)()
    for room_id, entry_id, started_at, ends_at in rows:
        scheduler.watch(room_id, -1)
        scheduler.arm(room_id, entry_id, ends_at, started_at)
    followers = []
    if settings.REDIS_URL and hub_rooms_enabled():
        followers = [asyncio.create_task(follow_hub(r[0])) for r in rows]
    elif settings.REDIS_URL:
        layer = get_channel_layer()
        followers = [asyncio.create_task(follow(layer, r[0])) for r in rows]
    halt = threading.Event()
    sweeper = threading.Thread(target=sweep_loop, args=(halt,), daemon=True)
    sweeper.start()
    print(f"ready {PID} rooms={len(rows)} layer={bool(followers)}", flush=True)
    await stop.wait()
    halt.set()
    for task in followers:
        task.cancel()
    await asyncio.gather(*followers, return_exceptions=True)
    for room_id, *_ in rows:
        scheduler.unwatch(room_id, -1)
    await asyncio.gather(*scheduler._tasks, return_exceptions=True)
    sweeper.join(timeout=5)


if __name__ == "__main__":
    asyncio.run(main())
