"""Reads of rolled-up stats, always for one label. Dashboards, exports and the API use these.

Every query filters on ``label_id`` first (the owner of the entity), so a caller cannot forget it.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import OuterRef, Subquery, Sum

from analytics.models import DISTINCT_STATS, Entity, Granularity, Stat, StatCount, StatHour
from catalog.models import Artist, Track
from rooms.models import Room

ENTITY_MODELS = {Entity.ROOM: Room, Entity.TRACK: Track, Entity.ARTIST: Artist}
NAME_FIELD = {Entity.ROOM: "name", Entity.TRACK: "title", Entity.ARTIST: "name"}
# Stats a room or label has; tracks and artists have only the event stats.
ROOM_ONLY = frozenset({Stat.UNIQUE_LISTENERS, Stat.LISTENING_MS, Stat.OTS, Stat.REACH, Stat.CHAT})
CHART_STATS = (Stat.PLAYS, Stat.LISTENING_MS, Stat.UNIQUE_LISTENERS, Stat.OTS)


@dataclass(frozen=True)
class Window:
    """A date range (inclusive days, UTC) at a granularity."""

    start: date
    end: date
    granularity: str = Granularity.DAY

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def end_at(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)


def display(stat: str, value: int | None):
    """Listening time is stored in milliseconds and shown in minutes (3 decimals, exact)."""
    if value is None:
        return None
    if stat == Stat.LISTENING_MS:
        return (Decimal(value) / 60000).quantize(Decimal("0.001"))
    return value


def display_name(stat: str) -> str:
    return "listening_minutes" if stat == Stat.LISTENING_MS else stat


def _base(label_id: int, window: Window, granularity: str | None = None):
    g = granularity or window.granularity
    start = window.start_at
    if g == Granularity.HOUR:
        # Hours live in their day rows: the window's days bound the read.
        return StatHour.objects.filter(
            label_id=label_id,
            day__gte=start,
            day__lt=window.end_at,
            bucket_start__gte=start,
            bucket_start__lt=window.end_at,
        )
    if g == Granularity.WEEK:
        start -= timedelta(days=start.weekday())
    return StatCount.objects.filter(
        label_id=label_id,
        granularity=g,
        bucket_start__gte=start,
        bucket_start__lt=window.end_at,
    )


def series(
    *,
    label_id: int,
    stat: str,
    window: Window,
    entity_type: str = Entity.LABEL,
    entity_id: int | None = None,
) -> list[tuple[datetime, int]]:
    """(bucket_start, value) for each bucket of the window, zeros included."""
    entity_id = label_id if entity_type == Entity.LABEL else entity_id
    found = dict(
        _base(label_id, window)
        .filter(stat=stat, entity_type=entity_type, entity_id=entity_id)
        .values_list("bucket_start", "value")
    )
    step = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}
    at = window.start_at
    if window.granularity == Granularity.WEEK:
        at -= timedelta(days=at.weekday())
    out = []
    while at < window.end_at:
        out.append((at, found.get(at, 0)))
        at += step[window.granularity]
    return out


def totals(
    *,
    label_id: int,
    window: Window,
    entity_type: str = Entity.LABEL,
    entity_id: int | None = None,
    stats: Iterable[str] = (),
) -> dict[str, int | None]:
    """Sums over the window for additive stats (from days); distinct ones have no sum (None)."""
    entity_id = label_id if entity_type == Entity.LABEL else entity_id
    wanted = [s for s in stats if s not in DISTINCT_STATS]
    sums = dict(
        _base(label_id, window, Granularity.DAY)
        .filter(stat__in=wanted, entity_type=entity_type, entity_id=entity_id)
        .values_list("stat")
        .annotate(v=Sum("value"))
        .order_by()
    )
    return {s: (sums.get(s, 0) if s not in DISTINCT_STATS else None) for s in stats}


def top(
    *, label_id: int, entity_type: str, stat: str, window: Window, limit: int = 10
) -> list[dict]:
    """The label's entities with the largest sum of an additive stat over the window."""
    model = ENTITY_MODELS[entity_type]
    rows = list(
        _base(label_id, window, Granularity.DAY)
        .filter(stat=stat, entity_type=entity_type)
        .values("entity_id")
        .annotate(v=Sum("value"))
        .order_by("-v", "entity_id")[:limit]
    )
    names = dict(
        model.objects.filter(id__in=[r["entity_id"] for r in rows]).values_list(
            "id", NAME_FIELD[entity_type]
        )
    )
    return [
        {"id": r["entity_id"], "name": names.get(r["entity_id"], "?"), "value": r["v"]}
        for r in rows
    ]


def export_queryset(
    *,
    label_id: int,
    window: Window,
    entity_type: str = Entity.LABEL,
    entity_id: int | None = None,
    stats: Iterable[str] = (),
):
    """The label's StatCount rows an export covers (scoped and filtered, unordered)."""
    qs = _base(label_id, window).filter(entity_type=entity_type)
    if entity_type == Entity.LABEL:
        qs = qs.filter(entity_id=label_id)
    elif entity_id is not None:
        qs = qs.filter(entity_id=entity_id)
    stats = list(stats)
    if stats:
        qs = qs.filter(stat__in=stats)
    return qs


def name_model(entity_type: str):
    """The model (and its name field) an entity id of this type points at."""
    from labels.models import Label

    return ENTITY_MODELS.get(entity_type, Label), NAME_FIELD.get(entity_type, "name")


def export_rows(
    *,
    label_id: int,
    window: Window,
    entity_type: str = Entity.LABEL,
    entity_id: int | None = None,
    stats: Iterable[str] = (),
    chunk_size: int = 5000,
):
    """Long rows (bucket_start, entity_type, entity_id, name, stat, value) streamed from a
    server-side cursor, ordered by bucket, entity and stat."""
    qs = export_queryset(
        label_id=label_id,
        window=window,
        entity_type=entity_type,
        entity_id=entity_id,
        stats=stats,
    )
    model, field = name_model(entity_type)
    name = Subquery(model.objects.filter(id=OuterRef("entity_id")).values(field)[:1])
    qs = qs.annotate(name=name)
    return (
        qs.order_by("bucket_start", "entity_id", "stat")
        .values_list("bucket_start", "entity_type", "entity_id", "name", "stat", "value")
        .iterator(chunk_size=chunk_size)
    )
