"""Set-based rollups on PostgreSQL: whole buckets recomputed by the database, not in Python.

The portable code in ``sources`` reads the fine counts (hour × room × track) into Python and
derives rooms, tracks, artists and labels there. Here the same fine counts are one materialized
CTE, and every entity kind is a GROUP BY over it, joined to the owners' tables, all inserted by
one ``INSERT … SELECT … ON CONFLICT DO UPDATE``. Days and weeks of additive stats are summed from
the finer buckets by one statement each. The rows are the same as the portable path's, so the
truth test judges both.
"""

from collections.abc import Iterable
from datetime import datetime

from django.db import connection
from django.db.models import Q

from analytics.buckets import DAY, HOUR, WEEK, day_floor, ranges, week_floor
from analytics.models import Granularity, StatCount
from catalog.models import Artist, Track
from rooms.models import Room

COLUMNS = "(stat, granularity, bucket_start, entity_type, entity_id, label_id, value)"
CONFLICT = (
    "ON CONFLICT (entity_type, entity_id, granularity, stat, bucket_start) "
    "DO UPDATE SET value = EXCLUDED.value, label_id = EXCLUDED.label_id"
)
TRUNC = {Granularity.DAY: "day", Granularity.WEEK: "week"}  # date_trunc's weeks start Monday
STEP = {Granularity.HOUR: HOUR, Granularity.DAY: DAY, Granularity.WEEK: WEEK}


def enabled() -> bool:
    return connection.vendor == "postgresql"


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _bucket_q(granularity: str, starts: Iterable[datetime]) -> Q:
    q = Q()
    for start, end in ranges(starts, STEP[granularity]):
        q |= Q(bucket_start__gte=start, bucket_start__lt=end)
    return q


def buckets_delete(*, stat: str, granularity: str, starts: Iterable[datetime]) -> None:
    """One DELETE for all the buckets (contiguous runs become ranges the index serves)."""
    q = _bucket_q(granularity, starts)
    if q:
        StatCount.objects.filter(q, stat=stat, granularity=granularity).delete()


def _entity_selects(has_track: bool) -> list[str]:
    """SELECTs of (entity_type, entity_id, label_id, h, value) over the CTE ``fine(h, r, t, n)``.

    Only our own table names are interpolated; every value is a parameter.

    A label counts an event once even when both its room and its track are the label's.
    """
    room, track = _table(Room), _table(Track)
    selects = [
        f"SELECT 'room', f.r, o.label_id, f.h, SUM(f.n) FROM fine f LEFT JOIN {room} o "  # noqa: S608
        "ON o.id = f.r WHERE f.r IS NOT NULL GROUP BY f.h, f.r, o.label_id"
    ]
    labels = f"SELECT f.h, o.label_id AS lbl, f.n FROM fine f JOIN {room} o ON o.id = f.r"  # noqa: S608
    if has_track:
        through = Track.artists.through
        selects += [
            f"SELECT 'track', f.t, o.label_id, f.h, SUM(f.n) FROM fine f LEFT JOIN {track} o "  # noqa: S608
            "ON o.id = f.t WHERE f.t IS NOT NULL GROUP BY f.h, f.t, o.label_id",
            f"SELECT 'artist', ta.artist_id, a.label_id, f.h, SUM(f.n) FROM fine f "  # noqa: S608
            f"JOIN {_table(through)} ta ON ta.track_id = f.t "
            f"LEFT JOIN {_table(Artist)} a ON a.id = ta.artist_id "
            "GROUP BY f.h, ta.artist_id, a.label_id",
        ]
        labels += (
            f" UNION ALL SELECT f.h, o.label_id, f.n FROM fine f JOIN {track} o ON o.id = f.t "  # noqa: S608
            f"LEFT JOIN {room} ro ON ro.id = f.r "
            "WHERE o.label_id IS DISTINCT FROM ro.label_id"
        )
    selects.append(
        f"SELECT 'label', x.lbl, x.lbl, x.h, SUM(x.n) FROM ({labels}) x "  # noqa: S608
        "WHERE x.lbl IS NOT NULL GROUP BY x.h, x.lbl"
    )
    return selects


def hours_insert(*, stat: str, fine, has_track: bool, naive_hour: bool) -> int:
    """Insert the hour rows of every entity kind from a fine-count queryset.

    ``fine`` yields (hour, room_id, track_id, n) — or (hour, room_id, n) without tracks — one row
    per group; ``naive_hour`` says its hour is a UTC timestamp without time zone (TruncHour).
    """
    sql, params = fine.query.sql_with_params()
    cols = "h, r, t, n" if has_track else "h, r, n"
    hour = "e.h AT TIME ZONE 'UTC'" if naive_hour else "e.h"
    body = " UNION ALL ".join(_entity_selects(has_track))
    statement = (
        f"WITH fine ({cols}) AS MATERIALIZED ({sql}), "  # noqa: S608 - our SQL; values are params
        f"e (et, eid, lbl, h, v) AS ({body}) "
        f"INSERT INTO {_table(StatCount)} {COLUMNS} "
        f"SELECT %s, 'hour', {hour}, e.et, e.eid, e.lbl, e.v FROM e WHERE e.v <> 0 {CONFLICT}"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [*params, stat])
        return cursor.rowcount


def sum_up(*, stat: str, hours: Iterable[datetime]) -> None:
    """Rebuild the days holding the hours from their hours, then their weeks from the days."""
    days = {day_floor(h) for h in hours}
    weeks = {week_floor(d) for d in days}
    for source, target, starts in (
        (Granularity.HOUR, Granularity.DAY, days),
        (Granularity.DAY, Granularity.WEEK, weeks),
    ):
        buckets_delete(stat=stat, granularity=target, starts=starts)
        fine = StatCount.objects.filter(
            _bucket_q(target, starts), stat=stat, granularity=source
        ).values_list("bucket_start", "entity_type", "entity_id", "label_id", "value")
        sql, params = fine.query.sql_with_params()
        trunc = f"date_trunc('{TRUNC[target]}', s.b AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
        statement = (
            f"INSERT INTO {_table(StatCount)} {COLUMNS} "  # noqa: S608 - our SQL only
            f"SELECT %s, %s, {trunc}, s.et, s.eid, MAX(s.lbl), SUM(s.v) "
            f"FROM ({sql}) s (b, et, eid, lbl, v) GROUP BY 3, s.et, s.eid {CONFLICT}"
        )
        with connection.cursor() as cursor:
            cursor.execute(statement, [stat, target, *params])


def relaxed_commit() -> None:
    """Inside a rollup transaction: commit without waiting for the WAL flush.

    Safe because every bucket can be recomputed: the run marks its stat DONE afterwards in an
    ordinary (synchronous) commit, which flushes the WAL written before it; a crash before that
    leaves the stat STARTED and the next run redoes the buckets.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
