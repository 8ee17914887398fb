"""Set-based rollups on PostgreSQL: whole buckets recomputed by the database, not in Python.

The portable code in ``sources`` reads the fine counts (hour × room × track) into Python and
derives rooms, tracks, artists and labels there, then replaces the buckets. Here one statement
per chunk does it all for an additive stat: the hour rows of every entity kind (a GROUP BY over
the fine counts, joined to the owners' tables) folded into their day rows (the day's other stored
hours plus the new ones, and their sum), and the weeks (summed from days), compared with the
stored rows of those buckets:
rows that are gone are deleted, changed ones updated, new ones inserted, and unchanged ones are
not written at all. The rows are the same as the portable path's, so the truth test judges both.

Writers of one stat are kept apart by a transaction-level advisory lock (``chunk_begin``), so the
plain INSERT never meets a row a concurrent writer is adding (a backfill beside the beat run).
"""

from collections.abc import Iterable
from datetime import datetime

from django.db import connection

from analytics.buckets import DAY, HOUR, WEEK, day_floor, hour_floor, ranges, week_floor
from analytics.models import StatCount
from catalog.models import Artist, Track
from rooms.models import ListeningSession, Room

COLUMNS = "(stat, granularity, bucket_start, entity_type, entity_id, label_id, value, hours)"


def enabled() -> bool:
    return connection.vendor == "postgresql"


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def chunk_begin(stat: str) -> None:
    """At the start of a rollup transaction: one writer per stat, and a commit that does not wait
    for the WAL flush (nor compile its statements: no JIT).

    The lock is held to the end of the transaction. Committing without the flush is safe because
    every bucket can be recomputed and the fill state is written in the same transactions as the
    rows (``rollups.recompute``): a crash loses the last commits whole, in order, so what survives
    is either the whole run (DONE and its watermark), or its first chunks with STARTED (the next
    run redoes them), or nothing of it (the old watermark: the next run covers it).
    """
    with connection.cursor() as cursor:
        # The estimates of these statements run far above their rows, and compiling them would
        # cost more than running them: no JIT.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0)), "
            "set_config('synchronous_commit', 'off', true), set_config('jit', 'off', true)",
            [f"rollup:{stat}"],
        )


def _in(column: str, starts: Iterable[datetime], step) -> tuple[str, list]:
    """``column`` within the buckets (contiguous runs become one range), as SQL and params."""
    parts, params = [], []
    for start, end in ranges(starts, step):
        parts.append(f"({column} >= %s AND {column} < %s)")
        params += [start, end]
    return " OR ".join(parts) or "FALSE", params


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


def events_merge(*, stat: str, hours: list[datetime], fine, has_track: bool, naive_hour: bool):
    """Recompute the hours (and their days and weeks) of an additive stat from a fine-count
    queryset: ``fine`` yields (hour, room_id, track_id, n) — or (hour, room_id, n) without
    tracks — one row per group; ``naive_hour`` says its hour is a UTC timestamp without time zone
    (TruncHour)."""
    sql, params = fine.query.sql_with_params()
    cols = "h, r, t, n" if has_track else "h, r, n"
    hour = "h AT TIME ZONE 'UTC'" if naive_hour else "h"
    body = " UNION ALL ".join(_entity_selects(has_track))
    prelude = (
        f"fine ({cols}) AS MATERIALIZED ({sql}), "  # noqa: S608 - our SQL; values are params
        f"e0 (et, eid, lbl, h, v) AS ({body}), "
        f"e (et, eid, lbl, h, v) AS (SELECT et, eid, lbl, {hour}, v FROM e0)"
    )
    return _merge(stat=stat, hours=hours, prelude=prelude, params=list(params))


