"""Catalog reads that several apps share."""

from django.db.models import QuerySet

from catalog.models import Track


def playable_tracks() -> QuerySet[Track]:
    """Tracks a room can play: with stored audio and a known duration (Track.playable)."""
    return Track.objects.exclude(audio="").filter(duration_ms__gt=0)
