"""The room's clock: which entry plays, since when, and the exactly-once advance to the next.

Every process that notices a track's advance is due (its asyncio timer, the Celery sweep, a
join) calls `room_advance` naming the entry it saw playing. The first statement is a
compare-and-set on the playback row; PostgreSQL re-checks the WHERE clause of a blocked UPDATE
against the winner's committed row, so exactly one caller updates a row and the others see a row
count of 0.

Back to back: the advance is due `ADVANCE_AHEAD_MS` before the playing track ends (never before
it has started), and the next track starts at the playing one's `ends_at` exactly, so a late
timer or a slow transaction costs nothing audible unless it is later than the ahead time minus
the start lead. Clients keep the ending track playing until the next one's `started_at`.
"""

import logging
import random
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction

from rooms.broadcast import emit_djs, emit_now_playing, emit_queue
from rooms.models import DJSeat, Play, Playback, Premiere, QueueEntry, Room
from rooms.selectors import listener_count, now_ms, ordered_queue

log = logging.getLogger(__name__)

# A timer may fire a little early on another process's clock; let it win anyway.
DUE_TOLERANCE_MS = 50
AUTOFILL_LOOKBACK = 200


def ahead_ms() -> int:
    """How long before a track's end the advance past it is due (at least the start lead)."""
    lead = settings.ROOMTONE["START_LEAD_MS"]
    return max(lead, settings.ROOMTONE.get("ADVANCE_AHEAD_MS", lead))


def advance_due_ms(started_at: int | None, ends_at: int | None) -> int | None:
    """When the advance past a track that plays from `started_at` to `ends_at` is due."""
    if ends_at is None:
        return None
    due = ends_at - ahead_ms()
    return due if started_at is None else max(due, started_at)


def lock_room(room_id: int) -> Playback:
    """Lock the room's playback row for the rest of the transaction.

    Every room writer takes this lock first, so writers of one room never deadlock on each other
    (playback row, then entries) and their event numbers follow commit order.
    """
    Playback.objects.get_or_create(room_id=room_id)
    return Playback.objects.select_for_update().get(room_id=room_id)


def _autofill(room: Room) -> QueueEntry | None:
    """A new entry from the room's own history, avoiding its no-repeat window when it can."""
    from catalog.models import Track

    recent = list(
        QueueEntry.objects.filter(room=room)
        .exclude(status=QueueEntry.Status.QUEUED)
        .order_by("-id")
        .values_list("track_id", flat=True)[:AUTOFILL_LOOKBACK]
    )
    if not recent:
        return None
    distinct = list(dict.fromkeys(recent))
    playable = set(
        Track.objects.filter(id__in=distinct, duration_ms__gt=0)
        .exclude(audio="")
        .values_list("id", flat=True)
    )
    blocked = set(recent[: room.no_repeat_window])
    fresh = [t for t in distinct if t in playable and t not in blocked]
    if fresh:
        track_id = random.choice(fresh)
    else:
        # A small history: replay its least recently played track rather than fall silent.
        stale = [t for t in distinct if t in playable]
        if not stale:
            return None
        track_id = stale[-1]
    return QueueEntry.objects.create(
        room=room, track_id=track_id, autofilled=True, status=QueueEntry.Status.QUEUED
    )


def held_for_premiere(room_id: int) -> bool:
    """A room whose premiere has no track of its own stays silent until the premiere starts it."""
    return Premiere.objects.filter(room_id=room_id, started=False, track__isnull=True).exists()


def _pick_next(room: Room) -> QueueEntry | None:
    for entry in ordered_queue(room):
        if entry.track.playable:
            if room.mode == Room.Mode.DJ:
                # The DJ who just got a turn goes to the back of the rotation.
                last = DJSeat.objects.filter(room=room).order_by("-position").first()
                DJSeat.objects.filter(room=room, user_id=entry.added_by_id).update(
                    position=(last.position if last else 0) + 1
                )
            return entry
        # The audio went away after it was queued: it can never play.
        QueueEntry.objects.filter(id=entry.id).update(status=QueueEntry.Status.REMOVED)
    if room.autofill:
        return _autofill(room)
    return None