def listening_merge(*, stat: str, hours: list[datetime], max_session) -> tuple[int, int, int]:
    """Listening time: every closed session overlapping a run of the hours (and started at most
    ``max_session`` before it), cut at the hour edges to the millisecond (whole milliseconds since
    the epoch, floored, as ``buckets.to_ms``), summed per room and per the room's label."""
    sessions, room = _table(ListeningSession), _table(Room)
    values, params = [], []
    for start, end in ranges(hours, HOUR):
        values.append("(%s::timestamptz, %s::timestamptz)")
        params += [start, end]
    ms = "floor(extract(epoch FROM {}) * 1000)::bigint"
    lo, hi = "GREATEST(s.started_at, g.h)", "LEAST(s.ended_at, g.h + interval '1 hour')"
    prelude = (
        "part (r, h, ms) AS MATERIALIZED ("  # noqa: S608 - our SQL; values are params
        f"SELECT s.room_id, g.h, {ms.format(hi)} - {ms.format(lo)} "
        f"FROM (VALUES {', '.join(values)}) rg (lo, hi) JOIN {sessions} s "
        "ON s.started_at < rg.hi AND s.started_at >= rg.lo - %s AND s.ended_at > rg.lo "
        "CROSS JOIN LATERAL generate_series(date_trunc('hour', s.started_at AT TIME ZONE 'UTC') "
        "AT TIME ZONE 'UTC', s.ended_at, interval '1 hour') g (h) "
        "WHERE s.ended_at IS NOT NULL AND g.h < s.ended_at AND g.h >= rg.lo AND g.h < rg.hi), "
        "e (et, eid, lbl, h, v) AS ("
        f"SELECT 'room', p.r, o.label_id, p.h, SUM(p.ms) FROM part p LEFT JOIN {room} o "
        "ON o.id = p.r GROUP BY p.h, p.r, o.label_id "
        f"UNION ALL SELECT 'label', o.label_id, o.label_id, p.h, SUM(p.ms) FROM part p "
        f"JOIN {room} o ON o.id = p.r WHERE o.label_id IS NOT NULL GROUP BY p.h, o.label_id)"
    )
    return _merge(stat=stat, hours=hours, prelude=prelude, params=[*params, max_session])


