"""CSV and XLSX exports of rolled-up stats, streamed with constant memory.

On PostgreSQL a CSV is written by the database (``COPY (SELECT …) TO STDOUT``, see
``export_copy``) and passed on in chunks; elsewhere ``csv.writer`` writes it row by row from a
server-side cursor. Both give the same rows. An XLSX is a zip, so it
is written first (xlsxwriter's constant_memory mode flushes each row to disk) and then sent as a
file. Exports larger than ``ANALYTICS_EXPORT_SYNC_ROWS`` run as a Celery job with progress.
"""

import csv
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from analytics import export_copy, selectors
from analytics.models import ExportJob
from analytics.params import Filters
from analytics.selectors import Window

HEADER = ["bucket_start", "granularity", "entity_type", "entity_id", "name", "stat", "value"]
XLSX_MAX_ROWS = 1_048_575
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PROGRESS_EVERY = 10_000


def sync_limit() -> int:
    return getattr(settings, "ANALYTICS_EXPORT_SYNC_ROWS", 200_000)


def export_dir() -> Path:
    folder = Path(getattr(settings, "ANALYTICS_EXPORT_DIR", settings.VAR_DIR / "exports"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _rows(label_id: int, filters: Filters) -> Iterator[list]:
    gran = filters.window.granularity
    for bucket, etype, eid, name, stat, value in selectors.export_rows(
        label_id=label_id,
        window=filters.window,
        entity_type=filters.entity_type,
        entity_id=filters.entity_id,
        stats=filters.stats,
    ):
        yield [
            bucket.strftime("%Y-%m-%dT%H:%M:%SZ"),
            gran,
            etype,
            eid,
            name or "",
            selectors.display_name(stat),
            selectors.display(stat, value),
        ]


def _query(label_id: int, filters: Filters):
    return selectors.export_queryset(
        label_id=label_id,
        window=filters.window,
        entity_type=filters.entity_type,
        entity_id=filters.entity_id,
        stats=filters.stats,
    )


def row_count(label_id: int, filters: Filters) -> int:
    return _query(label_id, filters).count()


class _Echo:
    def write(self, value):
        return value


def csv_stream(label_id: int, filters: Filters) -> Iterator[bytes]:
    """Chunks of CSV, produced as the rows are read: memory stays flat however many rows."""
    if connection.vendor == "postgresql":
        select = export_copy.copy_select(
            _query(label_id, filters),
            entity_type=filters.entity_type,
            granularity=filters.window.granularity,
        )
        yield from export_copy.copy_stream(select)
        return
    writer = csv.writer(_Echo())
    yield writer.writerow(HEADER).encode()
    batch = []
    for row in _rows(label_id, filters):
        batch.append(writer.writerow(_safe(row)))
        if len(batch) >= 500:
            yield "".join(batch).encode()
            batch = []
    if batch:
        yield "".join(batch).encode()


def _safe(row: list) -> list:
    # A name that starts with = + - @ would be run as a formula by a spreadsheet.
    name = row[4]
    if name and name[0] in export_copy.FORMULA_START:
        row[4] = "'" + name
    return row


def xlsx_write(label_id: int, filters: Filters, path: Path, progress=None) -> int:
    import xlsxwriter

    workbook = xlsxwriter.Workbook(
        str(path), {"constant_memory": True, "strings_to_formulas": False}
    )
    sheet = workbook.add_worksheet("stats")
    bold = workbook.add_format({"bold": True})
    sheet.write_row(0, 0, HEADER, bold)
    sheet.set_column(0, 0, 22)
    sheet.set_column(4, 4, 30)
    n = 0
    for n, row in enumerate(_rows(label_id, filters), start=1):
        if n > XLSX_MAX_ROWS:
            workbook.close()
            raise ValueError("too many rows for a spreadsheet: narrow the range or export CSV")
        row[6] = float(row[6]) if not isinstance(row[6], int) else row[6]
        sheet.write_row(n, 0, row)
        if progress and n % PROGRESS_EVERY == 0:
            progress(n)
    workbook.close()
    return n


def xlsx_tempfile(label_id: int, filters: Filters) -> Path:
    handle = tempfile.NamedTemporaryFile(suffix=".xlsx", delete=False, dir=export_dir())
    handle.close()
    path = Path(handle.name)
    xlsx_write(label_id, filters, path)
    return path


def filename(label_slug: str, filters: Filters, fmt: str) -> str:
    w = filters.window
    who = filters.entity_type + (f"-{filters.entity_id}" if filters.entity_id else "")
    return f"roomtone-{label_slug}-{who}-{w.granularity}-{w.start}-{w.end}.{fmt}"


# --- background jobs ----------------------------------------------------------------------------
def export_job_create(*, label_id: int, user, filters: Filters, fmt: str) -> ExportJob:
    params = {
        "from": filters.window.start.isoformat(),
        "to": filters.window.end.isoformat(),
        "granularity": filters.window.granularity,
        "entity_type": filters.entity_type,
        "entity_id": filters.entity_id,
        "stats": filters.stats,
    }
    job = ExportJob.objects.create(label_id=label_id, requested_by=user, params=params, fmt=fmt)
    from analytics.tasks import export_build

    transaction.on_commit(lambda: export_build.delay(job.id))
    return job


def _filters_of(job: ExportJob) -> Filters:
    from datetime import date

    p = job.params
    window = Window(date.fromisoformat(p["from"]), date.fromisoformat(p["to"]), p["granularity"])
    return Filters(window, p["entity_type"], p["entity_id"], p["stats"])


def export_job_run(*, job_id: int) -> None:
    job = ExportJob.objects.get(id=job_id)
    if job.status == ExportJob.Status.DONE:
        return
    filters = _filters_of(job)
    total = row_count(job.label_id, filters)
    ExportJob.objects.filter(id=job.id).update(status="running", rows_total=total, rows_done=0)

    def progress(done: int) -> None:
        ExportJob.objects.filter(id=job.id).update(rows_done=done)

    path = export_dir() / f"{job.id}-{secrets.token_hex(8)}.{job.fmt}"
    try:
        if job.fmt == "xlsx":
            n = xlsx_write(job.label_id, filters, path, progress)
        else:
            n = 0
            with path.open("wb") as out:
                for chunk in csv_stream(job.label_id, filters):
                    out.write(chunk)
                    lines = chunk.count(b"\n")
                    n += lines
                    if n // PROGRESS_EVERY != (n - lines) // PROGRESS_EVERY:
                        progress(n - 1)
            n -= 1  # the header
    except Exception as exc:
        path.unlink(missing_ok=True)
        ExportJob.objects.filter(id=job.id).update(
            status="failed", error=str(exc)[:300], finished_at=timezone.now()
        )
        raise
    ExportJob.objects.filter(id=job.id).update(
        status="done", rows_done=n, path=str(path), finished_at=timezone.now()
    )
