"""Per-process advance timers: one asyncio timer per room this process has sockets in.

The timer fires when the advance past the playing track is due (`ADVANCE_AHEAD_MS` before its
end: see rooms/playback.py) and calls the compare-and-set advance. Every process
with listeners in the room does the same; the database admits one winner, whose `now_playing`
event re-arms every process's timer. A loser (or a process whose event was lost) reads the
playback row and re-arms from it. Rooms without sockets here are the Celery sweep's job.

A second timer per room switches in the room's next premiere a lead time before it starts; it is
looked up when the room gets its first socket here and again on every heartbeat, so a premiere
scheduled later is still caught.
"""

import asyncio
import logging
import random
from dataclasses import dataclass, field

from channels.db import database_sync_to_async

from rooms.playback import advance_due_ms, playback_state, playback_times, room_advance
from rooms.presence import HEARTBEAT_EVERY_S, sessions_touch
from rooms.selectors import now_ms

log = logging.getLogger(__name__)
RETRY_S = 0.5
BUSY_RETRY_S = 0.1
# Every process with listeners in a room holds a timer for it. Each fires at a random point of
# this spread after the advance falls due, so one usually wins alone and its `now_playing`
# re-arms the others before they try: one advance transaction, not one per process. It costs
# nothing audible: the next track starts where the last ends as long as the advance commits
# within ADVANCE_AHEAD_MS - START_LEAD_MS (1.5 s by default) of falling due.
SPREAD_S = 0.2
# Farther premieres are left to a later heartbeat's look-up rather than a day-long timer.
PREMIERE_HORIZON_S = 3600


@dataclass
class _Room:
    loop: asyncio.AbstractEventLoop
    sessions: set[int] = field(default_factory=set)
    handle: asyncio.TimerHandle | None = None
    entry_id: int | None = None
    due_at: int | None = None
    heartbeat: asyncio.TimerHandle | None = None
    premiere: asyncio.TimerHandle | None = None
    premiere_at: int | None = None


_rooms: dict[int, _Room] = {}
_tasks: set[asyncio.Task] = set()


def _spawn(coro) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


def watch(room_id: int, session_id: int) -> None:
    loop = asyncio.get_running_loop()
    state = _rooms.get(room_id)
    if state is None or state.loop is not loop:
        state = _rooms[room_id] = _Room(loop=loop)
        state.heartbeat = loop.call_later(HEARTBEAT_EVERY_S, _beat, room_id)
        _spawn(_premiere_lookup(room_id))
    state.sessions.add(session_id)


def unwatch(room_id: int, session_id: int) -> None:
    state = _rooms.get(room_id)
    if state is None:
        return
    state.sessions.discard(session_id)
    if not state.sessions:
        for handle in (state.handle, state.heartbeat, state.premiere):
            if handle is not None:
                handle.cancel()
        del _rooms[room_id]


def arm(room_id: int, entry_id: int | None, ends_at: int | None, started_at: int | None = None):
    """Fire when the advance past `entry_id` (playing until `ends_at`) is due; idempotent, so
    every local consumer may call it."""
    _arm_due(room_id, entry_id, advance_due_ms(started_at, ends_at))


def _arm_due(room_id: int, entry_id: int | None, due_at: int | None) -> None:
    state = _rooms.get(room_id)
    if state is None:
        return
    if state.entry_id == entry_id and state.due_at == due_at and state.handle is not None:
        return
    if state.handle is not None:
        state.handle.cancel()
        state.handle = None
    state.entry_id, state.due_at = entry_id, due_at
    if entry_id is None or due_at is None:
        return
    delay = max(0.0, (due_at - now_ms()) / 1000) + random.uniform(0, SPREAD_S)  # noqa: S311
    state.handle = state.loop.call_later(delay, _fire, room_id, entry_id)


def _fire(room_id: int, entry_id: int) -> None:
    state = _rooms.get(room_id)
    if state is not None:
        state.handle = None
        _spawn(_advance(room_id, entry_id))


