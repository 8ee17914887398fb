"""Demo data: two labels, their artists and tracks with synthesized audio, accounts, and rooms
with queues, votes, chat and a listening history, so every page and dashboard has something in it.

Idempotent: every object is found by its natural key before it is created, and a room's history
is written only into a room that has none, so a second run creates and changes nothing. Audio is
rendered only for tracks whose file is missing (catalog/synth.py; same ISRC, same bytes).
"""

import random
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from catalog import synth
from catalog.models import Artist, Genre, Track
from config import demo_logins as logins
from labels.models import Label, Membership
from rooms.demo_data import ARTISTS, CHAT_LINES, ROOMS
from rooms.impressions import impressions_record_at
from rooms.models import (
    Campaign,
    ChatMessage,
    DJSeat,
    Favourite,
    ListeningSession,
    Play,
    Playback,
    Premiere,
    QueueEntry,
    Room,
    RoomRole,
    Vote,
)

User = get_user_model()
HISTORY_DAYS = 14
# Demo sessions end before now: they start at tracks played at least this long ago.
HOUR_QUARTER = timedelta(minutes=15)


@dataclass
class SeedReport:
    created: dict[str, int] = field(default_factory=dict)
    rendered: int = 0

    def add(self, kind: str, n: int = 1) -> None:
        if n:
            self.created[kind] = self.created.get(kind, 0) + n

    def __str__(self) -> str:
        if not self.created and not self.rendered:
            return "Demo data already present; nothing to do."
        parts = [f"{n} {kind}" for kind, n in self.created.items()]
        if self.rendered:
            parts.append(f"{self.rendered} audio files rendered")
        return "Created " + ", ".join(parts) + "."


def seed_demo() -> SeedReport:
    report = SeedReport()
    with transaction.atomic():
        users = _accounts(report)
        tracks = _catalog(report)
    # Rendering takes seconds: outside any transaction, so a running server is never blocked.
    _audio(tracks, report)
    with transaction.atomic():
        _rooms(users, tracks, report)
    return report


def _user(username: str, password: str, report: SeedReport, **flags) -> "User":
    user, created = User.objects.get_or_create(
        username=username, defaults={"email": f"{username}@roomtone.example", **flags}
    )
    if created:
        user.set_password(password)
        user.save(update_fields=["password"])
        report.add("accounts")
    return user


def _accounts(report: SeedReport) -> dict[str, "User"]:
    users = {
        logins.OPERATOR: _user(
            logins.OPERATOR, logins.OPERATOR_PASSWORD, report, is_staff=True, is_superuser=True
        )
    }
    for name in (*logins.FANS, *logins.LISTENERS):
        users[name] = _user(name, logins.FAN_PASSWORD, report)
    for slug, staff in logins.LABEL_STAFF.items():
        label, created = Label.objects.get_or_create(
            slug=slug,
            defaults={"name": logins.LABEL_NAMES[slug], "website": f"https://{slug}.example"},
        )
        report.add("labels", created)
        for username, role in staff:
            users[username] = _user(username, logins.LABEL_PASSWORD, report)
            _, created = Membership.objects.get_or_create(
                label=label, user=users[username], defaults={"role": role}
            )
            report.add("memberships", created)
    return users


def _isrc(label_slug: str, n: int) -> str:
    prefix = "NOXNL" if label_slug.startswith("northern") else "GBSWS"
    return f"{prefix}26{n:05d}"


def _catalog(report: SeedReport) -> dict[str, Track]:
    """Artists and tracks by ISRC; returns tracks keyed by title."""
    genres: dict[str, Genre] = {}
    tracks: dict[str, Track] = {}
    numbers: dict[str, int] = {}
    for spec in ARTISTS:
        label = Label.objects.get(slug=spec["label"])
        artist, created = Artist.objects.get_or_create(
            slug=spec["slug"],
            defaults={
                "name": spec["name"],
                "label": label,
                "bio": spec["bio"],
                "follow_url": f"https://{label.slug}.example/artists/{spec['slug']}",
                "buy_url": f"https://{label.slug}.example/shop/{spec['slug']}",
            },
        )
        report.add("artists", created)
        genre_name = spec["genre"]
        if genre_name not in genres:
            genres[genre_name], created = Genre.objects.get_or_create(name=genre_name)
            report.add("genres", created)
        for title in spec["tracks"]:
            numbers[label.slug] = numbers.get(label.slug, 0) + 1
            featured = Artist.objects.filter(slug=spec.get("feat", {}).get(title, "")).first()
            names = artist.name + (f" feat. {featured.name}" if featured else "")
            track, created = Track.objects.get_or_create(
                isrc=_isrc(label.slug, numbers[label.slug]),
                defaults={
                    "title": title,
                    "album": spec["album"],
                    "label": label,
                    "artist_names": names,
                    "external_uri": f"spotify:track:demo{zlib.crc32(title.encode()):08x}",
                },
            )
            if created:
                track.artists.set([artist, featured] if featured else [artist])
                track.genres.set([genres[genre_name]])
                report.add("tracks")
            tracks[title] = track
    return tracks


