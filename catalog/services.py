"""Writes to the catalog: audio files, artists and genres."""

import logging
from pathlib import PurePath

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from catalog.audio import AudioInfo, audio_read_metadata
from catalog.models import Artist, Genre, Track
from labels.models import Label

__all__ = [
    "AudioInfo",
    "artist_get_or_create",
    "audio_read_metadata",
    "genre_get_or_create",
    "track_attach_audio",
    "track_set_artists",
]

logger = logging.getLogger(__name__)

# The stored name carries the extension of the format found inside the file, so the media view
# (or the proxy) sends the right Content-Type whatever the uploaded name said.
_EXTENSIONS = {
    "audio/wav": "wav",
    "audio/ogg": "ogg",
    "audio/flac": "flac",
    "audio/mp4": "m4a",
    "audio/aac": "aac",
    "audio/mpeg": "mp3",
}


def _delete_stored(storage, name: str) -> None:
    try:
        storage.delete(name)
    except OSError:
        logger.warning("could not delete replaced audio file %s", name, exc_info=True)


def _unique_slug(model, base: str, max_length: int) -> str:
    base = (slugify(base) or "item")[: max_length - 8]
    slug, n = base, 1
    while model.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def artist_get_or_create(*, name: str, label: Label | None) -> Artist:
    """The label's artist of that name (case-insensitive), created when missing. Artists are
    per label: two labels' "Nico" are different people as far as rights go."""
    name = " ".join(name.split())[:200]
    if not name:
        raise ValidationError("An artist needs a name.", code="required")
    found = Artist.objects.filter(label=label, name__iexact=name).order_by("id").first()
    if found:
        return found
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return Artist.objects.create(
                    name=name, label=label, slug=_unique_slug(Artist, name, 200)
                )
        except IntegrityError:
            continue  # somebody took the slug between our check and the insert
    raise ValidationError(f"Could not create artist {name!r}; try again.")


def genre_get_or_create(*, name: str) -> Genre:
    name = " ".join(name.split())[:60]
    if not name:
        raise ValidationError("A genre needs a name.", code="required")
    found = Genre.objects.filter(name__iexact=name).first()
    if found:
        return found
    slug = slugify(name)[:60]
    if slug and (found := Genre.objects.filter(slug=slug).first()):
        return found  # "Hip-Hop" and "Hip Hop" are one genre
    try:
        with transaction.atomic():
            return Genre.objects.create(name=name, slug=_unique_slug(Genre, name, 60))
    except IntegrityError:
        return Genre.objects.get(name__iexact=name)


def track_set_artists(*, track: Track, artists: list[Artist]) -> None:
    """Set a track's artists in the given order and keep the denormalised artist_names."""
    unique: list[Artist] = []
    for artist in artists:
        if artist not in unique:
            unique.append(artist)
    with transaction.atomic():
        track.artists.set(unique)
        track.artist_names = ", ".join(a.name for a in unique)[:500]
        if track.pk:
            Track.objects.filter(pk=track.pk).update(artist_names=track.artist_names)


def track_attach_audio(*, track: Track, upload) -> Track:
    """Validate an uploaded audio file, store it as the track's audio and read its duration.

    Empty title, album, ISRC and artists are filled from the file's tags. The replaced file is
    deleted once the change is committed; the new one is deleted if it is not.
    """
    filename = PurePath(getattr(upload, "name", "") or "audio").name
    info = audio_read_metadata(upload, filename=filename)
    stored_name = ""
    try:
        with transaction.atomic():
            if track.pk:
                Track.objects.select_for_update().filter(pk=track.pk).first()
            old_name = track.audio.name if track.audio else ""
            if not track.title:
                track.title = info.title or PurePath(filename).stem[:300] or "Untitled"
            if not track.album and info.album:
                track.album = info.album
            if (
                not track.isrc
                and info.isrc
                and not Track.objects.filter(isrc=info.isrc).exclude(pk=track.pk).exists()
            ):
                track.isrc = info.isrc
            stem = slugify(track.title)[:60] or "track"
            track.audio.save(f"{stem}.{_EXTENSIONS[info.mime]}", upload, save=False)
            stored_name = track.audio.name
            track.duration_ms = info.duration_ms
            track.audio_mime = info.mime
            track.save()
            if info.artists and not track.artists.exists():
                artists = [artist_get_or_create(name=n, label=track.label) for n in info.artists]
                track_set_artists(track=track, artists=artists)
            if old_name and old_name != stored_name:
                storage = track.audio.storage
                transaction.on_commit(lambda: _delete_stored(storage, old_name))
    except BaseException:
        if stored_name:
            _delete_stored(track.audio.storage, stored_name)
        raise
    return track
