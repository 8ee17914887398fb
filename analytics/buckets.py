"""Time buckets (UTC hours, days, weeks from Monday) and writing whole buckets of StatCount.

Hours are kept in their day rows (``StatCount.hours``); replacing hours rewrites those days.
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.db import connection

from analytics.models import DISTINCT_STATS, Granularity, StatCount

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def hour_floor(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_floor(at: datetime) -> datetime:
    return hour_floor(at).replace(hour=0)


def week_floor(at: datetime) -> datetime:
    day = day_floor(at)
    return day - timedelta(days=day.weekday())


FLOOR = {Granularity.HOUR: hour_floor, Granularity.DAY: day_floor, Granularity.WEEK: week_floor}
STEP = {Granularity.HOUR: HOUR, Granularity.DAY: DAY, Granularity.WEEK: WEEK}


def to_ms(at: datetime) -> int:
    """Whole milliseconds since the epoch, computed exactly (no float)."""
    delta = at - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """The hours that overlap [start, end)."""
    out, at = [], hour_floor(start)
    while at < end:
        out.append(at)
        at += HOUR
    return out


def ranges(starts: Iterable[datetime], step: timedelta) -> list[tuple[datetime, datetime]]:
    """Merge bucket starts into contiguous [start, end) ranges, so queries can use an index."""
    out: list[list[datetime]] = []
    for at in sorted(set(starts)):
        if out and out[-1][1] == at:
            out[-1][1] = at + step
        else:
            out.append([at, at + step])
    return [(a, b) for a, b in out]


# A concurrent writer of the same bucket (SQLite has no per-stat lock) must not fail the run.
_UPSERT = {
    "batch_size": 2000,
    "update_conflicts": True,
    "unique_fields": ["stat", "granularity", "bucket_start", "entity_type", "entity_id"],
}


def bucket_replace(
    *, stat: str, granularity: str, starts: Iterable[datetime], rows: dict[tuple, int]
) -> int:
    """Replace the given buckets of a stat whole with the recomputed rows.

    rows maps (bucket_start, entity_type, entity_id, label_id) to a value; zero values are not
    stored. Runs inside the caller's transaction, so a reader never sees half a bucket. Hours go
    into their day rows (``hours_replace``); a day's value leaves its hours alone.
    """
    if granularity == Granularity.HOUR:
        return hours_replace(stat=stat, hours=starts, rows=rows)
    starts = sorted(set(starts))
    keep_hours = granularity == Granularity.DAY
    stored = {}
    for start, end in ranges(starts, STEP[granularity]):
        qs = StatCount.objects.filter(
            stat=stat, granularity=granularity, bucket_start__gte=start, bucket_start__lt=end
        )
        if not keep_hours:
            qs.delete()
            continue
        for row in qs:
            stored[(row.bucket_start, row.entity_type, row.entity_id)] = row
    new = {}
    for (bucket, etype, eid, label_id), value in rows.items():
        if value:
            new[(bucket, etype, eid)] = (label_id, value)
    gone, changed = [], []
    for key, row in stored.items():
        label_id, value = new.pop(key, (row.label_id, 0))
        if not value and not row.hours:
            gone.append(row.id)
        elif (label_id, value) != (row.label_id, row.value):
            row.label_id, row.value = label_id, value
            changed.append(row)
    StatCount.objects.filter(id__in=gone).delete()
    StatCount.objects.bulk_update(changed, ["label", "value"], batch_size=2000)
    StatCount.objects.bulk_create(
        [
            StatCount(
                stat=stat,
                granularity=granularity,
                bucket_start=bucket,
                entity_type=etype,
                entity_id=eid,
                label_id=label_id,
                value=value,
            )
            for (bucket, etype, eid), (label_id, value) in new.items()
        ],
        **_UPSERT,
        update_fields=["label", "value"],
    )
    return len(changed) + len(new)


def hours_replace(*, stat: str, hours: Iterable[datetime], rows: dict[tuple, int]) -> int:
    """Replace the given hours of a stat in their day rows.

    rows maps (hour, entity_type, entity_id, label_id) to a value. Every day row of those days
    loses the given hours and takes the new values; an additive stat's day value becomes the sum
    of its hours (a distinct count's day value is written by ``bucket_replace``). A day left with
    no hours and no value is deleted. An entity's label is the one its new hours carry, if any.
    """
    touched: dict[datetime, set[str]] = defaultdict(set)
    for hour in hours:
        hour = hour_floor(hour)
        touched[day_floor(hour)].add(str(hour.hour))
    additive = stat not in DISTINCT_STATS
    new: dict[tuple, dict[str, int]] = defaultdict(dict)
    labels: dict[tuple, int | None] = {}
    for (hour, etype, eid, label_id), value in rows.items():
        if value:
            hour = hour_floor(hour)
            key = (day_floor(hour), etype, eid)
            new[key][str(hour.hour)] = value
            labels[key] = label_id
    gone, changed = [], []
    for start, end in ranges(touched, DAY):
        for row in StatCount.objects.filter(
            stat=stat, granularity=Granularity.DAY, bucket_start__gte=start, bucket_start__lt=end
        ):
            key = (row.bucket_start, row.entity_type, row.entity_id)
            drop = touched[row.bucket_start]
            slots = {k: v for k, v in (row.hours or {}).items() if k not in drop}
            slots.update(new.pop(key, {}))
            label_id = labels.get(key, row.label_id)
            value = sum(slots.values()) if additive else row.value
            if not slots and not value:
                gone.append(row.id)
            elif (slots or None, label_id, value) != (row.hours or None, row.label_id, row.value):
                row.hours, row.label_id, row.value = slots or None, label_id, value
                changed.append(row)
    StatCount.objects.filter(id__in=gone).delete()
    StatCount.objects.bulk_update(changed, ["hours", "label", "value"], batch_size=2000)
    StatCount.objects.bulk_create(
        [
            StatCount(
                stat=stat,
                granularity=Granularity.DAY,
                bucket_start=day,
                entity_type=etype,
                entity_id=eid,
                label_id=labels[(day, etype, eid)],
                value=sum(slots.values()) if additive else 0,
                hours=slots,
            )
            for (day, etype, eid), slots in new.items()
        ],
        **_UPSERT,
        update_fields=["hours", "label", "value"],
    )
    return len(changed) + len(new)


def bucket_sum_up(*, stat: str, source: str, target: str, starts: Iterable[datetime]) -> None:
    """Rebuild target buckets (days or weeks) of an additive stat by summing the finer ones."""
    table = connection.ops.quote_name(StatCount._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    step = STEP[target]
    with connection.cursor() as cursor:
        for start in sorted(set(starts)):
            StatCount.objects.filter(stat=stat, granularity=target, bucket_start=start).delete()
            cursor.execute(
                f"INSERT INTO {table} "  # noqa: S608 - only our table name is interpolated
                "(stat, granularity, bucket_start, entity_type, entity_id, label_id, value) "
                "SELECT stat, %s, %s, entity_type, entity_id, MAX(label_id), SUM(value) "
                f"FROM {table} WHERE stat = %s AND granularity = %s "
                "AND bucket_start >= %s AND bucket_start < %s "
                "GROUP BY stat, entity_type, entity_id",
                [target, adapt(start), stat, source, adapt(start), adapt(start + step)],
            )