def room_advance(
    *,
    room_id: int,
    expected_entry_id: int | None,
    skipped: bool = False,
    only_if_due: bool = False,
) -> bool:
    """Move the room past `expected_entry_id` (None: start an idle room). True if this call did.

    `only_if_due` refuses while the advance past the expected entry is not due yet (timers and
    sweeps pass it; skips do not), and starts the next track where the expected one ends.
    """
    with transaction.atomic():
        now = now_ms()
        follows = None  # when the replaced track ends: the next one starts there
        if only_if_due and expected_entry_id is not None:
            # Every process's timer and sweep race here. A loser must not queue behind the
            # winner's transaction (its process's other rooms would wait with it): a locked row
            # is skipped and the caller looks again shortly.
            row = (
                Playback.objects.select_for_update(skip_locked=True)
                .filter(room_id=room_id)
                .values_list("current_entry_id", "started_at_ms", "ends_at_ms")
                .first()
            )
            if row is None or row[0] != expected_entry_id:
                return False
            due = advance_due_ms(row[1], row[2])
            if due is None or due > now + DUE_TOLERANCE_MS:
                return False
            follows = row[2]
        else:
            Playback.objects.get_or_create(room_id=room_id)
        claim = Playback.objects.filter(room_id=room_id, current_entry_id=expected_entry_id)
        if follows is not None:
            claim = claim.filter(ends_at_ms=follows)
        claimed = claim.update(
            current_entry=None, started_at_ms=None, ends_at_ms=None, paused=False, paused_at_ms=None
        )
        if claimed != 1:
            return False
        room = Room.objects.get(pk=room_id)
        starts = now + settings.ROOMTONE["START_LEAD_MS"]
        if follows is not None:
            # Back to back when on time; a late advance still leaves every client the start lead.
            starts = max(follows, starts)
        if expected_entry_id is not None:
            QueueEntry.objects.filter(
                id=expected_entry_id, status=QueueEntry.Status.PLAYING
            ).update(
                status=QueueEntry.Status.SKIPPED if skipped else QueueEntry.Status.PLAYED,
                ended_at=datetime.fromtimestamp(min(starts, follows or starts) / 1000, tz=UTC),
            )
        entry = None if held_for_premiere(room_id) else _pick_next(room)
        if entry is None and follows is not None and follows > now:
            # Nothing to follow yet: the track plays to its end (a fan may still queue one) and
            # the advance waits for that end. Undo the claim (and whatever picking wrote).
            transaction.set_rollback(True)
            return False
        if entry is None:
            if expected_entry_id is None:
                return False  # idle before and after: nothing to tell anyone
        else:
            _start(room, entry, now, started=starts)
        emit_now_playing(room_id)
        emit_queue(room)
        if room.mode == Room.Mode.DJ:
            emit_djs(room_id)
        return True


def _start(room: Room, entry: QueueEntry, now: int, *, started: int | None = None) -> None:
    """Play `entry` from `started` (default: the start lead from now); the caller holds the row."""
    if started is None:
        started = now + settings.ROOMTONE["START_LEAD_MS"]
    ends = started + entry.track.duration_ms
    QueueEntry.objects.filter(id=entry.id).update(
        status=QueueEntry.Status.PLAYING, started_at_ms=started
    )
    Playback.objects.filter(room_id=room.id).update(
        current_entry_id=entry.id,
        started_at_ms=started,
        ends_at_ms=ends,
        paused=False,
        paused_at_ms=None,
    )
    Play.objects.create(
        room=room,
        entry_id=entry.id,
        track_id=entry.track_id,
        dj_id=entry.added_by_id if room.mode == Room.Mode.DJ else None,
        started_at=datetime.fromtimestamp(started / 1000, tz=UTC),
        listeners=listener_count(room.id),
    )


def start_if_idle(room: Room) -> bool:
    """Inside a writer's transaction: start playing if nothing is."""
    return room_advance(room_id=room.id, expected_entry_id=None)


def playback_times(room_id: int) -> tuple[int | None, int | None, int | None]:
    """The playing entry, its start and its end (server ms); Nones when idle or paused."""
    row = (
        Playback.objects.filter(room_id=room_id)
        .values_list("current_entry_id", "started_at_ms", "ends_at_ms")
        .first()
    )
    return row or (None, None, None)


def playback_state(room_id: int) -> tuple[int | None, int | None]:
    """The playing entry and when the advance past it is due (None, None: idle or paused)."""
    entry_id, started_at, ends_at = playback_times(room_id)
    return entry_id, advance_due_ms(started_at, ends_at)


def playback_heal(room_id: int) -> bool:
    """The lazy check on join and on sync: start a due premiere, advance a room whose timer was
    lost."""
    from rooms.services.premieres import premieres_start_due

    if premieres_start_due(room_id=room_id):
        return True
    entry_id, started_at, ends_at = playback_times(room_id)
    if entry_id is not None:
        due = advance_due_ms(started_at, ends_at)
        if due is not None and due <= now_ms():
            return room_advance(room_id=room_id, expected_entry_id=entry_id, only_if_due=True)
        return False
    if QueueEntry.objects.filter(room_id=room_id, status=QueueEntry.Status.QUEUED).exists():
        return room_advance(room_id=room_id, expected_entry_id=None)
    return False


# The sweep is the backstop for rooms no process holds a timer for (and for lost timers): it
# leaves a room's advance to the timers for this long after it falls due.
SWEEP_GRACE_MS = 500


def playback_sweep(*, now: int | None = None) -> int:
    """Advance every room whose advance is overdue; returns how many advanced here."""
    now = now or now_ms()
    due = list(
        Playback.objects.filter(
            ends_at_ms__lte=now + ahead_ms() - SWEEP_GRACE_MS,
            started_at_ms__lte=now - SWEEP_GRACE_MS,
            current_entry__isnull=False,
            paused=False,
        ).values_list("room_id", "current_entry_id")[:500]
    )
    advanced = 0
    for room_id, entry_id in due:
        try:
            advanced += room_advance(room_id=room_id, expected_entry_id=entry_id, only_if_due=True)
        except Exception:
            log.exception("room %s: advance failed", room_id)
    return advanced