def _audio(tracks: dict[str, Track], report: SeedReport) -> None:
    missing = [t for t in tracks.values() if not (t.audio and t.audio.storage.exists(t.audio.name))]
    if not missing:
        return
    style_of = {t: a["style"] for a in ARTISTS for t in a["tracks"]}
    pieces = synth.render_many(
        [{"seed": zlib.crc32(t.isrc.encode()), "style": style_of[t.title]} for t in missing]
    )
    for track, piece in zip(missing, pieces, strict=True):
        track.audio.save(f"{track.title}.wav", ContentFile(piece.wav), save=False)
        track.duration_ms = piece.duration_ms
        track.audio_mime = "audio/wav"
        track.save(update_fields=["audio", "duration_ms", "audio_mime", "updated_at"])
    report.rendered = len(missing)


def _rooms(users: dict, tracks: dict[str, Track], report: SeedReport) -> None:
    now = timezone.now()
    for spec in ROOMS:
        label = Label.objects.filter(slug=spec.get("label", "")).first()
        artist = Artist.objects.filter(slug=spec.get("artist", "")).first()
        room, created = Room.objects.get_or_create(
            slug=spec["slug"],
            defaults={
                "name": spec["name"],
                "description": spec["description"],
                "owner": users[spec["owner"]],
                "label": label,
                "artist": artist,
                "mode": spec.get("mode", Room.Mode.JUKEBOX),
                "visibility": spec.get("visibility", Room.Visibility.PUBLIC),
                "is_featured": spec.get("featured", False),
                "theme_primary": spec.get("theme", ("", ""))[0],
                "theme_accent": spec.get("theme", ("", ""))[1],
                "pinned_message": spec.get("pinned", ""),
                **spec.get("venue", {}),
            },
        )
        report.add("rooms", created)
        if created:
            room.genres.set(Genre.objects.filter(name__in=spec["genres"]))
            if artist and spec.get("artist_only"):
                room.allowed_artists.set([artist])
            elif label:
                room.allowed_labels.set([label])
            for username, role in [(spec["owner"], "owner"), *spec.get("roles", [])]:
                RoomRole.objects.get_or_create(room=room, user=users[username], role=role)
        # Campaigns and premieres are seeded with their room only: what the label's staff rename,
        # move or delete since stays as they left it.
        if created and label and spec.get("campaign"):
            _, made = Campaign.objects.get_or_create(
                label=label,
                room=room,
                name=spec["campaign"],
                defaults={
                    "starts_on": date.today() - timedelta(days=7),
                    "ends_on": date.today() + timedelta(days=21),
                },
            )
            report.add("campaigns", made)
        if created and label and spec.get("premiere"):
            title, track_title = spec["premiere"]
            starts = (now + timedelta(days=2)).replace(hour=19, minute=0, second=0, microsecond=0)
            _, made = Premiere.objects.get_or_create(
                label=label,
                room=room,
                title=title,
                defaults={"track": tracks[track_title], "starts_at": starts},
            )
            report.add("premieres", made)
        if not room.entries.exists() and spec.get("pool"):
            _history(room, spec, users, [tracks[t] for t in spec["pool"]], now, report)
        Playback.objects.get_or_create(room=room)


