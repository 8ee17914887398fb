"""Catalog reads that several apps share."""

from django.db.models import QuerySet

from catalog.models import Track


def held_for_premiere() -> QuerySet[Track]:
    """Tracks a label holds back for a premiere that has not started: their first play is the
    premiere's, so until then no room may queue them and no search may offer them."""
    return Track.objects.filter(premiere__started=False)


def playable_tracks() -> QuerySet[Track]:
    """Tracks a room can play: with stored audio and a known duration (Track.playable), and not
    held back for a premiere."""
    return (
        Track.objects.exclude(audio="")
        .filter(duration_ms__gt=0)
        .exclude(pk__in=held_for_premiere().values("pk"))
    )
