import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.importer import import_catalog
from catalog.models import Artist, Genre, Track
from tests.catalog.audio_samples import wav_bytes

pytestmark = pytest.mark.django_db

HEADER = "isrc,title,artists,album,genres,duration_ms,external_uri\n"
GOOD = HEADER + (
    "USRC17607839,Song One,Alice;Bob,First,Pop;Rock,215000,spotify:track:1\n"
    "gb-aye-06-01498,Song Two,Carol,,Pop,,\n"
)


def test_csv_creates_tracks_artists_and_genres(label):
    progress = []
    report = import_catalog(
        source=GOOD.encode(), fmt="csv", label=label, progress=lambda d, t: progress.append((d, t))
    )
    assert report.ok and (report.created, report.updated) == (2, 0)
    one = Track.objects.get(isrc="USRC17607839")
    assert (one.title, one.album, one.duration_ms, one.label) == (
        "Song One",
        "First",
        215000,
        label,
    )
    assert one.artist_names == "Alice, Bob"
    assert set(one.genres.values_list("name", flat=True)) == {"Pop", "Rock"}
    assert Track.objects.get(isrc="GBAYE0601498").artist_names == "Carol"
    assert Artist.objects.filter(label=label).count() == 3
    assert progress[-1] == (2, 2)


def test_json_with_lists(label):
    rows = [
        {"isrc": "USRC17607839", "title": "Song", "artists": ["Alice", "Bob"], "genres": ["Jazz"]},
        {"isrc": "GBAYE0601498", "title": "Other", "artists": "Carol; Dan", "label": "acme"},
    ]
    report = import_catalog(source=json.dumps(rows), fmt="json", label=label)
    assert report.ok and report.created == 2
    assert Track.objects.get(isrc="GBAYE0601498").artist_names == "Carol, Dan"
    assert Genre.objects.filter(name="Jazz").exists()


def test_reimport_updates_and_never_duplicates(label):
    import_catalog(source=GOOD, fmt="csv", label=label)
    changed = GOOD.replace("Song One", "Song One (Remastered)")
    report = import_catalog(source=changed, fmt="csv", label=label)
    assert report.ok and (report.created, report.updated) == (0, 2)
    assert Track.objects.count() == 2
    assert Track.objects.get(isrc="USRC17607839").title == "Song One (Remastered)"
    assert Artist.objects.filter(label=label).count() == 3
    assert Genre.objects.count() == 2


def test_missing_column_keeps_values(label):
    import_catalog(source=GOOD, fmt="csv", label=label)
    import_catalog(
        source="isrc,title,artists\nUSRC17607839,Song One,Alice\n", fmt="csv", label=label
    )
    track = Track.objects.get(isrc="USRC17607839")
    assert track.album == "First" and track.genres.count() == 2
    assert track.artist_names == "Alice"


BAD = HEADER + (
    "USRC17607839,Fine,Alice,,,,\n"
    "NOTANISRC,Bad isrc,Bob,,,,\n"
    "GBAYE0601498,,Carol,,,,\n"
    "FRZ039800212,Bad duration,Dan,,,12.5s,\n"
)


def test_bad_rows_reported_and_nothing_imported(label):
    report = import_catalog(source=BAD, fmt="csv", label=label)
    assert not report.ok
    assert [(e.row, e.field) for e in report.errors] == [
        (3, "isrc"),
        (4, "title"),
        (5, "duration_ms"),
    ]
    assert "not a valid ISRC" in report.errors[0].message
    assert (report.created, report.updated) == (0, 0)
    assert not Track.objects.exists() and not Artist.objects.exists()


def test_partial_imports_good_rows(label):
    report = import_catalog(source=BAD, fmt="csv", label=label, partial=True)
    assert report.created == 1 and len(report.errors) == 3
    assert list(Track.objects.values_list("isrc", flat=True)) == ["USRC17607839"]


def test_file_level_errors(label):
    assert import_catalog(source=b"\xff\xfe\x00bad", fmt="csv", label=label).errors[0].row == 0
    report = import_catalog(source="isrc,title,artist\n", fmt="csv", label=label)
    assert report.errors[0].field == "header" and "artist" in report.errors[0].message
    report = import_catalog(source="{", fmt="json", label=label)
    assert "Invalid JSON" in report.errors[0].message
    report = import_catalog(source='[{"isrc": "USRC17607839"}, 5]', fmt="json", label=label)
    assert [(e.row, e.field) for e in report.errors] == [(1, "title"), (1, "artists"), (2, "row")]


def test_malformed_deliveries_are_reported_not_raised(label):
    report = import_catalog(source="[" * 100_000 + "]" * 100_000, fmt="json", label=label)
    assert [(e.row, e.field) for e in report.errors] == [(0, "file")]
    assert "nested too deeply" in report.errors[0].message
    for constant in ("NaN", "Infinity", "-Infinity"):
        source = (
            f'[{{"isrc": "USRC17607839", "title": "t", "artists": "a", "duration_ms": {constant}}}]'
        )
        report = import_catalog(source=source, fmt="json", label=label)
        assert [(e.row, e.field) for e in report.errors] == [(0, "file")], constant


