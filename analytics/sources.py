"""Where each stat comes from, which hours new raw facts touched, and how a bucket is recomputed.

Every recompute works on whole hours: it reads all raw facts of those hours (through the time
index), derives the rows for rooms, tracks, artists and labels, and replaces the hours, then the
days and weeks that contain them. Additive stats sum their days from hours and weeks from days;
distinct counts (unique listeners, reach) are computed for days and weeks from the raw facts.

A label's figure for a stat covers its rooms and, for stats about tracks, its tracks wherever
they are played; an event that touches both counts once.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Count, F, Max, Min, Q, Sum
from django.db.models.functions import TruncHour

from analytics import pgsql
from analytics.buckets import (
    DAY,
    HOUR,
    WEEK,
    bucket_replace,
    bucket_sum_up,
    day_floor,
    hour_floor,
    hours_between,
    ranges,
    to_ms,
    week_floor,
)
from analytics.models import Entity, Granularity, Stat
from catalog.models import Artist, Track
from rooms import impressions
from rooms.models import (
    ChatMessage,
    Favourite,
    ImpressionCount,
    ListeningSession,
    Play,
    QueueEntry,
    Room,
    SkipVote,
    Vote,
)

# Ids are handed out before commit, so a row may become visible below a watermark already passed.
# The watermark advances only over rows older than COMMIT_LAG (a transaction is assumed to commit
# within it), and the hours of the last ID_OVERLAP ids below it are recomputed again.
COMMIT_LAG = timedelta(minutes=5)
ID_OVERLAP = 1000
# Impressions are watched by time, and the flush marks every hour it wrote, whatever its age.
OTS_LOOKBACK = timedelta(hours=2)
# Votes can be cleared (the row deleted) while their entry is queued or playing: the hours since
# the oldest such entry was added are recomputed, back at most this far.
VOTE_CLEAR_WINDOW = timedelta(days=2)
# A session is assumed shorter than this (the presence sweep closes idle ones); it bounds reads.
MAX_SESSION = timedelta(days=7)


@dataclass(frozen=True)
class EventSource:
    model: type
    time: str
    room: str
    track: str | None
    exclude: Q | None = None


EVENTS = {
    # A room plays on with nobody in it; a play counts when someone was there as it started.
    Stat.PLAYS: EventSource(Play, "started_at", "room_id", "track_id", Q(listeners=0)),
    Stat.VOTES: EventSource(Vote, "created_at", "entry__room_id", "entry__track_id"),
    Stat.ADDS: EventSource(QueueEntry, "created_at", "room_id", "track_id", Q(autofilled=True)),
    Stat.SKIPS: EventSource(SkipVote, "created_at", "entry__room_id", "entry__track_id"),
    Stat.FAVOURITES: EventSource(Favourite, "created_at", "room_id", "track_id"),
    Stat.CHAT: EventSource(ChatMessage, "created_at", "room_id", None),
}
SESSION_STATS = (Stat.LISTENING_MS, Stat.UNIQUE_LISTENERS)
IMPRESSION_STATS = (Stat.OTS, Stat.REACH)
ALL_STATS = tuple(EVENTS) + SESSION_STATS + IMPRESSION_STATS


def _time_q(field: str, hours) -> Q:
    q = Q()
    for start, end in ranges(hours, HOUR):
        q |= Q(**{f"{field}__gte": start, f"{field}__lt": end})
    return q


class Owners:
    """The labels and artists behind rooms and tracks, loaded once per recompute."""

    def __init__(self, room_ids, track_ids):
        room_ids, track_ids = set(room_ids) - {None}, set(track_ids) - {None}
        self.room_label = dict(Room.objects.filter(id__in=room_ids).values_list("id", "label_id"))
        self.track_label = dict(
            Track.objects.filter(id__in=track_ids).values_list("id", "label_id")
        )
        self.track_artists: dict[int, list[int]] = defaultdict(list)
        through = Track.artists.through.objects.filter(track_id__in=track_ids)
        for track_id, artist_id in through.values_list("track_id", "artist_id"):
            self.track_artists[track_id].append(artist_id)
        artist_ids = {a for ids in self.track_artists.values() for a in ids}
        self.artist_label = dict(
            Artist.objects.filter(id__in=artist_ids).values_list("id", "label_id")
        )

    def rows(self, out, bucket, room_id, track_id, n):
        """Add n to every entity an event in (room, track) counts for."""
        room_label = self.room_label.get(room_id)
        if room_id is not None:
            out[(bucket, Entity.ROOM, room_id, room_label)] += n
        if track_id is not None:
            out[(bucket, Entity.TRACK, track_id, self.track_label.get(track_id))] += n
            for artist_id in self.track_artists.get(track_id, ()):
                out[(bucket, Entity.ARTIST, artist_id, self.artist_label.get(artist_id))] += n
        for label_id in {room_label, self.track_label.get(track_id)} - {None}:
            out[(bucket, Entity.LABEL, label_id, label_id)] += n


def _sum_up(stat: str, hours) -> None:
    """The weeks of an additive stat from its days (whose values are the sums of their hours)."""
    weeks = {week_floor(h) for h in hours}
    bucket_sum_up(stat=stat, source=Granularity.DAY, target=Granularity.WEEK, starts=weeks)


# --- events: plays, votes, adds, skips, favourites, chat ---------------------------------------
def events_target(stat: str, now: datetime) -> int:
    """The new watermark: below the oldest row younger than COMMIT_LAG (rows with smaller ids
    may still be committing), else the largest id. Reads only the recent rows, by time index."""
    src = EVENTS[stat]
    recent = src.model.objects.filter(**{f"{src.time}__gte": now - COMMIT_LAG})
    oldest_recent = recent.aggregate(m=Min("id"))["m"]
    if oldest_recent is not None:
        return oldest_recent - 1
    return src.model.objects.aggregate(m=Max("id"))["m"] or 0


def events_newest(stat: str) -> int:
    return EVENTS[stat].model.objects.aggregate(m=Max("id"))["m"] or 0


def events_touched(stat: str, since_id: int) -> set[datetime]:
    """Hours of every visible row above the watermark (less the overlap), recent ones included:
    they show now and are recomputed again once the watermark passes them."""
    src = EVENTS[stat]
    lo = max(0, since_id - ID_OVERLAP) if since_id else 0
    qs = src.model.objects.filter(id__gt=lo)
    return set(qs.annotate(h=TruncHour(src.time)).values_list("h", flat=True).distinct())


def votes_live_since() -> datetime | None:
    """When the oldest entry that takes votes now (queued or playing) was added."""
    live = QueueEntry.objects.filter(
        status__in=[QueueEntry.Status.QUEUED, QueueEntry.Status.PLAYING]
    )
    return live.aggregate(m=Min("created_at"))["m"]


def votes_cleared_touched(
    since: datetime | None, live_since: datetime | None, live_now: datetime | None, now: datetime
) -> set[datetime]:
    """Hours where a vote may have been cleared since the last run.

    A clear deletes the Vote row, so its hour is not in the table any more; but only an entry
    that is queued or playing takes votes, and a vote is never older than its entry. An entry
    that took a vote between the last run and this one was live at the last run (added at or
    after ``live_since``, the oldest live then), or was added since (after ``since`` less the
    commit lag), or is live now (``live_now``); so the hours from the oldest of those cover
    every clear, even on an entry dropped, removed or played in between.
    """
    starts = [t for t in (live_since, live_now) if t is not None]
    if since is not None:
        starts.append(since - COMMIT_LAG)
    if not starts:
        return set()
    start = max(min(starts), now - VOTE_CLEAR_WINDOW)
    return set(hours_between(start, now + HOUR))


def events_recompute(stat: str, hours: list[datetime]) -> None:
    src = EVENTS[stat]
    qs = src.model.objects.filter(_time_q(src.time, hours))
    if src.exclude is not None:
        qs = qs.exclude(src.exclude)
    fields = {"h": TruncHour(src.time, tzinfo=UTC), "r": F(src.room)}
    if src.track:
        fields["t"] = F(src.track)
    fine = qs.annotate(**fields).values_list(*fields).annotate(n=Count("id")).order_by()
    if pgsql.enabled():
        pgsql.events_merge(
            stat=stat, hours=hours, fine=fine, has_track=bool(src.track), naive_hour=True
        )
        return
    fine = list(fine)
    if not src.track:
        fine = [(h, r, None, n) for h, r, n in fine]
    owners = Owners((f[1] for f in fine), (f[2] for f in fine if f[2]))
    out: dict[tuple, int] = defaultdict(int)
    for hour, room_id, track_id, n in fine:
        owners.rows(out, hour, room_id, track_id, n)
    bucket_replace(stat=stat, granularity=Granularity.HOUR, starts=hours, rows=out)
    _sum_up(stat, hours)


# --- listening sessions: listening time and unique listeners ------------------------------------
def sessions_target() -> int:
    """The new watermark: the oldest session still open (it may close backdated), else past all."""
    oldest_open = ListeningSession.objects.filter(ended_at__isnull=True).aggregate(m=Min("id"))["m"]
    if oldest_open is not None:
        return oldest_open
    return (ListeningSession.objects.aggregate(m=Max("id"))["m"] or 0) + 1


def sessions_touched(since_id: int, upto: datetime) -> set[datetime]:
    """Hours of sessions closed since the last run: every closed session from the oldest one
    that was open then (a sweep may close a session with a time long past)."""
    qs = ListeningSession.objects.filter(
        id__gte=since_id, ended_at__isnull=False, ended_at__lte=upto
    )
    hours: set[datetime] = set()
    for start, end in qs.values_list("started_at", "ended_at").iterator(chunk_size=5000):
        hours.update(hours_between(start, end))
    return hours


def _sessions_over(start: datetime, end: datetime):
    return (
        ListeningSession.objects.filter(
            ended_at__isnull=False,
            started_at__lt=end,
            started_at__gte=start - MAX_SESSION,
            ended_at__gt=start,
        )
        .values_list("id", "room_id", "user_id", "session_key", "started_at", "ended_at")
        .iterator(chunk_size=5000)
    )


def _who(session_id, user_id, session_key) -> str:
    if user_id is not None:
        return f"u{user_id}"
    return f"s{session_key}" if session_key else f"x{session_id}"


def sessions_recompute(stat: str, hours: list[datetime]) -> None:
    if stat == Stat.LISTENING_MS:
        if pgsql.enabled():
            pgsql.listening_merge(stat=stat, hours=hours, max_session=MAX_SESSION)
            return
        wanted = set(hours)
        out: dict[tuple, int] = defaultdict(int)
        rows = []
        for start, end in ranges(hours, HOUR):
            for _sid, room_id, _u, _k, began, ended in _sessions_over(start, end):
                rows.append((room_id, max(began, start), min(ended, end)))
        labels = Owners((r[0] for r in rows), ()).room_label
        for room_id, began, ended in rows:
            for hour in hours_between(began, ended):
                if hour not in wanted:
                    continue
                ms = to_ms(min(ended, hour + HOUR)) - to_ms(max(began, hour))
                label_id = labels.get(room_id)
                out[(hour, Entity.ROOM, room_id, label_id)] += ms
                if label_id is not None:
                    out[(hour, Entity.LABEL, label_id, label_id)] += ms
        bucket_replace(stat=stat, granularity=Granularity.HOUR, starts=hours, rows=out)
        _sum_up(stat, hours)
        return
    _distinct_listeners(hours)


def _distinct_listeners(hours: list[datetime]) -> None:
    touched = {
        Granularity.HOUR: set(hours),
        Granularity.DAY: {day_floor(h) for h in hours},
        Granularity.WEEK: {week_floor(h) for h in hours},
    }
    floors = {Granularity.HOUR: hour_floor, Granularity.DAY: day_floor}
    steps = {Granularity.HOUR: HOUR, Granularity.DAY: DAY, Granularity.WEEK: WEEK}
    sets: dict[tuple, set[str]] = defaultdict(set)
    seen: set[int] = set()
    sessions = []
    for start, end in ranges(touched[Granularity.WEEK], WEEK):
        for sid, room_id, user_id, key, began, ended in _sessions_over(start, end):
            if sid not in seen and ended > began:
                seen.add(sid)
                sessions.append((room_id, _who(sid, user_id, key), began, ended))
    labels = Owners((s[0] for s in sessions), ()).room_label
    for room_id, who, began, ended in sessions:
        label_id = labels.get(room_id)
        for gran, wanted in touched.items():
            floor = floors.get(gran, week_floor)
            at = floor(began)
            while at < ended:
                if at in wanted:
                    sets[(gran, at, Entity.ROOM, room_id, label_id)].add(who)
                    if label_id is not None:
                        sets[(gran, at, Entity.LABEL, label_id, label_id)].add(who)
                at += steps[gran]
    for gran, wanted in touched.items():
        rows = {key[1:]: len(v) for key, v in sets.items() if key[0] == gran}
        bucket_replace(stat=Stat.UNIQUE_LISTENERS, granularity=gran, starts=wanted, rows=rows)


# --- impressions: OTS and reach -----------------------------------------------------------------
def impressions_touched(
    since: datetime | None, upto: datetime, written_seq: int
) -> tuple[set[datetime], int]:
    """The last hours by time, and every hour a flush wrote after ``written_seq``."""
    if since is None:
        first = ImpressionCount.objects.order_by("hour").values_list("hour", flat=True).first()
        since = first or upto
    written, seq = impressions.impressions_written_since(written_seq)
    return set(hours_between(since - OTS_LOOKBACK, upto + HOUR)) | written, seq


def impressions_recompute(stat: str, hours: list[datetime], *, now: datetime) -> None:
    if stat == Stat.OTS:
        fine = (
            ImpressionCount.objects.filter(_time_q("hour", hours))
            .values_list("hour", "room_id")
            .annotate(n=Sum("count"))
            .order_by()
        )
        if pgsql.enabled():
            pgsql.events_merge(stat=stat, hours=hours, fine=fine, has_track=False, naive_hour=False)
            return
        fine = list(fine)
        owners = Owners((f[1] for f in fine), ())
        out: dict[tuple, int] = defaultdict(int)
        for hour, room_id, n in fine:
            owners.rows(out, hour, room_id, None, n)
        bucket_replace(stat=stat, granularity=Granularity.HOUR, starts=hours, rows=out)
        _sum_up(stat, hours)
        return
    # The sketches expire: buckets older than them keep the reach they were given.
    oldest = now - timedelta(seconds=impressions.REACH_TTL) + WEEK
    for gran, floor, step in (
        (Granularity.HOUR, hour_floor, HOUR),
        (Granularity.DAY, day_floor, DAY),
        (Granularity.WEEK, week_floor, WEEK),
    ):
        starts = sorted({floor(h) for h in hours if floor(h) >= oldest})
        if not starts:
            continue
        shown: dict[datetime, set[int]] = defaultdict(set)
        q = Q()
        for start, end in ranges(starts, step):
            q |= Q(hour__gte=start, hour__lt=end)
        for hour, room_id in ImpressionCount.objects.filter(q).values_list("hour", "room_id"):
            shown[floor(hour)].add(room_id)
        labels = Owners({r for rooms in shown.values() for r in rooms}, ()).room_label
        rows: dict[tuple, int] = {}
        for start, rooms in shown.items():
            groups: dict[tuple, list[int]] = defaultdict(list)
            for room_id in rooms:
                label_id = labels.get(room_id)
                groups[(start, Entity.ROOM, room_id, label_id)].append(room_id)
                if label_id is not None:
                    groups[(start, Entity.LABEL, label_id, label_id)].append(room_id)
            rows.update(impressions.impressions_reach(groups=groups, start=start, end=start + step))
        bucket_replace(stat=stat, granularity=gran, starts=starts, rows=rows)
