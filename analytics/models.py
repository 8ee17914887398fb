"""Rolled-up statistics and the fill state that keeps them honest.

One table holds every count: a row is the value of one stat for one entity (a room, track, artist
or label) in one bucket (a day or a week starting Monday, all UTC). A day row also carries its
hours (``hours``: the hour of the day, "0" to "23", to that hour's value, zero hours left out), so
a rollup writes one row per entity and day instead of one per hour; ``StatHour`` reads them back
as hour rows. `label` is the label that owns the entity, so every read is scoped by one indexed
column.
"""

from django.conf import settings
from django.db import models

from labels.models import Label


class Granularity(models.TextChoices):
    HOUR = "hour", "Hour"
    DAY = "day", "Day"
    WEEK = "week", "Week"


class Entity(models.TextChoices):
    ROOM = "room", "Room"
    TRACK = "track", "Track"
    ARTIST = "artist", "Artist"
    LABEL = "label", "Label"


class Stat(models.TextChoices):
    PLAYS = "plays", "Plays"
    UNIQUE_LISTENERS = "unique_listeners", "Unique listeners"
    LISTENING_MS = "listening_ms", "Listening time (ms)"
    OTS = "ots", "OTS"
    REACH = "reach", "Reach"
    VOTES = "votes", "Votes"
    ADDS = "adds", "Adds"
    SKIPS = "skips", "Skip votes"
    FAVOURITES = "favourites", "Favourites"
    CHAT = "chat", "Chat messages"


# Distinct counts cannot be added up: their days and weeks are computed from the raw facts.
DISTINCT_STATS = frozenset({Stat.UNIQUE_LISTENERS, Stat.REACH})


class StatRow(models.Model):
    """One stat of one entity in one bucket: what stored rows and the hours view have in common."""

    stat = models.CharField(max_length=20, choices=Stat.choices)
    granularity = models.CharField(max_length=4, choices=Granularity.choices)
    bucket_start = models.DateTimeField()
    entity_type = models.CharField(max_length=6, choices=Entity.choices)
    entity_id = models.BigIntegerField()
    value = models.BigIntegerField(default=0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return (
            f"{self.stat} {self.granularity} {self.bucket_start:%Y-%m-%d %H:00} "
            f"{self.entity_type}:{self.entity_id} = {self.value}"
        )


class StatCount(StatRow):
    # Derived rows, rewritten by the thousand on every rollup: no database-level foreign key
    # (a deferred check per inserted row, at commit); deleting a label still deletes them.
    label = models.ForeignKey(
        Label,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # Day rows only: {"hour of the day": value} for the hours that are not zero.
    hours = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            # Bucket first: the same index serves the upserts and the whole-bucket deletes and
            # sums of a rollup, so each inserted row updates one index fewer.
            models.UniqueConstraint(
                fields=["stat", "granularity", "bucket_start", "entity_type", "entity_id"],
                name="statcount_unique",
            )
        ]
        indexes = [
            # Dashboards: one label's series and top lists.
            models.Index(
                fields=["label", "entity_type", "granularity", "stat", "bucket_start"],
                name="statcount_label",
            ),
        ]


class StatHour(StatRow):
    """The hour rows held in day rows' ``hours``, as rows (a database view; read-only).

    Filter on ``day`` (the day row's start) as well as ``bucket_start``: only ``day`` reaches the
    table's indexes.
    """

    id = models.BigIntegerField(primary_key=True)  # the day row's id * 24 + the hour
    label = models.ForeignKey(
        Label, on_delete=models.DO_NOTHING, null=True, related_name="+", db_constraint=False
    )
    day = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "analytics_stathour"


class FillState(models.Model):
    """How far a stat has been rolled up. STARTED left behind by a dead run is redone."""

    class State(models.TextChoices):
        STARTED = "started", "Started"
        DONE = "done", "Done"

    stat = models.CharField(max_length=20, choices=Stat.choices, unique=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.DONE)
    # Raw rows with a larger id are new (for stats read from an append-only table)...
    watermark_id = models.BigIntegerField(default=0)
    # ...or raw facts that ended after this moment are new (sessions, impressions).
    watermark_time = models.DateTimeField(null=True, blank=True)
    # Votes: when the oldest entry open to votes (queued or playing) at the last run was added. A
    # vote cleared since then sits at or after it, even if its entry is gone from the queue now.
    live_since = models.DateTimeField(null=True, blank=True)
    run_started = models.DateTimeField(null=True, blank=True)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.stat}: {self.state} @ {self.watermark_id}/{self.watermark_time}"


class ExportJob(models.Model):
    """A large export built in the background; the portal polls it and offers the file."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    params = models.JSONField(default=dict)
    fmt = models.CharField(max_length=4, default="csv")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    rows_done = models.BigIntegerField(default=0)
    rows_total = models.BigIntegerField(default=0)
    # Outside MEDIA_ROOT: exports are served only through the label-checked download view.
    path = models.CharField(max_length=300, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
