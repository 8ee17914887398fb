"""Incremental, idempotent rollups with a fill state per stat (after Zulip's analytics).

A run of one stat: find the hours that raw facts newer than the watermark touched, then replace
those hours (and their days and weeks) a week at a time, each in one transaction; the first one
also marks the stat STARTED, the last one marks it DONE with the new watermark (one transaction
does all three for the usual run of one week). A run that dies between two chunks leaves STARTED
and the old watermark behind, so the next run recomputes everything the dead one touched;
recomputing a bucket from the raw facts always gives the same rows, so nothing doubles.
"""

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from analytics import pgsql, sources
from analytics.buckets import hours_between, week_floor
from analytics.models import FillState, Stat

log = logging.getLogger(__name__)
LOCK_SECONDS = 15 * 60


def _chunks(hours: Iterable[datetime]) -> list[list[datetime]]:
    """Group hours by week: one transaction per week keeps backfills bounded."""
    by_week: dict[datetime, list[datetime]] = defaultdict(list)
    for hour in sorted(set(hours)):
        by_week[week_floor(hour)].append(hour)
    return [by_week[w] for w in sorted(by_week)]


def recompute(
    stat: str,
    hours: Iterable[datetime],
    *,
    now: datetime | None = None,
    begin: Callable[[], None] | None = None,
    end: Callable[[], None] | None = None,
) -> int:
    """Replace the given hours of one stat (and the days and weeks holding them).

    ``begin`` runs inside the first chunk's transaction and ``end`` inside the last one's (or in
    a transaction of its own when there is nothing to do): a run's fill state is written with its
    rows, not in commits of its own.
    """
    now = now or timezone.now()
    chunks = _chunks(hours)
    if not chunks and end is not None:
        with transaction.atomic():
            end()
    done = 0
    for i, chunk in enumerate(chunks):
        with transaction.atomic():
            if pgsql.enabled():
                pgsql.chunk_begin(stat)
            if i == 0 and begin is not None:
                begin()
            if stat in sources.EVENTS:
                sources.events_recompute(stat, chunk)
            elif stat in sources.SESSION_STATS:
                sources.sessions_recompute(stat, chunk)
            else:
                sources.impressions_recompute(stat, chunk, now=now)
            if i == len(chunks) - 1 and end is not None:
                end()
        done += len(chunk)
        _after_chunk(stat, done)
    return done


def _after_chunk(stat: str, done: int) -> None:
    """A point between two committed chunks (where a crash test stops a run)."""


def rollup_stat(
    stat: str, *, now: datetime | None = None, extra_hours: Iterable[datetime] = ()
) -> dict:
    """Roll up what is new for one stat. Returns what it did, for logs and tests."""
    now = now or timezone.now()
    lock = f"analytics:rollup:{stat}"
    token = uuid.uuid4().hex
    if not cache.add(lock, token, timeout=LOCK_SECONDS):
        return {"stat": stat, "skipped": "another run holds the lock"}
    try:
        fill, _ = FillState.objects.get_or_create(stat=stat)
        redo = fill.state == FillState.State.STARTED
        if redo:
            log.warning("rollup %s: the run of %s died midway; redoing it", stat, fill.run_started)
        if stat in sources.EVENTS:
            target = sources.events_target(stat, now)
            newest = sources.events_newest(stat)
            hours = (
                sources.events_touched(stat, fill.watermark_id)
                if newest > fill.watermark_id or redo
                else set()
            )
            if stat == Stat.VOTES:
                live_since = sources.votes_live_since()
                hours |= sources.votes_cleared_touched(
                    fill.watermark_time, fill.live_since, live_since, now
                )
        elif stat in sources.SESSION_STATS:
            target = sources.sessions_target()
            hours = sources.sessions_touched(fill.watermark_id, now)
        else:
            hours, target = sources.impressions_touched(fill.watermark_time, now, fill.watermark_id)
        hours |= set(extra_hours)

        def begin():
            # Committed with the first chunk: a run that dies after it leaves STARTED behind.
            fill.state, fill.run_started = FillState.State.STARTED, now
            fill.save(update_fields=["state", "run_started", "updated"])

        def end():
            # Committed with the last chunk: its rows and the new watermark go in together.
            # Events and sessions: an id; impressions: the number of the last flush mark read.
            fill.watermark_id = target
            if stat not in sources.SESSION_STATS:
                fill.watermark_time = now
            if stat == Stat.VOTES:
                fill.live_since = live_since
            fill.state = FillState.State.DONE
            fill.save()

        done = recompute(stat, hours, now=now, begin=begin, end=end)
        return {"stat": stat, "hours": done, "redone": redo}
    finally:
        if cache.get(lock) == token:
            cache.delete(lock)


def rollup_all(
    *,
    now: datetime | None = None,
    extra_hours: Iterable[datetime] = (),
    stats: Iterable[str] | None = None,
) -> list:
    """Roll up what is new for every stat (or the given ones); ``extra_hours`` are the hours an
    impressions flush wrote."""
    now = now or timezone.now()
    extra = set(extra_hours)
    results = []
    for stat in stats or sources.ALL_STATS:
        hours = extra if stat in sources.IMPRESSION_STATS else ()
        results.append(rollup_stat(stat, now=now, extra_hours=hours))
    return results


def rollup_range(
    start: datetime, end: datetime, *, stats: Iterable[str] | None = None
) -> dict[str, int]:
    """Backfill: recompute every hour in [start, end) for the stats (all by default)."""
    hours = hours_between(start, end)
    return {stat: recompute(stat, hours) for stat in (stats or sources.ALL_STATS)}


def stats_all() -> list[str]:
    return [s.value for s in Stat]
