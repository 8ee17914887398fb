"""Rooms and the raw facts that happen in them.

The database is the truth: the queue, votes, playback state and presence live here, and every
live message a client receives describes a change that has been committed.
"""

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from catalog.models import Artist, Genre, Track
from labels.models import Label

User = settings.AUTH_USER_MODEL
hex_colour = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a colour like #1db954.")


def new_invite_token() -> str:
    return secrets.token_urlsafe(16)


class Room(models.Model):
    class Mode(models.TextChoices):
        JUKEBOX = "jukebox", "Jukebox (votes order the queue)"
        DJ = "dj", "DJ rotation"

    class Visibility(models.TextChoices):
        PUBLIC = "public", "Public"
        UNLISTED = "unlisted", "Unlisted (anyone with the link)"
        PRIVATE = "private", "Private (invite link only)"

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, max_length=2000)
    owner = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="owned_rooms"
    )
    label = models.ForeignKey(
        Label,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rooms",
        help_text="Set for official rooms run by a label.",
    )
    artist = models.ForeignKey(
        Artist,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="official_rooms",
        help_text="The artist an official room is branded for.",
    )
    genres = models.ManyToManyField(Genre, blank=True, related_name="rooms")
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.JUKEBOX)
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    invite_token = models.CharField(max_length=32, default=new_invite_token)
    is_featured = models.BooleanField(default=False)

    # Venue rooms have a place; fans nearby find them by distance.
    venue_name = models.CharField(max_length=120, blank=True)
    latitude = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(-90), MaxValueValidator(90)]
    )
    longitude = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(-180), MaxValueValidator(180)]
    )

    # Rules
    max_queued_per_user = models.PositiveSmallIntegerField(default=3)
    no_repeat_window = models.PositiveSmallIntegerField(
        default=10, help_text="A track played within this many entries cannot be added again."
    )
    downvote_ratio = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.05), MaxValueValidator(1.0)],
        help_text="An entry is dropped when its down votes exceed this share of listeners.",
    )
    allowed_artists = models.ManyToManyField(Artist, blank=True, related_name="+")
    allowed_labels = models.ManyToManyField(Label, blank=True, related_name="+")
    autofill = models.BooleanField(
        default=True, help_text="Refill the queue from the room's history when it runs dry."
    )
    dj_grace_seconds = models.PositiveSmallIntegerField(default=30)

    # Branding (official rooms)
    theme_primary = models.CharField(max_length=7, blank=True, validators=[hex_colour])
    theme_accent = models.CharField(max_length=7, blank=True, validators=[hex_colour])
    banner = models.ImageField(upload_to="rooms/banners/", blank=True)
    logo = models.ImageField(upload_to="rooms/logos/", blank=True)
    pinned_message = models.CharField(max_length=300, blank=True)

    listener_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["visibility", "-listener_count"]),
            models.Index(fields=["visibility", "-created_at"]),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return f"/rooms/{self.slug}/"

    @property
    def is_official(self) -> bool:
        return self.label_id is not None


class RoomRole(models.Model):
    """A role a user holds in one room beyond listening. Owners are also on Room.owner."""

    class Kind(models.TextChoices):
        OWNER = "owner", "Owner"
        MODERATOR = "moderator", "Moderator"
        DJ = "dj", "DJ"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="roles")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="room_roles")
    role = models.CharField(max_length=10, choices=Kind.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="roomrole_unique")]


class Sanction(models.Model):
    """A mute or a ban, timed (until) or permanent (until is null), lifted by deleting it."""

    class Kind(models.TextChoices):
        MUTE = "mute", "Mute"
        BAN = "ban", "Ban"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="sanctions")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sanctions")
    kind = models.CharField(max_length=4, choices=Kind.choices)
    until = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["room", "user", "kind"])]


class QueueEntry(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PLAYING = "playing", "Playing"
        PLAYED = "played", "Played"
        SKIPPED = "skipped", "Skipped"
        REMOVED = "removed", "Removed"
        DROPPED = "dropped", "Dropped by votes"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="entries")
    track = models.ForeignKey(Track, on_delete=models.PROTECT, related_name="entries")
    added_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="entries"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    # Denormalised vote tallies, kept exact by the vote service with row locks.
    upvotes = models.IntegerField(default=0)
    downvotes = models.IntegerField(default=0)
    autofilled = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at_ms = models.BigIntegerField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["room", "status", "id"]),
            models.Index(
                fields=["room", "-id"], name="entry_history", condition=~Q(status="queued")
            ),
        ]

    @property
    def score(self) -> int:
        return self.upvotes - self.downvotes


