import io
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from catalog.forms import AudioUploadField
from catalog.models import Artist, Track
from catalog.services import audio_read_metadata, track_attach_audio, track_set_artists
from tests.catalog.audio_samples import mp3_bytes, opus_bytes, wav_bytes


def read(data: bytes, name: str = "x.wav"):
    return audio_read_metadata(io.BytesIO(data), filename=name)


def test_wav_duration_and_mime():
    info = read(wav_bytes(seconds=1.5))
    assert info.duration_ms == 1500
    assert info.mime == "audio/wav"


def test_opus_duration_and_tags():
    info = read(opus_bytes(seconds=2.0), "song.opus")
    assert info.duration_ms == 2000
    assert info.mime == "audio/ogg"
    assert (info.title, info.artists, info.isrc) == ("Tagged Title", ["Tag Artist"], "GBAYE0601498")


def test_cbr_mp3_accepted():
    info = read(mp3_bytes(frames=200), "a.mp3")
    assert info.mime == "audio/mpeg"
    assert 5000 < info.duration_ms < 5400  # 200 frames of 1152 samples at 44.1 kHz


@pytest.mark.parametrize(
    "data",
    [mp3_bytes(vbr_header=b"Xing"), mp3_bytes(bitrates=[9, 11, 5, 9])],
    ids=["xing-header", "varying-frames"],
)
def test_vbr_mp3_rejected_with_reencode_hint(data):
    with pytest.raises(ValidationError) as exc:
        read(data, "vbr.mp3")
    assert exc.value.code == "vbr_mp3"
    assert "Re-encode" in exc.value.messages[0]


@pytest.mark.parametrize(
    ("data", "name", "words"),
    [
        (b"just some text\n" * 50, "notes.mp3", "not an audio file"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 20, "photo.mp3", "not an audio"),
        (wav_bytes()[:3000], "cut.wav", "truncated"),
        (b"RIFF\x10\x00\x00\x00WAVEgarbage", "junk.wav", "could not be read"),
        (b"", "empty.wav", "empty"),
    ],
    ids=["text", "jpeg-renamed", "truncated-wav", "garbage-wav", "empty"],
)
def test_bad_files_rejected_clearly(data, name, words):
    with pytest.raises(ValidationError) as exc:
        read(data, name)
    assert words in exc.value.messages[0]
    assert name in exc.value.messages[0]


def test_size_limit(settings):
    settings.MAX_AUDIO_UPLOAD_BYTES = 1000
    with pytest.raises(ValidationError) as exc:
        read(wav_bytes())
    assert exc.value.code == "too_large"


@pytest.mark.django_db
def test_attach_stores_file_and_fills_metadata(label, django_capture_on_commit_callbacks):
    track = Track.objects.create(title="", label=label)
    upload = SimpleUploadedFile("whatever.mp3", opus_bytes(seconds=2.0))  # the name lies
    with django_capture_on_commit_callbacks(execute=True):
        track_attach_audio(track=track, upload=upload)
    track.refresh_from_db()
    assert track.duration_ms == 2000
    assert track.audio_mime == "audio/ogg"
    assert track.audio.name.endswith(".ogg")  # stored under the real format's extension
    assert track.title == "Tagged Title"
    assert track.isrc == "GBAYE0601498"
    assert track.artist_names == "Tag Artist"
    assert track.artists.get().label == label
    assert track.playable
    assert Path(track.audio.path).read_bytes() == opus_bytes(seconds=2.0)


@pytest.mark.django_db
def test_replacing_audio_deletes_old_file_after_commit(label, django_capture_on_commit_callbacks):
    track = Track.objects.create(title="Song", label=label)
    track_attach_audio(track=track, upload=SimpleUploadedFile("a.wav", wav_bytes(seconds=1)))
    old = Path(track.audio.path)
    with django_capture_on_commit_callbacks(execute=True):
        track_attach_audio(track=track, upload=SimpleUploadedFile("b.wav", wav_bytes(seconds=2)))
    assert not old.exists()
    assert Path(track.audio.path).exists()
    assert Track.objects.get(pk=track.pk).duration_ms == 2000


@pytest.mark.django_db
def test_rejected_upload_changes_nothing(label):
    track = Track.objects.create(title="Song", label=label)
    with pytest.raises(ValidationError):
        track_attach_audio(track=track, upload=SimpleUploadedFile("a.mp3", b"not audio" * 100))
    track.refresh_from_db()
    assert not track.audio and track.duration_ms == 0


@pytest.mark.django_db(transaction=True)
def test_outer_rollback_leaves_track_unchanged(label):
    track = Track.objects.create(title="Song", label=label)
    with pytest.raises(RuntimeError), transaction.atomic():
        track_attach_audio(track=track, upload=SimpleUploadedFile("a.wav", wav_bytes()))
        stored = Path(track.audio.path)
        raise RuntimeError("later step failed")
    assert stored.exists()  # the caller's rollback is the caller's to clean; see importer
    assert Track.objects.get(pk=track.pk).duration_ms == 0


@pytest.mark.django_db
def test_set_artists_keeps_order_and_names(label):
    track = Track.objects.create(title="Song", label=label)
    b = Artist.objects.create(name="Bob", slug="bob", label=label)
    a = Artist.objects.create(name="Alice", slug="alice", label=label)
    track_set_artists(track=track, artists=[b, a, b])
    assert Track.objects.get(pk=track.pk).artist_names == "Bob, Alice"
    assert set(track.artists.all()) == {a, b}


def test_form_field_accepts_wav_and_rejects_text(settings):
    field = AudioUploadField(required=False)
    good = field.clean(SimpleUploadedFile("a.wav", wav_bytes()))
    assert good.audio_info.duration_ms == 1500
    with pytest.raises(ValidationError) as exc:
        field.clean(SimpleUploadedFile("a.wav", b"hello" * 100))
    assert "not an audio file" in exc.value.messages[0]
    settings.MAX_AUDIO_UPLOAD_BYTES = 100
    with pytest.raises(ValidationError) as exc:
        field.clean(SimpleUploadedFile("a.wav", wav_bytes()))
    assert "at most" in exc.value.messages[0]


def test_stored_audio_file_names_cannot_be_guessed_from_the_title():
    from catalog.models import Track, audio_upload_to

    track = Track(title="Unreleased Single", label_id=7)
    first, second = audio_upload_to(track, "x.ogg"), audio_upload_to(track, "x.ogg")
    assert first.startswith("audio/7/unreleased-single-") and first.endswith(".ogg")
    assert first != second
    assert len(first) - len("audio/7/unreleased-single-.ogg") >= 16
