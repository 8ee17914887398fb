"""Time buckets (UTC hours, days, weeks from Monday) and writing whole buckets of StatCount."""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.db import connection

from analytics.models import Granularity, StatCount

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


def bucket_replace(
    *, stat: str, granularity: str, starts: Iterable[datetime], rows: dict[tuple, int]
) -> int:
    """Replace the given buckets of a stat whole: delete them, insert the recomputed rows.

    rows maps (bucket_start, entity_type, entity_id, label_id) to a value; zero values are not
    stored. Runs inside the caller's transaction, so a reader never sees half a bucket.
    """
    starts = sorted(set(starts))
    for start, end in ranges(starts, STEP[granularity]):
        StatCount.objects.filter(
            stat=stat, granularity=granularity, bucket_start__gte=start, bucket_start__lt=end
        ).delete()
    objs = [
        StatCount(
            stat=stat,
            granularity=granularity,
            bucket_start=bucket,
            entity_type=etype,
            entity_id=eid,
            label_id=label_id,
            value=value,
        )
        for (bucket, etype, eid, label_id), value in rows.items()
        if value
    ]
    # ON CONFLICT DO UPDATE keeps a concurrent writer of the same bucket from failing the run.
    StatCount.objects.bulk_create(
        objs,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["entity_type", "entity_id", "granularity", "stat", "bucket_start"],
        update_fields=["value", "label"],
    )
    return len(objs)


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
