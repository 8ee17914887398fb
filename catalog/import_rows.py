"""Reading a catalog delivery: CSV or JSON parsed into rows, each checked field by field.

docs/catalog-import.md describes the format. Nothing here writes to the database.
"""

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError

from catalog.isrc import normalize_isrc
from labels.models import Label

COLUMNS = (
    "isrc",
    "title",
    "artists",
    "album",
    "genres",
    "duration_ms",
    "external_uri",
    "label",
    "audio",
)
REQUIRED_COLUMNS = ("isrc", "title", "artists")
LIST_SEPARATOR = ";"
MAX_DURATION_MS = 24 * 60 * 60 * 1000
_LIMITS = {"title": 300, "album": 300, "external_uri": 200}


@dataclass(frozen=True)
class RowError:
    row: int  # CSV: the spreadsheet row (the header is row 1); JSON: the item's position from 1
    field: str
    message: str

    def __str__(self) -> str:
        if not self.row:
            return f"the file, {self.field}: {self.message}"
        return f"row {self.row}, {self.field}: {self.message}"


class FileError(Exception):
    def __init__(self, row: int, field_name: str, message: str):
        super().__init__(message)
        self.error = RowError(row, field_name, message)


def read_text(source) -> str:
    if hasattr(source, "read"):
        source = source.read()
    if isinstance(source, bytes):
        try:
            return source.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FileError(0, "file", f"The file is not UTF-8 text (byte {exc.start}).")
    return source


