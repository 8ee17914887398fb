"""Reads behind the fan-facing directory: listing, search, trending, featured, nearby, recommended.

Every function here runs a fixed number of queries whatever the number of rooms, entries, votes
or sessions: filters are subqueries, the page's rooms come with their now-playing track through
joins, and genres arrive in one prefetch.
"""

import math
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import (
    Avg,
    Count,
    Exists,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog.models import Artist, Genre, Track
from rooms.models import (
    Campaign,
    Favourite,
    ImpressionCount,
    ListeningSession,
    Play,
    QueueEntry,
    Room,
    Vote,
)

PAGE_SIZE = 24
SORTS = ("listeners", "trending", "new")
LIVE_STATUSES = (QueueEntry.Status.QUEUED, QueueEntry.Status.PLAYING)
# How many hours before the last one "before" covers in the trending formula.
TRENDING_BASELINE_HOURS = 6
# OTS are far more numerous than listeners; this weight puts ten displays level with a listener.
TRENDING_OTS_WEIGHT = 0.1


def with_card_data(queryset: QuerySet[Room]) -> QuerySet[Room]:
    """What a room card shows: now playing and the label through joins, genres in one prefetch."""
    return queryset.select_related(
        "label", "playback__current_entry__track", "playback__current_entry__added_by"
    ).prefetch_related("genres")


def public_rooms() -> QuerySet[Room]:
    return Room.objects.filter(visibility=Room.Visibility.PUBLIC)


def search_filter(query: str) -> Q:
    """Room name, description, genre, or an artist or track that is playing or queued."""
    query = query.strip()
    genre_rooms = Room.genres.through.objects.filter(
        Q(genre__name__icontains=query) | Q(genre__slug=query.lower())
    ).values("room_id")
    entry_rooms = QueueEntry.objects.filter(
        Q(track__title__icontains=query) | Q(track__artist_names__icontains=query),
        status__in=LIVE_STATUSES,
    ).values("room_id")
    return (
        Q(name__icontains=query)
        | Q(description__icontains=query)
        | Q(id__in=genre_rooms)
        | Q(id__in=entry_rooms)
    )


def trending_annotations(queryset: QuerySet[Room], *, now=None) -> QuerySet[Room]:
    """Annotate ``trending``: how much a room is growing right now.

    trending = (L_last_hour - L_before) + 0.1 * (OTS_last_hour - OTS_before_per_hour)

    where L is the mean of ``Play.listeners`` of plays started in the window (the last hour
    falls back to the live ``listener_count`` when nothing started in it), and OTS the flushed
    ``ImpressionCount`` of the window. "Before" is the six hours preceding the last one, so a
    room that is busy every evening does not trend, one that is filling up now does.
    """
    now = now or timezone.now()
    hour_ago = now - timedelta(hours=1)
    baseline_start = hour_ago - timedelta(hours=TRENDING_BASELINE_HOURS)
    plays = Play.objects.filter(room=OuterRef("pk")).order_by().values("room")

    def mean_listeners(**window):
        return Subquery(
            plays.filter(**window).annotate(v=Avg("listeners")).values("v"),
            output_field=FloatField(),
        )

    impressions = ImpressionCount.objects.filter(room=OuterRef("pk")).order_by().values("room")

    def ots(**window):
        return Subquery(
            impressions.filter(**window).annotate(v=Sum("count")).values("v"),
            output_field=FloatField(),
        )

    return queryset.annotate(
        listeners_recent=Coalesce(
            mean_listeners(started_at__gte=hour_ago),
            F("listener_count") * 1.0,
            output_field=FloatField(),
        ),
        listeners_before=Coalesce(
            mean_listeners(started_at__gte=baseline_start, started_at__lt=hour_ago),
            Value(0.0),
            output_field=FloatField(),
        ),
        ots_recent=Coalesce(ots(hour__gte=hour_ago), Value(0.0), output_field=FloatField()),
        ots_before=Coalesce(
            ots(hour__gte=baseline_start, hour__lt=hour_ago), Value(0.0), output_field=FloatField()
        ),
    ).annotate(
        trending=F("listeners_recent")
        - F("listeners_before")
        + TRENDING_OTS_WEIGHT * (F("ots_recent") - F("ots_before") / TRENDING_BASELINE_HOURS)
    )


def rooms_for_directory(
    *, query: str = "", genre: str = "", sort: str = "listeners"
) -> QuerySet[Room]:
    """Public rooms matching the directory's search, genre filter and sort (unpaginated)."""
    queryset = public_rooms()
    if query.strip():
        queryset = queryset.filter(search_filter(query))
    if genre:
        queryset = queryset.filter(
            id__in=Room.genres.through.objects.filter(genre__slug=genre).values("room_id")
        )
    if sort == "new":
        queryset = queryset.order_by("-created_at", "-id")
    elif sort == "trending":
        queryset = trending_annotations(queryset).order_by("-trending", "-listener_count", "-id")
    else:
        queryset = queryset.order_by("-listener_count", "-created_at", "-id")
    return with_card_data(queryset)


def featured_rooms(*, limit: int = 8, today=None) -> list[Room]:
    """Featured, campaign and official (label) rooms for the directory's own slot."""
    today = today or timezone.localdate()
    campaign = Campaign.objects.filter(
        room=OuterRef("pk"), starts_on__lte=today, ends_on__gte=today
    )
    queryset = (
        public_rooms()
        .annotate(in_campaign=Exists(campaign))
        .filter(Q(is_featured=True) | Q(in_campaign=True) | Q(label__isnull=False))
        .order_by("-in_campaign", "-is_featured", "-listener_count", "-id")
    )
    return list(with_card_data(queryset)[:limit])


def genres_in_use() -> list[Genre]:
    """Genres of public rooms, for the filter chips."""
    ids = Room.genres.through.objects.filter(room__visibility=Room.Visibility.PUBLIC).values(
        "genre_id"
    )
    return list(Genre.objects.filter(id__in=ids).order_by("name"))


# --- nearby ----------------------------------------------------------------------------------

EARTH_RADIUS_KM = 6371.0088
NEARBY_MAX_RADIUS_KM = 500.0


@dataclass(frozen=True)
class NearbyRoom:
    room: Room
    distance_km: float


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lng2 - lng1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def rooms_nearby(
    *, lat: float, lng: float, radius_km: float = 100.0, limit: int = 12
) -> list[NearbyRoom]:
    """Public venue rooms within ``radius_km`` of a point, nearest first.

    The point is used for this computation only: it is neither stored nor logged. A latitude
    band in SQL keeps the Python pass small; the exact distance decides.
    """
    radius_km = min(max(radius_km, 1.0), NEARBY_MAX_RADIUS_KM)
    band = radius_km / 111.0
    candidates = (
        public_rooms()
        .filter(
            latitude__isnull=False,
            longitude__isnull=False,
            latitude__gte=lat - band,
            latitude__lte=lat + band,
        )
        .select_related("playback__current_entry__track")
        .only(
            "id",
            "slug",
            "name",
            "venue_name",
            "latitude",
            "longitude",
            "listener_count",
            "playback__current_entry__track__title",
            "playback__current_entry__track__artist_names",
        )
    )
    found = []
    for room in candidates:
        distance = haversine_km(lat, lng, room.latitude, room.longitude)
        if distance <= radius_km:
            found.append(NearbyRoom(room=room, distance_km=distance))
    found.sort(key=lambda item: (item.distance_km, item.room.id))
    return found[:limit]


# --- recommendations -------------------------------------------------------------------------

CO_LISTENING_WEIGHT = 3
ARTIST_WEIGHT = 2
GENRE_WEIGHT = 1


def recommended_rooms(*, user, limit: int = 6) -> list[Room]:
    """Rooms a signed-in fan has not been in yet, ranked by what they like and who they meet.

    score = 3 * co-listeners + 2 * (plays or queues an artist they like) + shared genres

    Likes come from up votes, favourites and tracks they added; genres also from the rooms they
    spent time in. Co-listeners are the fans who spent time in the same rooms as them: each one
    who also spent time in room Y adds to Y.
    """
    if not user.is_authenticated:
        return []
    liked_tracks = (
        Track.objects.filter(
            Q(id__in=Vote.objects.filter(user=user, value=1).values("entry__track_id"))
            | Q(id__in=Favourite.objects.filter(user=user).values("track_id"))
            | Q(id__in=QueueEntry.objects.filter(added_by=user).values("track_id"))
        )
        .order_by()
        .values("id")
    )
    my_rooms = ListeningSession.objects.filter(user=user).order_by().values("room_id")
    genre_ids = list(
        Genre.objects.filter(
            Q(
                id__in=Track.genres.through.objects.filter(track_id__in=liked_tracks).values(
                    "genre_id"
                )
            )
            | Q(id__in=Room.genres.through.objects.filter(room_id__in=my_rooms).values("genre_id"))
        ).values_list("id", flat=True)
    )
    artist_ids = list(
        Artist.objects.filter(
            id__in=Track.artists.through.objects.filter(track_id__in=liked_tracks).values(
                "artist_id"
            )
        ).values_list("id", flat=True)
    )
    co_listeners = (
        ListeningSession.objects.filter(room_id__in=my_rooms, user__isnull=False)
        .exclude(user=user)
        .values("user_id")
    )
    co_counts = dict(
        ListeningSession.objects.filter(user_id__in=co_listeners)
        .exclude(room_id__in=my_rooms)
        .values("room_id")
        .annotate(n=Count("user_id", distinct=True))
        .order_by("-n")
        .values_list("room_id", "n")[:200]
    )
    if not (genre_ids or artist_ids or co_counts):
        return []

    artist_tracks = Track.artists.through.objects.filter(artist_id__in=artist_ids).values(
        "track_id"
    )
    plays_liked_artist = Exists(
        QueueEntry.objects.filter(
            room=OuterRef("pk"), status__in=LIVE_STATUSES, track_id__in=artist_tracks
        )
    )
    candidates = (
        public_rooms()
        .exclude(id__in=my_rooms)
        .exclude(owner=user)
        .filter(
            Q(id__in=list(co_counts))
            | Q(genres__in=genre_ids)
            | Q(artist_id__in=artist_ids)
            | Q(plays_liked_artist)
        )
        .annotate(
            genre_hits=Count("genres", filter=Q(genres__in=genre_ids), distinct=True),
            artist_hit=plays_liked_artist,
        )
        .order_by()
        .values_list("id", "genre_hits", "artist_hit", "artist_id", "listener_count")[:500]
    )
    scored = []
    for room_id, genre_hits, artist_hit, room_artist, listeners in candidates:
        likes_artist = artist_hit or (room_artist is not None and room_artist in artist_ids)
        score = (
            CO_LISTENING_WEIGHT * co_counts.get(room_id, 0)
            + ARTIST_WEIGHT * int(bool(likes_artist))
            + GENRE_WEIGHT * genre_hits
        )
        scored.append((-score, -listeners, -room_id))
    scored.sort()
    top_ids = [-room_id for _, _, room_id in scored[:limit]]
    rooms = {room.id: room for room in with_card_data(Room.objects.filter(id__in=top_ids))}
    return [rooms[room_id] for room_id in top_ids if room_id in rooms]
