"""Catalog deliveries: CSV or JSON rows of tracks, imported idempotently on the ISRC.

The format is described in docs/catalog-import.md. Every row is checked and every problem is
reported with its row number and field; without ``partial`` nothing is written unless every row
is right, with it the good rows land and the bad ones are reported.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction

from catalog.import_rows import (
    COLUMNS,
    FileError,
    Labels,
    Row,
    RowError,
    parse_csv,
    parse_json,
    read_text,
)
from catalog.models import Artist, Genre, Track
from catalog.services import (
    artist_get_or_create,
    genre_get_or_create,
    track_attach_audio,
    track_set_artists,
)
from labels.models import Label

__all__ = ["COLUMNS", "ImportReport", "RowError", "import_catalog"]


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class _Rollback(Exception):
    pass


class _FieldError(Exception):
    def __init__(self, field_name: str, error: ValidationError):
        super().__init__(field_name)
        self.field_name, self.messages = field_name, error.messages


def _sha256(fh) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: fh.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def _same_file(track: Track, path: Path) -> bool:
    """Re-importing a delivery must not store its audio again."""
    try:
        if not track.audio or track.audio.size != path.stat().st_size:
            return False
        with track.audio.open("rb") as stored, path.open("rb") as new:
            return _sha256(stored) == _sha256(new)
    except OSError:
        return False  # the stored file is gone: attach the new one


class _Writer:
    """Applies checked rows, caching artists and genres across rows."""

    def __init__(self, existing: dict[str, Track]):
        self.existing = existing
        self.artists: dict[tuple[int, str], Artist] = {}
        self.genres: dict[str, Genre] = {}
        self.stored: list[tuple[object, str]] = []

    def apply(self, row: Row) -> bool:
        """Write one row; True when it created a track."""
        data, present = row.data, row.present
        label = data["label"]
        track = self.existing.get(data["isrc"])
        created = track is None
        if created:
            track = Track(isrc=data["isrc"], label=label)
        track.title = data["title"]
        for name in ("album", "external_uri"):
            if name in present:
                setattr(track, name, data[name])
        if data["duration_ms"] is not None and not track.audio:
            track.duration_ms = data["duration_ms"]
        track.save()
        artists = []
        for name in data["artists"]:
            key = (label.pk, name.lower())
            if key not in self.artists:
                self.artists[key] = artist_get_or_create(name=name, label=label)
            artists.append(self.artists[key])
        track_set_artists(track=track, artists=artists)
        if "genres" in present:
            genres = []
            for name in data["genres"]:
                if name.lower() not in self.genres:
                    self.genres[name.lower()] = genre_get_or_create(name=name)
                genres.append(self.genres[name.lower()])
            track.genres.set(genres)
        audio = data["audio"]
        if audio is not None and not _same_file(track, audio):
            with audio.open("rb") as fh:
                try:
                    track_attach_audio(track=track, upload=File(fh, name=audio.name))
                except ValidationError as exc:
                    raise _FieldError("audio", exc)
            self.stored.append((track.audio.storage, track.audio.name))
        self.existing[data["isrc"]] = track
        return created


def _existing_tracks(isrcs: list[str]) -> dict[str, Track]:
    found: dict[str, Track] = {}
    for start in range(0, len(isrcs), 1000):
        for track in Track.objects.filter(isrc__in=isrcs[start : start + 1000]):
            found[track.isrc] = track
    return found


def import_catalog(
    *,
    source,
    fmt: str,
    label: Label | None = None,
    partial: bool = False,
    progress: Callable[[int, int], None] | None = None,
    base_dir: Path | str | None = None,
) -> ImportReport:
    """Import a delivery (bytes, text or a file) for ``label``. ``base_dir`` is the folder the
    ``audio`` column's paths are relative to (the command passes the file's folder)."""
    report = ImportReport()
    if fmt not in ("csv", "json"):
        report.errors.append(RowError(0, "format", f"Unknown format {fmt!r}: use csv or json."))
        return report
    try:
        parsed = (parse_csv if fmt == "csv" else parse_json)(read_text(source))
    except FileError as exc:
        report.errors.append(exc.error)
        return report

    labels = Labels(label)
    base = Path(base_dir) if base_dir is not None else None
    rows = [Row(number, raw, labels=labels, base_dir=base) for number, raw in parsed]
    first_seen: dict[str, int] = {}
    for row in rows:
        isrc = row.data.get("isrc")
        if isrc and isrc in first_seen:
            row.errors.append(
                RowError(row.number, "isrc", f"{isrc} is also on row {first_seen[isrc]}.")
            )
        elif isrc:
            first_seen[isrc] = row.number

    existing = _existing_tracks(list(first_seen))
    for row in rows:
        track = existing.get(row.data.get("isrc"))
        row_label = row.data.get("label")
        if track is not None and row_label is not None and track.label_id != row_label.pk:
            row.errors.append(
                RowError(row.number, "isrc", f"{track.isrc} is another label's track.")
            )

    writer = _Writer(existing)
    total = len(rows)
    every = max(1, total // 200)
    try:
        with transaction.atomic():
            for done, row in enumerate(rows, start=1):
                if not row.errors:
                    try:
                        with transaction.atomic():
                            if writer.apply(row):
                                report.created += 1
                            else:
                                report.updated += 1
                    except _FieldError as exc:
                        row.errors.extend(
                            RowError(row.number, exc.field_name, m) for m in exc.messages
                        )
                    except ValidationError as exc:
                        row.errors.extend(RowError(row.number, "row", m) for m in exc.messages)
                report.errors.extend(row.errors)
                if progress and (done % every == 0 or done == total):
                    progress(done, total)
            if report.errors and not partial:
                raise _Rollback
    except _Rollback:
        report.created = report.updated = 0
    except BaseException:
        _delete(writer.stored)
        raise
    if report.errors and not partial:
        _delete(writer.stored)
    return report


def _delete(stored: list) -> None:
    for storage, name in stored:
        storage.delete(name)
