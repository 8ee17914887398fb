"""Reads of a room shared by the consumer, the services' broadcasts and the pages.

Every function here runs a fixed number of queries whatever the size of the room, so the
snapshot (and the page rendered from it) stays constant-cost.
"""

import time
from datetime import datetime

from django.conf import settings
from django.db.models import Count, F, Q
from django.utils import timezone

from rooms.models import (
    ChatMessage,
    DJSeat,
    ListeningSession,
    Playback,
    Premiere,
    QueueEntry,
    Room,
    RoomRole,
    Sanction,
    SkipVote,
    Vote,
)

HISTORY_SIZE = 20
FAN_PERMISSIONS = ["add", "vote", "chat", "skip_vote", "favourite", "dj"]
MOD_PERMISSIONS = ["skip", "moderate", "settings"]


def now_ms() -> int:
    return int(time.time() * 1000)


def ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def track_dict(track) -> dict:
    return {
        "id": track.id,
        "title": track.title,
        "artist_names": track.artist_names,
        "album": track.album,
        "duration_ms": track.duration_ms,
        "audio_url": track.audio.url if track.audio else None,
    }


def _username(user) -> str | None:
    return user.username if user is not None else None


# --- roles --------------------------------------------------------------------------------------


def user_role(room: Room, user) -> str:
    if user is None or not user.is_authenticated:
        return "anonymous"
    if room.owner_id == user.id:
        return "owner"
    role = RoomRole.objects.filter(room=room, user=user).values_list("role", flat=True).first()
    return role or "listener"


def active_sanctions(room_id: int, user) -> set[str]:
    """The kinds ("mute", "ban") in force for `user` in the room now."""
    if user is None or not user.is_authenticated:
        return set()
    return set(
        Sanction.objects.filter(room_id=room_id, user=user)
        .filter(Q(until__isnull=True) | Q(until__gt=timezone.now()))
        .values_list("kind", flat=True)
    )


def permissions_for(role: str, *, muted: bool) -> list[str]:
    if role == "anonymous":
        return []
    perms = [p for p in FAN_PERMISSIONS if not (muted and p == "chat")]
    if role in ("owner", "moderator"):
        perms += MOD_PERMISSIONS
    if role == "owner":
        perms.append("roles")
    return perms


def can_moderate(role: str) -> bool:
    return role in ("owner", "moderator")


# --- listeners ----------------------------------------------------------------------------------


def open_sessions(room_id: int):
    return ListeningSession.objects.filter(room_id=room_id, ended_at__isnull=True)


def fans_count_expression():
    """How many people hold the sessions aggregated: each signed-in user once, each anonymous
    browser (session key) once. Several tabs are one listener; an anonymous session without a
    key cannot be told apart from others, so it counts on its own."""
    anonymous = Q(user__isnull=True)
    return (
        Count("user", distinct=True)
        + Count("session_key", distinct=True, filter=anonymous & ~Q(session_key=""))
        + Count("id", filter=anonymous & Q(session_key=""))
    )


def listener_count(room_id: int) -> int:
    return open_sessions(room_id).aggregate(n=fans_count_expression())["n"] or 0


def listeners_dict(room_id: int) -> dict:
    sessions = open_sessions(room_id)
    users = sorted(
        set(sessions.filter(user__isnull=False).values_list("user__username", flat=True))
    )
    return {"count": listener_count(room_id), "users": users}


def present_fans(room_id: int) -> int:
    """Signed-in fans with a socket open: the base of the down-vote threshold."""
    return open_sessions(room_id).filter(user__isnull=False).values("user").distinct().count()


def present_downvotes(room_id: int, entry_id: int) -> int:
    """Down votes on the entry of fans with a socket open: those weighed against present_fans."""
    present = open_sessions(room_id).filter(user__isnull=False).values("user_id")
    return Vote.objects.filter(entry_id=entry_id, value=-1, user_id__in=present).count()


def audio_fans(room_id: int) -> int:
    """Signed-in fans whose audio is running: the base of the skip quorum."""
    return (
        open_sessions(room_id)
        .filter(user__isnull=False, audio_active=True)
        .values("user")
        .distinct()
        .count()
    )


def listening_users(room_id: int):
    """Ids of signed-in fans whose audio is running in the room (a subquery)."""
    return open_sessions(room_id).filter(user__isnull=False, audio_active=True).values("user_id")


