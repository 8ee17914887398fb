"""On PostgreSQL the CSV comes from COPY; it must say exactly what the portable csv.writer says."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from analytics import export_copy, exports
from analytics.models import StatCount
from analytics.params import Filters
from analytics.selectors import Window
from labels.models import Label
from rooms.models import Room
from tests.conftest import requires_postgres

pytestmark = [pytest.mark.django_db, requires_postgres]
DAY = datetime(2026, 3, 2, tzinfo=UTC)


def _portable(label_id: int, filters: Filters) -> list[list[str]]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(exports.HEADER)
    for row in exports._rows(label_id, filters):
        writer.writerow(exports._safe(row))
    return list(csv.reader(io.StringIO(out.getvalue())))


def test_copy_rows_equal_the_portable_rows():
    label = Label.objects.create(name="Gamma")
    other = Label.objects.create(name="Delta")
    tricky = Room.objects.create(slug="f", name='=HYPERLINK("x"), "quoted"', label=label)
    plain = Room.objects.create(slug="p", name="Plain, with comma", label=label)
    theirs = Room.objects.create(slug="t", name="Theirs", label=other)
    # Minutes to 3 decimals round half to even: 30 ms is 0.0005 min (down), 90 ms 0.0015 (up).
    values = [30, 90, 150, 59_999, 60_000, 123_456_789]
    rows = []
    for i, ms in enumerate(values):
        at = DAY + timedelta(days=i)
        for room in (tricky, plain, theirs):
            rows += [
                StatCount(
                    stat="listening_ms",
                    granularity="day",
                    bucket_start=at,
                    entity_type="room",
                    entity_id=room.id,
                    label_id=room.label_id,
                    value=ms,
                ),
                StatCount(
                    stat="plays",
                    granularity="day",
                    bucket_start=at,
                    entity_type="room",
                    entity_id=room.id,
                    label_id=room.label_id,
                    value=i + 1,
                ),
            ]
    StatCount.objects.bulk_create(rows)
    filters = Filters(Window(date(2026, 3, 1), date(2026, 3, 31), "day"), "room", None, [])

    text = b"".join(exports.csv_stream(label.id, filters)).decode()
    got = list(csv.reader(io.StringIO(text)))

    assert got == _portable(label.id, filters)
    assert len(got) == 1 + 2 * 2 * len(values)
    assert {r[4] for r in got[1:]} == {"'" + tricky.name, plain.name}
    minutes = [r[6] for r in got[1:] if r[5] == "listening_minutes" and r[3] == str(plain.id)]
    assert minutes == ["0.000", "0.002", "0.002", "1.000", "1.000", "2057.613"]

    one = Filters(filters.window, "room", plain.id, ["plays"])
    got = list(csv.reader(io.StringIO(b"".join(exports.csv_stream(label.id, one)).decode())))
    assert got == _portable(label.id, one)
    assert [r[6] for r in got[1:]] == [str(i + 1) for i in range(len(values))]


def test_copy_streams_in_chunks_and_can_stop_midway(monkeypatch):
    label = Label.objects.create(name="Big")
    # 3,000 hour rows: ten rooms (long gone: the name is left empty) over 300 hours.
    days: dict[tuple, dict[str, int]] = {}
    for i in range(3000):
        at = DAY + timedelta(hours=i // 10)
        day = at.replace(hour=0)
        days.setdefault((day, 10_000 + i % 10), {})[str(at.hour)] = i + 1
    StatCount.objects.bulk_create(
        StatCount(
            stat="plays",
            granularity="day",
            bucket_start=day,
            entity_type="room",
            entity_id=room,
            label_id=label.id,
            value=sum(hours.values()),
            hours=hours,
        )
        for (day, room), hours in days.items()
    )
    monkeypatch.setattr(export_copy, "CHUNK", 1024)
    filters = Filters(Window(date(2026, 3, 1), date(2026, 3, 31), "hour"), "room", None, [])
    chunks = exports.csv_stream(label.id, filters)
    first = next(chunks)
    assert first.startswith(b"bucket_start,granularity,")
    chunks.close()  # a client that goes away ends the COPY; the connection stays usable
    assert Label.objects.filter(id=label.id).exists()
    sizes = [len(c) for c in exports.csv_stream(label.id, filters)]
    assert len(sizes) > 10 and max(sizes) < 2 * 1024
