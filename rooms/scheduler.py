"""Per-process advance timers: one asyncio timer per room this process has sockets in.

The timer fires at the playing track's end and calls the compare-and-set advance. Every process
with listeners in the room does the same; the database admits one winner, whose `now_playing`
event re-arms every process's timer. A loser (or a process whose event was lost) reads the
playback row and re-arms from it. Rooms without sockets here are the Celery sweep's job.

A second timer per room switches in the room's next premiere a lead time before it starts; it is
looked up when the room gets its first socket here and again on every heartbeat, so a premiere
scheduled later is still caught.
"""

import asyncio
import logging
from dataclasses import dataclass, field

from channels.db import database_sync_to_async

from rooms.playback import playback_state, room_advance
from rooms.presence import HEARTBEAT_EVERY_S, sessions_touch
from rooms.selectors import now_ms

log = logging.getLogger(__name__)
RETRY_S = 0.5
BUSY_RETRY_S = 0.1
# Farther premieres are left to a later heartbeat's look-up rather than a day-long timer.
PREMIERE_HORIZON_S = 3600


@dataclass
class _Room:
    loop: asyncio.AbstractEventLoop
    sessions: set[int] = field(default_factory=set)
    handle: asyncio.TimerHandle | None = None
    entry_id: int | None = None
    ends_at: int | None = None
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


def arm(room_id: int, entry_id: int | None, ends_at: int | None) -> None:
    """Fire at `ends_at` for `entry_id`; idempotent, so every local consumer may call it."""
    state = _rooms.get(room_id)
    if state is None:
        return
    if state.entry_id == entry_id and state.ends_at == ends_at and state.handle is not None:
        return
    if state.handle is not None:
        state.handle.cancel()
        state.handle = None
    state.entry_id, state.ends_at = entry_id, ends_at
    if entry_id is None or ends_at is None:
        return
    delay = max(0.0, (ends_at - now_ms()) / 1000)
    state.handle = state.loop.call_later(delay, _fire, room_id, entry_id)


def _fire(room_id: int, entry_id: int) -> None:
    state = _rooms.get(room_id)
    if state is not None:
        state.handle = None
        _spawn(_advance(room_id, entry_id))


def _advance_then_read(room_id: int, entry_id: int) -> tuple[int | None, int | None]:
    # One trip to the process's database thread, not two: every room's timer queues there.
    room_advance(room_id=room_id, expected_entry_id=entry_id, only_if_due=True)
    return playback_state(room_id)


async def _advance(room_id: int, entry_id: int) -> None:
    try:
        current, ends_at = await database_sync_to_async(_advance_then_read)(room_id, entry_id)
    except Exception:
        log.exception("room %s: advance from timer failed; retrying", room_id)
        current, ends_at = entry_id, now_ms() + int(RETRY_S * 1000)
    if current == entry_id and ends_at is not None:
        # Still due: the row was busy (another process mid-advance: its event re-arms us), a
        # clock a little ahead of the database's, or a failure. Look again soon.
        ends_at = max(ends_at, now_ms() + int(BUSY_RETRY_S * 1000))
        state = _rooms.get(room_id)
        if state is not None:
            state.entry_id = None
    arm(room_id, current, ends_at)


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
        current, ends_at = await database_sync_to_async(playback_state)(room_id)
    except Exception:
        log.exception("room %s: premiere switch failed", room_id)
        state = _rooms.get(room_id)
        if state is not None:
            state.premiere = state.loop.call_later(RETRY_S, _premiere_fire, room_id)
        return
    # Whoever switched it, this process's track timer follows the playback row.
    arm(room_id, current, ends_at)
    await _premiere_lookup(room_id)


def armed(room_id: int) -> tuple[int | None, int | None]:
    """What this process's timer for the room waits for (for tests and diagnostics)."""
    state = _rooms.get(room_id)
    return (state.entry_id, state.ends_at) if state and state.handle else (None, None)