def skip_votes_counted(room_id: int, entry_id: int) -> int:
    """Skip votes of fans still listening: a vote leaves the count when its fan stops."""
    return SkipVote.objects.filter(entry_id=entry_id, user_id__in=listening_users(room_id)).count()


def skip_needed(active: int) -> int:
    """More than half of the fans actually listening (at least one vote)."""
    return max(active, 1) // 2 + 1


# --- queue and playback -------------------------------------------------------------------------


def _entries(room_id: int, status: str):
    return QueueEntry.objects.filter(room_id=room_id, status=status).select_related(
        "track", "added_by"
    )


def ordered_queue(room: Room) -> list[QueueEntry]:
    """Queued entries in the order they will play.

    Jukebox: score, then arrival. DJ mode: one entry per seated DJ in seat order, round after
    round; entries of fans without a seat wait outside the rotation and are left out.
    """
    if room.mode == Room.Mode.JUKEBOX:
        return list(
            _entries(room.id, QueueEntry.Status.QUEUED).order_by(
                (F("upvotes") - F("downvotes")).desc(), "id"
            )
        )
    seats = list(DJSeat.objects.filter(room_id=room.id).order_by("position", "id"))
    by_user: dict[int, list[QueueEntry]] = {s.user_id: [] for s in seats}
    for entry in _entries(room.id, QueueEntry.Status.QUEUED).order_by("id"):
        if entry.added_by_id in by_user:
            by_user[entry.added_by_id].append(entry)
    result: list[QueueEntry] = []
    depth = 0
    while True:
        layer = [by_user[s.user_id][depth] for s in seats if len(by_user[s.user_id]) > depth]
        if not layer:
            return result
        result += layer
        depth += 1


def entry_dict(entry: QueueEntry, my_votes: dict[int, int] | None = None) -> dict:
    data = {
        "entry_id": entry.id,
        "track": track_dict(entry.track),
        "added_by": _username(entry.added_by),
        "up": entry.upvotes,
        "down": entry.downvotes,
        "score": entry.score,
    }
    if my_votes is not None:
        data["my_vote"] = my_votes.get(entry.id, 0)
    return data


def queue_list(room: Room, user=None) -> list[dict]:
    entries = ordered_queue(room)
    my_votes = None
    if user is not None:
        my_votes = {}
        if user.is_authenticated and entries:
            my_votes = dict(
                Vote.objects.filter(user=user, entry__in=[e.id for e in entries]).values_list(
                    "entry_id", "value"
                )
            )
    return [entry_dict(e, my_votes) for e in entries]


def now_playing_dict(room_id: int, playback: Playback | None = None) -> dict | None:
    if playback is None:
        playback = Playback.objects.filter(room_id=room_id).first()
    if playback is None or playback.current_entry_id is None:
        return None
    entry = (
        QueueEntry.objects.select_related("track", "added_by")
        .filter(id=playback.current_entry_id)
        .first()
    )
    if entry is None:
        return None
    return {
        "entry_id": entry.id,
        "track": track_dict(entry.track),
        "started_at": playback.started_at_ms,
        "ends_at": playback.ends_at_ms,
        "paused": playback.paused,
        # While paused the position holds at paused_at - started_at.
        "paused_at": playback.paused_at_ms,
        "added_by": _username(entry.added_by),
        "up": entry.upvotes,
        "down": entry.downvotes,
        "skip_votes": skip_votes_counted(room_id, entry.id),
        "skip_needed": skip_needed(audio_fans(room_id)),
    }


def history_list(room_id: int) -> list[dict]:
    entries = (
        QueueEntry.objects.filter(
            room_id=room_id,
            status__in=[QueueEntry.Status.PLAYED, QueueEntry.Status.SKIPPED],
        )
        .select_related("track")
        .order_by("-id")[:HISTORY_SIZE]
    )
    return [
        {
            "entry_id": e.id,
            "track": track_dict(e.track),
            "up": e.upvotes,
            "down": e.downvotes,
            "started_at": e.started_at_ms,
            "status": e.status,
        }
        for e in entries
    ]


def djs_list(room_id: int) -> list[dict]:
    seats = DJSeat.objects.filter(room_id=room_id).select_related("user").order_by("position")
    return [
        {"username": s.user.username, "position": i + 1, "away": s.away_since is not None}
        for i, s in enumerate(seats)
    ]


# --- chat and room ------------------------------------------------------------------------------


def chat_dict(message: ChatMessage) -> dict:
    return {
        "id": message.id,
        "user": message.user.username,
        "text": message.text,
        "created_at": ms(message.created_at),
    }