def parse_csv(text: str) -> list[tuple[int, dict]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise FileError(1, "file", "The file is empty: expected a header row.")
    except csv.Error as exc:
        raise FileError(1, "file", f"Unreadable CSV: {exc}")
    names = [h.strip().lower() for h in header]
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        raise FileError(
            1, "header", f"Unknown column(s) {', '.join(unknown)}; use {', '.join(COLUMNS)}."
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise FileError(1, "header", f"Missing column(s): {', '.join(missing)}.")
    rows = []
    try:
        for number, values in enumerate(reader, start=2):
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(names):
                rows.append((number, {"__extra__": True}))
                continue
            rows.append((number, dict(zip(names, values, strict=False))))
    except csv.Error as exc:
        raise FileError(reader.line_num, "file", f"Unreadable CSV: {exc}")
    return rows


def _reject_constant(name: str):
    raise FileError(0, "file", f"Invalid JSON: {name} is not a number JSON allows.")


def parse_json(text: str) -> list[tuple[int, dict]]:
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise FileError(0, "file", f"Invalid JSON at line {exc.lineno}: {exc.msg}.")
    except RecursionError:
        # A delivery is a flat list of objects; nothing real nests this deep.
        raise FileError(0, "file", "Invalid JSON: lists or objects nested too deeply.")
    if not isinstance(data, list):
        raise FileError(0, "file", "Expected a JSON list of track objects.")
    return [(number, item) for number, item in enumerate(data, start=1)]


def _as_text(value, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValidationError(f"Expected text for {name}.")
    if isinstance(value, str) and "\x00" in value:
        # Never text in a delivery, and PostgreSQL refuses to store it.
        raise ValidationError("Contains a NUL character (byte 0); remove it.")
    return " ".join(str(value).split())


def _as_list(value, name: str) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else _as_text(value, name).split(LIST_SEPARATOR)
    names: list[str] = []
    for item in items:
        text = _as_text(item, name)
        if text and text.lower() not in (n.lower() for n in names):
            names.append(text)
    return names


class Row:
    """One row, checked. ``errors`` lists every problem found, not only the first."""

    def __init__(self, number: int, raw, *, labels: "Labels", base_dir: Path | None):
        self.number = number
        self.errors: list[RowError] = []
        self.data: dict = {}
        # A column the delivery leaves out keeps the track's value; an empty cell clears it.
        self.present: set[str] = set(raw) if isinstance(raw, dict) else set()
        if not isinstance(raw, dict):
            self._error("row", "Expected an object with isrc, title, artists, ...")
            return
        if raw.get("__extra__"):
            self._error("row", "This row has more fields than the header.")
            return
        unknown = sorted(k for k in raw if k not in COLUMNS)
        for key in unknown:
            self._error(str(key), f"Unknown field; use {', '.join(COLUMNS)}.")
        for name, check in (
            ("isrc", self._isrc),
            ("title", self._title),
            ("artists", self._artists),
            ("album", self._limited),
            ("genres", self._genres),
            ("duration_ms", self._duration),
            ("external_uri", self._uri),
            ("label", labels.resolve),
            ("audio", lambda v, n: _audio_path(v, base_dir)),
        ):
            try:
                self.data[name] = check(raw.get(name), name)
            except ValidationError as exc:
                for message in exc.messages:
                    self._error(name, message)

    def _error(self, name: str, message: str) -> None:
        self.errors.append(RowError(self.number, name, message))

    @staticmethod
    def _isrc(value, name):
        text = _as_text(value, name)
        if not text:
            raise ValidationError("An ISRC is required: re-imports find the track by it.")
        return normalize_isrc(text)

    @staticmethod
    def _title(value, name):
        text = _as_text(value, name)
        if not text:
            raise ValidationError("A title is required.")
        return Row._limited(text, name)

    @staticmethod
    def _limited(value, name):
        text = _as_text(value, name)
        if len(text) > _LIMITS[name]:
            raise ValidationError(f"At most {_LIMITS[name]} characters (this has {len(text)}).")
        return text

    @staticmethod
    def _artists(value, name):
        names = _as_list(value, name)
        if not names:
            raise ValidationError("At least one artist is required (separate several by ';').")
        too_long = [n for n in names if len(n) > 200]
        if too_long:
            raise ValidationError(f"Artist names are at most 200 characters: {too_long[0][:40]}…")
        return names

    @staticmethod
    def _genres(value, name):
        names = _as_list(value, name)
        too_long = [n for n in names if len(n) > 60]
        if too_long:
            raise ValidationError(f"Genre names are at most 60 characters: {too_long[0][:40]}…")
        return names

    @staticmethod
    def _duration(value, name):
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
                raise ValueError
            ms = int(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise ValidationError(f"Expected a whole number of milliseconds, not {value!r}.")
        if not 0 <= ms <= MAX_DURATION_MS:
            raise ValidationError("Expected milliseconds between 0 and 86400000 (24 hours).")
        return ms

    @staticmethod
    def _uri(value, name):
        text = Row._limited(value, name)
        if text and ":" not in text:
            raise ValidationError("Use a URI such as spotify:track:<id>.")
        return text


class Labels:
    """Resolves each row's label once per slug; the import's own label wins when rows omit it."""

    def __init__(self, label: Label | None):
        self.label = label
        self._by_slug: dict[str, Label | None] = {}

    def resolve(self, value, name) -> Label:
        slug = _as_text(value, name).lower()
        if not slug:
            if self.label is None:
                raise ValidationError("No label: fill this column or import with --label.")
            return self.label
        if slug not in self._by_slug:
            self._by_slug[slug] = Label.objects.filter(slug=slug).first()
        found = self._by_slug[slug]
        if found is None:
            raise ValidationError(f"There is no label {slug!r}.")
        if self.label is not None and found != self.label:
            raise ValidationError(f"This import is for {self.label.slug}; the row says {slug}.")
        return found


def _audio_path(value, base_dir: Path | None) -> Path | None:
    text = _as_text(value, "audio")
    if not text:
        return None
    if base_dir is None:
        raise ValidationError(
            "Audio paths only work with the import_catalog command, next to the file; "
            "upload the audio on the track's page instead."
        )
    root = base_dir.resolve()
    path = (root / text).resolve()
    if Path(text).is_absolute() or not path.is_relative_to(root):
        raise ValidationError("Give the audio path relative to the imported file's folder.")
    if not path.is_file():
        raise ValidationError(f"No audio file at {text}.")
    return path