def _advance_then_read(room_id: int, entry_id: int) -> tuple[int | None, int | None, int | None]:
    # One trip to the process's database thread, not two: every room's timer queues there.
    room_advance(room_id=room_id, expected_entry_id=entry_id, only_if_due=True)
    return playback_times(room_id)


async def _advance(room_id: int, entry_id: int) -> None:
    try:
        current, started_at, ends_at = await database_sync_to_async(_advance_then_read)(
            room_id, entry_id
        )
    except Exception:
        log.exception("room %s: advance from timer failed; retrying", room_id)
        current, started_at, ends_at = entry_id, None, now_ms() + int(RETRY_S * 1000)
    due_at = advance_due_ms(started_at, ends_at)
    now = now_ms()
    if current == entry_id and due_at is not None and due_at <= now:
        # Due but not advanced: nothing is queued to follow yet (the advance waits for the
        # track's end), the row was busy (another process mid-advance: its event re-arms us), a
        # clock a little ahead of the database's, or a failure. Look again at the end, or soon.
        due_at = max(ends_at, now + int(BUSY_RETRY_S * 1000))
        state = _rooms.get(room_id)
        if state is not None:
            state.entry_id = None
    # Not due yet (a track shorter than the ahead time has not started): fire when it is.
    _arm_due(room_id, current, due_at)


def _beat(room_id: int) -> None:
    state = _rooms.get(room_id)
    if state is None:
        return
    _spawn(database_sync_to_async(sessions_touch)(session_ids=list(state.sessions)))
    _spawn(_premiere_lookup(room_id))
    state.heartbeat = state.loop.call_later(HEARTBEAT_EVERY_S, _beat, room_id)


async def _premiere_lookup(room_id: int) -> None:
    from rooms.services.premieres import premiere_next_ms

    try:
        starts_at = await database_sync_to_async(premiere_next_ms)(room_id=room_id)
    except Exception:
        log.exception("room %s: premiere look-up failed", room_id)
        return
    arm_premiere(room_id, starts_at)


def arm_premiere(room_id: int, starts_at: int | None) -> None:
    """Fire the premiere switch a lead time before `starts_at` (None: no premiere ahead)."""
    from rooms.services.premieres import premiere_lead_ms

    state = _rooms.get(room_id)
    if state is None or (state.premiere_at == starts_at and state.premiere is not None):
        return
    if state.premiere is not None:
        state.premiere.cancel()
        state.premiere = None
    state.premiere_at = starts_at
    if starts_at is None:
        return
    delay = max(0.0, (starts_at - premiere_lead_ms() - now_ms()) / 1000)
    if delay <= PREMIERE_HORIZON_S:
        state.premiere = state.loop.call_later(delay, _premiere_fire, room_id)


def _premiere_fire(room_id: int) -> None:
    state = _rooms.get(room_id)
    if state is not None:
        state.premiere = None
        state.premiere_at = None
        _spawn(_premiere_switch(room_id))


async def _premiere_switch(room_id: int) -> None:
    from rooms.services.premieres import premieres_start_due

    try:
        await database_sync_to_async(premieres_start_due)(room_id=room_id)
        current, due_at = await database_sync_to_async(playback_state)(room_id)
    except Exception:
        log.exception("room %s: premiere switch failed", room_id)
        state = _rooms.get(room_id)
        if state is not None:
            state.premiere = state.loop.call_later(RETRY_S, _premiere_fire, room_id)
        return
    # Whoever switched it, this process's track timer follows the playback row.
    _arm_due(room_id, current, due_at)
    await _premiere_lookup(room_id)


def armed(room_id: int) -> tuple[int | None, int | None]:
    """What this process's timer for the room waits for: (entry, due time), for tests and
    diagnostics."""
    state = _rooms.get(room_id)
    return (state.entry_id, state.due_at) if state and state.handle else (None, None)