def _history(room, spec, users, pool: list[Track], now: datetime, report: SeedReport) -> None:
    """Played entries over two weeks, one playing now, a voted queue, chat and sessions."""
    rng = random.Random(room.slug)
    fans = [users[n] for n in (*logins.FANS, *logins.LISTENERS)]
    played = []
    start = now - timedelta(days=HISTORY_DAYS)
    step = timedelta(days=HISTORY_DAYS) / spec.get("plays", 30)
    for i in range(spec.get("plays", 30)):
        track = pool[i % len(pool)] if i % 3 else rng.choice(pool)
        began = start + step * i + timedelta(minutes=rng.randint(0, 50))
        played.append(
            QueueEntry(
                room=room,
                track=track,
                added_by=rng.choice(fans),
                status=QueueEntry.Status.SKIPPED if i % 11 == 5 else QueueEntry.Status.PLAYED,
                upvotes=rng.randint(0, 6),
                downvotes=rng.randint(0, 2),
                autofilled=i % 7 == 3,
                started_at_ms=int(began.timestamp() * 1000),
                ended_at=began + timedelta(milliseconds=track.duration_ms),
            )
        )
    now_ms = int(now.timestamp() * 1000)
    playing = QueueEntry(
        room=room,
        track=rng.choice(pool),
        added_by=rng.choice(fans),
        status=QueueEntry.Status.PLAYING,
        upvotes=3,
        started_at_ms=now_ms,
    )
    queued = [
        QueueEntry(room=room, track=t, added_by=rng.choice(fans), status=QueueEntry.Status.QUEUED)
        for t in rng.sample(pool, min(len(pool), spec.get("queue", 4)))
    ]
    QueueEntry.objects.bulk_create([*played, playing, *queued])
    entries = QueueEntry.objects.filter(room=room).order_by("id")
    saved = {e.id: e for e in entries}
    played_saved = [e for e in entries if e.status != QueueEntry.Status.QUEUED]
    Play.objects.bulk_create(
        Play(
            room=room,
            entry=e,
            track_id=e.track_id,
            dj=e.added_by if room.mode == Room.Mode.DJ else None,
            started_at=datetime.fromtimestamp(e.started_at_ms / 1000, tz=UTC),
            listeners=0,  # counted from the sessions below
        )
        for e in played_saved
    )
    # The played entries were added, and voted on, in the minutes before they played: spread the
    # adds and votes over the two weeks as the plays are (created_at is auto_now_add).
    history_votes = []
    for entry in played_saved:
        if entry.status == QueueEntry.Status.PLAYING:
            continue
        began = datetime.fromtimestamp(entry.started_at_ms / 1000, tz=UTC)
        entry.created_at = began - timedelta(minutes=rng.randint(3, 40))
        for k, voter in enumerate(rng.sample(fans, min(len(fans), entry.upvotes))):
            history_votes.append((Vote(entry=entry, user=voter, value=1), entry.created_at, k))
    QueueEntry.objects.bulk_update(
        [e for e in played_saved if e.status != QueueEntry.Status.PLAYING], ["created_at"]
    )
    Vote.objects.bulk_create([v for v, _, _ in history_votes])
    for vote, added, k in history_votes:
        vote.created_at = added + timedelta(minutes=1 + k)
    Vote.objects.bulk_update([v for v, _, _ in history_votes], ["created_at"])
    votes = []
    for entry in (e for e in saved.values() if e.status == QueueEntry.Status.QUEUED):
        voters = rng.sample(fans, rng.randint(0, 6))
        for k, voter in enumerate(voters):
            votes.append(Vote(entry=entry, user=voter, value=-1 if k == 4 else 1))
        entry.upvotes = sum(1 for v in votes if v.entry is entry and v.value == 1)
        entry.downvotes = sum(1 for v in votes if v.entry is entry and v.value == -1)
        entry.save(update_fields=["upvotes", "downvotes"])
    Vote.objects.bulk_create(votes)
    current = next(e for e in saved.values() if e.status == QueueEntry.Status.PLAYING)
    Playback.objects.update_or_create(
        room=room,
        defaults={
            "current_entry": current,
            "started_at_ms": now_ms,
            "ends_at_ms": now_ms + current.track.duration_ms,
        },
    )
    if room.mode == Room.Mode.DJ:
        for position, username in enumerate(spec.get("djs", []), start=1):
            DJSeat.objects.get_or_create(
                room=room, user=users[username], defaults={"position": position}
            )
    chat = rng.sample(CHAT_LINES, min(len(CHAT_LINES), 12))
    for k, text in enumerate(chat):
        message = ChatMessage.objects.create(room=room, user=rng.choice(fans), text=text)
        # created_at is auto_now_add; spread the backlog over the last hour.
        ChatMessage.objects.filter(id=message.id).update(
            created_at=now - timedelta(minutes=5 * (len(chat) - k))
        )
    # A fan comes in shortly before a track of the history and leaves shortly after it ends, so
    # listening time, unique listeners and each play's listeners tell one story on the dashboards.
    heard = [
        (at, e.ended_at)
        for e in played_saved
        if (at := datetime.fromtimestamp(e.started_at_ms / 1000, tz=UTC)) < now - HOUR_QUARTER
    ]
    sessions = []
    for _ in range(spec.get("sessions", 60) if heard else 0):
        track_start, track_end = rng.choice(heard)
        began = track_start - timedelta(seconds=rng.randint(5, 120))
        user = rng.choice([*fans, None])
        ended = track_end + timedelta(seconds=rng.randint(0, 30))
        sessions.append(
            ListeningSession(
                room=room,
                user=user,
                session_key="" if user else f"anon{rng.randrange(10**8):08d}",
                started_at=began,
                ended_at=ended,
                last_seen_at=ended,
                audio_active=True,
            )
        )
    ListeningSession.objects.bulk_create(sessions)
    plays = list(Play.objects.filter(room=room))
    for play in plays:
        play.listeners = sum(1 for x in sessions if x.started_at <= play.started_at < x.ended_at)
    Play.objects.bulk_update(plays, ["listeners"])
    # Through the capture path, with viewers, so reach has distinct viewers to count.
    shown = 0
    for day in range(HISTORY_DAYS):
        for hour in rng.sample(range(24), 5):
            when = (now - timedelta(days=day)).replace(hour=hour, minute=0, second=0, microsecond=0)
            if when >= now:
                continue
            for surface in ("directory", "page", "search", "embed"):
                for _ in range(rng.randint(1, 25)):
                    impressions_record_at(
                        room_ids=[room.id],
                        surface=surface,
                        viewer=f"demo-viewer-{rng.randrange(400)}",
                        at=min(now, when + timedelta(seconds=rng.randrange(3600))),
                    )
                    shown += 1
    for user in rng.sample(fans[:4], 2):
        Favourite.objects.get_or_create(user=user, track=current.track, defaults={"room": room})
    report.add("queue entries", len(played) + 1 + len(queued))
    report.add("chat messages", len(chat))
    report.add("listening sessions", len(sessions))
    report.add("impressions", shown)