def test_nul_characters_are_row_errors(label):
    source = HEADER + "USRC17607839,Song\x00One,Alice,,,,\nGBAYE0601498,Fine,Bob;Eve\x00,,,,\n"
    report = import_catalog(source=source.encode(), fmt="csv", label=label, partial=True)
    assert [(e.row, e.field) for e in report.errors] == [(2, "title"), (3, "artists")]
    assert "NUL" in report.errors[0].message
    source = '[{"isrc": "USRC17607839", "title": "t", "artists": ["a"], "label": "ac\\u0000me"}]'
    report = import_catalog(source=source, fmt="json", label=label)
    assert [(e.row, e.field) for e in report.errors] == [(1, "label")]
    assert not Track.objects.exists()


def test_duplicate_isrc_in_file_and_other_labels_track(label, other_label):
    Track.objects.create(title="Theirs", isrc="FRZ039800212", label=other_label)
    source = HEADER + (
        "USRC17607839,A,Alice,,,,\nUSRC17607839,B,Alice,,,,\nFRZ039800212,Mine?,Bob,,,,\n"
    )
    report = import_catalog(source=source, fmt="csv", label=label)
    assert [(e.row, e.field) for e in report.errors] == [(3, "isrc"), (4, "isrc")]
    assert "row 2" in report.errors[0].message
    assert Track.objects.get(isrc="FRZ039800212").title == "Theirs"


def test_row_label_must_match_import_label(label, other_label):
    source = "isrc,title,artists,label\nUSRC17607839,A,Alice,other\nGBAYE0601498,B,Bob,nope\n"
    report = import_catalog(source=source, fmt="csv", label=label)
    assert [(e.row, e.field) for e in report.errors] == [(2, "label"), (3, "label")]
    report = import_catalog(source=source.replace(",nope", ",other"), fmt="csv", label=None)
    assert report.ok and Track.objects.filter(label=other_label).count() == 2


def test_audio_column_attaches_files(label, tmp_path):
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "one.wav").write_bytes(wav_bytes(seconds=1.5))
    (tmp_path / "fake.wav").write_text("not audio")
    source = "isrc,title,artists,audio\nUSRC17607839,A,Alice,audio/one.wav\n"
    report = import_catalog(source=source, fmt="csv", label=label, base_dir=tmp_path)
    assert report.ok
    track = Track.objects.get()
    assert track.duration_ms == 1500 and track.playable
    stored = track.audio.name
    import_catalog(source=source, fmt="csv", label=label, base_dir=tmp_path)
    assert Track.objects.get().audio.name == stored  # same file: not stored again

    bad = "isrc,title,artists,audio\nGBAYE0601498,B,Bob,fake.wav\nFRZ039800212,C,C,../x.wav\n"
    report = import_catalog(source=bad, fmt="csv", label=label, base_dir=tmp_path)
    assert [(e.row, e.field) for e in report.errors] == [(2, "audio"), (3, "audio")]
    assert "relative to the imported file" in report.errors[1].message
    assert "not an audio file" in " ".join(e.message for e in report.errors)
    assert Track.objects.count() == 1


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_command_success(label, tmp_path):
    out, err = StringIO(), StringIO()
    call_command(
        "import_catalog", write(tmp_path, "d.csv", GOOD), label="acme", stdout=out, stderr=err
    )
    assert "2 created, 0 updated" in out.getvalue()
    assert err.getvalue() == ""  # not a terminal, fewer than 1,000 rows: no progress noise


def test_command_errors_exit_non_zero(label, tmp_path):
    err = StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("import_catalog", write(tmp_path, "d.csv", BAD), label="acme", stderr=err)
    assert exc.value.returncode == 1
    assert "Nothing imported" in str(exc.value)
    assert "row 3, isrc:" in err.getvalue() and "row 4, title:" in err.getvalue()
    assert not Track.objects.exists()


def test_command_partial_json_and_bad_arguments(label, tmp_path):
    path = write(
        tmp_path, "d.data", json.dumps([{"isrc": "USRC17607839", "title": "A", "artists": "X"}, {}])
    )
    out = StringIO()
    with pytest.raises(CommandError) as exc:
        call_command(
            "import_catalog",
            path,
            label="acme",
            format="json",
            partial=True,
            stdout=out,
            stderr=StringIO(),
        )
    assert exc.value.returncode == 1 and "1 created" in out.getvalue()
    assert Track.objects.count() == 1
    with pytest.raises(CommandError, match="no label"):
        call_command("import_catalog", path, label="nope", format="json")
    with pytest.raises(CommandError, match="format"):
        call_command("import_catalog", path, label="acme")


def test_progress_lines_when_not_a_terminal():
    from django.core.management.base import OutputWrapper

    from catalog.management.commands.import_catalog import Progress

    buffer = StringIO()
    progress = Progress(OutputWrapper(buffer), every=1000)
    for done in range(1, 2501):
        progress(done, 2500)
    assert buffer.getvalue().splitlines() == [
        "1000/2500 rows checked",
        "2000/2500 rows checked",
        "2500/2500 rows checked",
    ]