def chat_list(room_id: int) -> list[dict]:
    recent = (
        ChatMessage.objects.filter(room_id=room_id, deleted_at__isnull=True)
        .select_related("user")
        .order_by("-id")[: settings.ROOMTONE["CHAT_HISTORY"]]
    )
    return [chat_dict(m) for m in reversed(list(recent))]


def room_dict(room: Room) -> dict:
    """The room's public description; `room` should come with label and artist selected."""
    artist = room.artist
    return {
        "slug": room.slug,
        "name": room.name,
        "description": room.description,
        "mode": room.mode,
        "visibility": room.visibility,
        "is_official": room.is_official,
        "label": room.label.name if room.label_id else None,
        "pinned_message": room.pinned_message,
        "theme": {
            "primary": room.theme_primary or None,
            "accent": room.theme_accent or None,
            "banner_url": room.banner.url if room.banner else None,
            "logo_url": room.logo.url if room.logo else None,
        },
        "links": {
            "follow": (artist.follow_url or None) if artist else None,
            "buy": (artist.buy_url or None) if artist else None,
        },
        "rules": {
            "max_queued_per_user": room.max_queued_per_user,
            "no_repeat_window": room.no_repeat_window,
            "downvote_ratio": room.downvote_ratio,
            "autofill": room.autofill,
            "dj_grace_seconds": room.dj_grace_seconds,
            "allowed_artists": [a.name for a in room.allowed_artists.all()],
            "allowed_labels": [lb.name for lb in room.allowed_labels.all()],
        },
    }


def load_room(**lookup) -> Room | None:
    return Room.objects.select_related("label", "artist").filter(**lookup).first()


def premiere_dict(room_id: int) -> dict | None:
    """The room's next premiere until its moment (it is switched in a few seconds before, so
    the countdown and the early `now_playing` overlap)."""
    premiere = (
        Premiere.objects.filter(room_id=room_id, starts_at__gt=timezone.now())
        .order_by("starts_at")
        .first()
    )
    if premiere is None:
        return None
    return {"title": premiere.title, "starts_at": ms(premiere.starts_at)}


def you_dict(room: Room, user) -> dict:
    role = user_role(room, user)
    muted = "mute" in active_sanctions(room.id, user)
    return {
        "username": user.username if role != "anonymous" else None,
        "role": role,
        "muted": muted,
        "permissions": permissions_for(role, muted=muted),
    }


def room_snapshot(*, room: Room, user) -> dict:
    """Everything a client needs to draw the room, numbered with the room's current seq.

    The seq is read first: a change committed while the rest is read arrives again as an event
    with a higher seq, and events replace state whole, so applying it twice is harmless.
    """
    playback = Playback.objects.filter(room_id=room.id).first()
    return {
        "type": "snapshot",
        "seq": playback.seq if playback else 0,
        "server_time": now_ms(),
        "room": room_dict(room),
        "now_playing": now_playing_dict(room.id, playback or Playback(room_id=room.id)),
        "queue": queue_list(room, user),
        "listeners": listeners_dict(room.id),
        "djs": djs_list(room.id),
        "chat": chat_list(room.id),
        "history": history_list(room.id),
        "premiere": premiere_dict(room.id),
        "you": you_dict(room, user),
    }


# --- catalog search inside a room ----------------------------------------------------------------


def room_search_scope(*, request, slug: str, queryset):
    """The tracks of `queryset` the room's rules allow (settings.CATALOG_ROOM_SEARCH_SCOPE).

    Raises Http404 for a room the request may not see, as the room page does. The rule is the
    one `queue_add` enforces: with no artists or labels set every track is allowed; otherwise a
    track of an allowed label, or by an allowed artist or an artist of an allowed label.
    """
    from catalog.models import Track
    from rooms.views.access import viewable_room_or_404

    room = viewable_room_or_404(request, slug)
    artist_ids = list(room.allowed_artists.values_list("id", flat=True))
    label_ids = list(room.allowed_labels.values_list("id", flat=True))
    if not artist_ids and not label_ids:
        return queryset
    # A subquery on the through table, not a join: a track with two allowed artists must not
    # come back twice.
    by_artist = Track.artists.through.objects.filter(
        Q(artist_id__in=artist_ids) | Q(artist__label_id__in=label_ids)
    ).values("track_id")
    return queryset.filter(Q(label_id__in=label_ids) | Q(id__in=by_artist))