def _merge(*, stat: str, hours: list[datetime], prelude: str, params: list):
    """Bring the stored days and weeks of ``stat`` in line with the hour rows of the CTE
    ``e (et, eid, lbl, h, v)`` that ``prelude`` defines (``h`` a UTC timestamptz). Returns the
    numbers of rows deleted, updated and inserted.

    A day row keeps its hours in ``hours`` ({"hour of the day": value}): the recomputed hours
    replace theirs, the others stay, and its value is their sum.
    """
    touched: dict[datetime, list[str]] = {}
    for h in sorted({hour_floor(h) for h in hours}):
        touched.setdefault(day_floor(h), []).append(str(h.hour))
    days = sorted(touched)
    weeks = sorted({week_floor(d) for d in days})
    in_days, p_days = _in("o.b", days, DAY)
    s_weeks, ps_weeks = _in("s.bucket_start", weeks, WEEK)
    tk = ", ".join("(%s::timestamptz, %s::text[])" for _ in days)
    p_tk = [x for d in days for x in (d, touched[d])]
    table = _table(StatCount)
    key = "o.g = n.g AND o.b = n.b AND o.et = n.et AND o.eid = n.eid"
    statement = (
        f"WITH {prelude}, "  # noqa: S608 - our SQL; values are params
        # The recomputed hours of each day.
        f"tk (d, keys) AS (VALUES {tk}), "
        # The stored days and weeks of the touched weeks; ``mine`` are those being recomputed.
        "o AS MATERIALIZED (SELECT s.id, s.granularity AS g, s.bucket_start AS b, "
        "s.entity_type AS et, s.entity_id AS eid, s.label_id AS lbl, s.value AS v, "
        f"s.hours AS hs FROM {table} s WHERE s.stat = %s AND s.granularity IN ('day', 'week') "
        f"AND ({s_weeks})), "
        "om AS MATERIALIZED (SELECT o.*, CASE o.g WHEN 'day' THEN "
        f"({in_days}) ELSE TRUE END AS mine FROM o), "
        # The new hours of each entity and day, as the day row holds them.
        "nh AS MATERIALIZED (SELECT date_trunc('day', e.h AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' "
        "AS b, e.et, e.eid, MAX(e.lbl) AS lbl, jsonb_object_agg(extract(hour FROM e.h AT TIME "
        "ZONE 'UTC')::int::text, e.v::bigint) AS hs, SUM(e.v)::bigint AS v FROM e "
        "WHERE e.v <> 0 GROUP BY 1, 2, 3), "
        # Each touched day: its stored hours less the recomputed ones, plus the new ones (a day
        # not stored yet is just the new ones, and their sum).
        "dh AS MATERIALIZED (SELECT COALESCE(nh.b, od.b) AS b, COALESCE(nh.et, od.et) AS et, "
        "COALESCE(nh.eid, od.eid) AS eid, CASE WHEN nh.b IS NULL THEN od.lbl ELSE nh.lbl END "
        "AS lbl, CASE WHEN od.b IS NULL THEN nh.hs ELSE (COALESCE(od.hs, '{}') "
        "- COALESCE(tk.keys, '{}')) || COALESCE(nh.hs, '{}') END AS hs, "
        "CASE WHEN od.b IS NULL THEN nh.v END AS v "
        "FROM (SELECT * FROM om WHERE g = 'day' AND mine) od FULL JOIN nh "
        "ON od.b = nh.b AND od.et = nh.et AND od.eid = nh.eid "
        "LEFT JOIN tk ON tk.d = COALESCE(nh.b, od.b)), "
        "dy (g, b, et, eid, lbl, v, hs) AS MATERIALIZED (SELECT 'day', d.b, d.et, d.eid, d.lbl, "
        "x.v, d.hs FROM dh d CROSS JOIN LATERAL (SELECT COALESCE(d.v, (SELECT "
        "COALESCE(SUM(j.value::bigint), 0) FROM jsonb_each_text(d.hs) j)) AS v) x "
        "WHERE x.v <> 0), "
        "wk (g, b, et, eid, lbl, v, hs) AS MATERIALIZED (SELECT 'week', "
        "date_trunc('week', x.b AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', x.et, x.eid, "
        "MAX(x.lbl), SUM(x.v)::bigint, NULL::jsonb FROM (SELECT o.b, o.et, o.eid, o.lbl, o.v "
        "FROM om o WHERE o.g = 'day' AND NOT o.mine UNION ALL SELECT b, et, eid, lbl, v "
        "FROM dy) x (b, et, eid, lbl, v) GROUP BY 2, 3, 4), "
        "n AS (SELECT * FROM dy UNION ALL SELECT * FROM wk), "
        # Stored rows that differ from the new ones, and new rows not stored.
        "d AS MATERIALIZED (SELECT o.id, n.g, n.b, n.et, n.eid, n.lbl, n.v, n.hs "
        f"FROM (SELECT * FROM om WHERE mine) o FULL JOIN n ON {key} "
        "WHERE o.id IS NULL OR n.g IS NULL "
        "OR (o.v, o.lbl, o.hs) IS DISTINCT FROM (n.v, n.lbl, n.hs)), "
        # By id through its index, whatever the estimates (an array, not a join).
        f"gone AS (DELETE FROM {table} s WHERE s.id = ANY(ARRAY(SELECT d.id FROM d "
        "WHERE d.g IS NULL)) RETURNING 1), "
        f"changed AS (UPDATE {table} s SET value = d.v, label_id = d.lbl, hours = d.hs FROM d "
        "WHERE s.id = d.id AND s.id = ANY(ARRAY(SELECT d.id FROM d WHERE d.id IS NOT NULL "
        "AND d.g IS NOT NULL)) RETURNING 1), "
        f"added AS (INSERT INTO {table} {COLUMNS} SELECT %s, d.g, d.b, d.et, d.eid, d.lbl, "
        "d.v, d.hs FROM d WHERE d.id IS NULL RETURNING 1) "
        "SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM changed), "
        "(SELECT count(*) FROM added)"
    )
    args = [*params, *p_tk, stat, *ps_weeks, *p_days, stat]
    with connection.cursor() as cursor:
        cursor.execute(statement, args)
        return tuple(cursor.fetchone())
