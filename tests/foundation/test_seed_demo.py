"""seed_demo: the demo data a newcomer sees, created once however often it runs."""

import io
import wave
from datetime import date, timedelta

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from analytics.models import StatCount
from catalog.models import Track
from config.demo_logins import demo_logins
from labels.models import Membership
from rooms.models import (
    Campaign,
    ListeningSession,
    Play,
    Playback,
    Premiere,
    QueueEntry,
    Room,
)

APPS = ("auth", "labels", "catalog", "rooms")


def counts() -> dict[str, int]:
    return {
        m._meta.label: m.objects.count()
        for app in APPS
        for m in apps.get_app_config(app).get_models()
    }


def snapshot() -> dict:
    return {
        "tracks": sorted(Track.objects.values_list("isrc", "audio", "duration_ms")),
        "playback": sorted(
            Playback.objects.values_list("room_id", "current_entry_id", "ends_at_ms")
        ),
        "premieres": sorted(Premiere.objects.values_list("title", "starts_at")),
    }


@pytest.mark.django_db
@pytest.mark.timeout(600)
def test_seed_demo_is_complete_and_idempotent(_media_root, client):
    call_command("seed_demo", force=True, stdout=io.StringIO())
    first, state = counts(), snapshot()
    out = io.StringIO()
    call_command("seed_demo", force=True, stdout=out)
    assert "nothing to do" in out.getvalue()
    assert counts() == first
    assert snapshot() == state

    assert first["labels.Label"] == 2
    assert first["catalog.Artist"] >= 10
    assert first["catalog.Track"] >= 30
    assert Room.objects.count() >= 8
    assert Room.objects.filter(mode="dj").exists() and Room.objects.filter(mode="jukebox").exists()
    official = Room.objects.filter(label__isnull=False, artist__isnull=False)
    assert official.exclude(theme_primary="").exclude(pinned_message="").exists()
    assert (
        Room.objects.filter(latitude__isnull=False, longitude__isnull=False)
        .exclude(venue_name="")
        .exists()
    )
    assert Room.objects.filter(is_featured=True).exists()
    today = date.today()
    assert Campaign.objects.filter(starts_on__lte=today, ends_on__gte=today).exists()
    assert Premiere.objects.filter(starts_at__gt=timezone.now()).exists()
    assert QueueEntry.objects.filter(status="played").count() >= 100
    assert QueueEntry.objects.filter(status="queued", upvotes__gt=0).exists()
    playing = Playback.objects.filter(current_entry__isnull=False)
    assert playing.count() >= 8
    for playback in playing:
        assert playback.current_entry.status == "playing"
        assert (
            playback.ends_at_ms - playback.started_at_ms == playback.current_entry.track.duration_ms
        )
    for label in ("northern-lights-records", "saltwater-sound"):
        roles = set(Membership.objects.filter(label__slug=label).values_list("role", flat=True))
        assert roles == {"owner", "manager", "analyst"}

    for track in Track.objects.all():
        assert track.playable and track.isrc and track.genres.exists()
        with track.audio.open("rb") as f, wave.open(f) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22050)
            assert w.getnframes() * 1000 // 22050 == track.duration_ms
        assert 30_000 <= track.duration_ms <= 90_000
        assert str(track.audio.path).startswith(str(_media_root))

    # Rolled up as `make run` does (quietly at -v0), the history tells one story: fans were in
    # the room for most plays, their listening time is about what those plays lasted (each stay
    # runs from shortly before a track to shortly after it), and reach goes back in time.
    out = io.StringIO()
    call_command("rollup", verbosity=0, stdout=out)
    assert out.getvalue() == ""
    past = Play.objects.select_related("track").filter(
        started_at__lt=timezone.now() - timedelta(minutes=15)
    )
    assert past.filter(listeners__gt=0).count() >= 0.8 * past.count()
    heard_ms = sum(p.listeners * p.track.duration_ms for p in past)
    stayed_ms = sum(
        (s.ended_at - s.started_at).total_seconds() * 1000 for s in ListeningSession.objects.all()
    )
    assert heard_ms <= stayed_ms <= 4 * heard_ms
    days_ago = timezone.now() - timedelta(days=3)
    reach = StatCount.objects.filter(stat="reach", granularity="day", bucket_start__lt=days_ago)
    assert reach.filter(value__gt=0).exists()

    # Every login `make run` prints works.
    logins = demo_logins()
    assert {who.split()[0] for who, _, _ in logins} >= {"operator", "fan"}
    for _, username, password in logins:
        assert client.login(username=username, password=password), username
        client.logout()


@pytest.mark.django_db
def test_seed_demo_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=true"):
        call_command("seed_demo")
    assert not Room.objects.exists()
