import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from catalog.importer import import_catalog
from labels.models import Label

HELP = """Import tracks from a CSV or JSON delivery, idempotently: a track is found again by its
ISRC, so importing the same file twice updates and never duplicates.

CSV: a header row, then one track per row. Columns (any order):
  isrc          required, e.g. USRC17607839 (hyphens and spaces are dropped)
  title         required
  artists       required; several separated by ';' (created for the label when missing)
  album         optional
  genres        optional; several separated by ';' (created when missing)
  duration_ms   optional whole milliseconds; ignored once the track has audio
  external_uri  optional, e.g. spotify:track:4uLU6hMCjMI75M1A2tKUQC
  label         the label's slug; optional with --label (and must then match it)
  audio         optional path of an audio file, relative to the imported file's folder
JSON: a list of objects with the same keys; artists and genres may be lists.

Every error is reported as "row N, field: message" (CSV rows count the header as row 1; JSON
rows count objects from 1). Nothing is imported unless every row is right, unless --partial:
then the good rows are imported and the bad ones reported. The exit status is 1 when any row
had an error. See docs/catalog-import.md."""


class Progress:
    """A bar redrawn in place on a terminal; when output is a file or pipe, a line every
    ``every`` rows, so logs stay readable. ``stream`` is a command's OutputWrapper."""

    def __init__(self, stream, *, every: int = 1000):
        self.stream = stream
        self.tty = stream.isatty()
        self.every = every
        self._drawn_at = 0.0
        self._last_line = 0

    def __call__(self, done: int, total: int) -> None:
        if self.tty:
            now = time.monotonic()
            if done != total and now - self._drawn_at < 0.1:
                return
            self._drawn_at = now
            width = 30
            filled = int(width * done / total) if total else width
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r[{bar}] {done}/{total} rows", ending="")
            if done == total:
                self.stream.write("")
            self.stream.flush()
        elif done - self._last_line >= self.every or (done == total and self._last_line):
            self._last_line = done
            self.stream.write(f"{done}/{total} rows checked")
            self.stream.flush()


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name, subcommand, **kwargs):
        from argparse import RawDescriptionHelpFormatter

        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV or JSON file to import")
        parser.add_argument("--label", help="slug of the label the tracks belong to")
        parser.add_argument(
            "--format", choices=["csv", "json"], help="default: from the file's extension"
        )
        parser.add_argument(
            "--partial",
            action="store_true",
            help="import the good rows even when some rows have errors",
        )

    def handle(self, *args, **options):
        path = Path(options["file"])
        fmt = options["format"] or path.suffix.lower().lstrip(".")
        if fmt not in ("csv", "json"):
            raise CommandError(f"Cannot tell the format of {path.name}: pass --format csv|json.")
        label = None
        if options["label"]:
            label = Label.objects.filter(slug=options["label"]).first()
            if label is None:
                raise CommandError(f"There is no label with the slug {options['label']!r}.")
        try:
            source = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.")

        progress = Progress(self.stderr)
        report = import_catalog(
            source=source,
            fmt=fmt,
            label=label,
            partial=options["partial"],
            progress=progress,
            base_dir=path.parent,
        )
        for error in report.errors:
            self.stderr.write(str(error))
        summary = f"{report.created} created, {report.updated} updated"
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"Imported {path.name}: {summary}."))
            return
        rows = len({e.row for e in report.errors})
        if options["partial"]:
            self.stdout.write(f"Imported {path.name} in part: {summary}.")
            raise CommandError(f"{rows} row(s) had errors and were skipped.", returncode=1)
        raise CommandError(
            f"Nothing imported: {len(report.errors)} error(s) in {rows} row(s). Fix them, or "
            "pass --partial to import the good rows.",
            returncode=1,
        )