class Vote(models.Model):
    entry = models.ForeignKey(QueueEntry, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="votes")
    value = models.SmallIntegerField(choices=[(1, "up"), (-1, "down")])
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entry", "user"], name="vote_unique")]


class SkipVote(models.Model):
    entry = models.ForeignKey(QueueEntry, on_delete=models.CASCADE, related_name="skip_votes")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entry", "user"], name="skipvote_unique")]


class Playback(models.Model):
    """The room's clock: what plays and since when. Advanced only by compare-and-set."""

    room = models.OneToOneField(Room, on_delete=models.CASCADE, primary_key=True)
    current_entry = models.OneToOneField(
        QueueEntry, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at_ms = models.BigIntegerField(null=True, blank=True)
    ends_at_ms = models.BigIntegerField(null=True, blank=True, db_index=True)
    paused = models.BooleanField(default=False)
    # When a moderator paused the room (server ms); while paused ends_at_ms is null, so no timer
    # or sweep advances it, and resuming shifts started/ends by the pause's length.
    paused_at_ms = models.BigIntegerField(null=True, blank=True)
    # The per-room event sequence: bumped in the same transaction as every broadcast change.
    seq = models.BigIntegerField(default=0)


class Play(models.Model):
    """A track that started in a room, with the listeners at its start. Written with the advance."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="plays")
    entry = models.OneToOneField(QueueEntry, on_delete=models.CASCADE, related_name="play")
    track = models.ForeignKey(Track, on_delete=models.PROTECT, related_name="plays")
    dj = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    started_at = models.DateTimeField(db_index=True)
    listeners = models.PositiveIntegerField(default=0)


class ChatMessage(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="chat_messages")
    text = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["room", "-id"])]


class Favourite(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="favourites")
    track = models.ForeignKey(Track, on_delete=models.CASCADE, related_name="favourites")
    room = models.ForeignKey(Room, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "track"], name="favourite_unique")]
        ordering = ["-created_at"]


class DJSeat(models.Model):
    """A place in a DJ-mode room's waitlist; the lowest position plays next."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="dj_seats")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()
    joined_at = models.DateTimeField(auto_now_add=True)
    # Set when the DJ's last socket left; the seat is released after the room's grace period.
    away_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="djseat_unique")]
        ordering = ["position"]


class ModerationAction(models.Model):
    """The room's audit log: every moderator or owner action, kept."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="audit_log")
    actor = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    action = models.CharField(max_length=40)
    target_user = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]


class ListeningSession(models.Model):
    """One fan's stay in a room, one per connection, open while ended_at is null.

    Open sessions are the room's presence: listener counts and skip quorums read them.
    """

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="sessions")
    user = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    session_key = models.CharField(max_length=64, blank=True)
    channel_name = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_seen_at = models.DateTimeField()
    audio_active = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["room"], name="session_open", condition=Q(ended_at__isnull=True))
        ]

    @property
    def duration_seconds(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()


class Campaign(models.Model):
    """A window of dates in which a label's room is featured in the directory."""

    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="campaigns")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=120)
    starts_on = models.DateField()
    ends_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=models.F("starts_on")), name="campaign_window"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Premiere(models.Model):
    """A room (or one track in it) scheduled to start for everyone at a moment."""

    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="premieres")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="premieres")
    track = models.ForeignKey(Track, on_delete=models.PROTECT, null=True, blank=True)
    title = models.CharField(max_length=120)
    starts_at = models.DateTimeField()
    started = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at"]

    def __str__(self) -> str:
        return self.title


class ImpressionCount(models.Model):
    """OTS flushed from the buffer: displays of a room per hour and surface."""

    class Surface(models.TextChoices):
        DIRECTORY = "directory", "Directory listing"
        SEARCH = "search", "Search result"
        FEATURED = "featured", "Featured slot"
        PAGE = "page", "Room page"
        EMBED = "embed", "Embedded widget"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="impressions")
    hour = models.DateTimeField(db_index=True)
    surface = models.CharField(max_length=10, choices=Surface.choices)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "hour", "surface"], name="impression_unique")
        ]
