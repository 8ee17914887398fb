"""The room page in a real browser: a paused room holds, resumes in place, and learns premieres."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from catalog.models import Track
from labels.models import Label
from rooms.models import Premiere
from rooms.selectors import ms
from rooms.services import queue_add, room_changed, room_create
from tests.e2e import conftest as e2e

# The browser kit of tests/e2e, for these room-page tests.
browser, daphne_server, signed_in = e2e.browser, e2e.daphne_server, e2e.signed_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def track(_media_root):
    duration = e2e.write_wav(_media_root / "audio/fu/0.wav", seconds=60, freq=330)
    return Track.objects.create(
        title="Hold Steady",
        artist_names="The Pauses",
        duration_ms=duration,
        audio="audio/fu/0.wav",
        audio_mime="audio/wav",
    )


def changed(room) -> None:
    # Playwright runs an event loop in the test's thread; a broadcast needs a thread without one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(room_changed, room=room).result()


def open_room(page, slug):
    page.goto(f"/rooms/{slug}/")
    page.wait_for_function("window.roomtone && window.roomtone.connected()", timeout=20000)


def test_pause_holds_every_page_and_resume_plays_on(signed_in, make_user, track):
    ann, bea = make_user("ann"), make_user("bea")
    room = room_create(owner=ann, name="Paused")
    queue_add(room=room, user=ann, track_id=track.id)
    owner, fan = signed_in(ann), signed_in(bea)
    open_room(owner, room.slug)
    open_room(fan, room.slug)
    # Both engines are on the page before sync.js, and the page reports which one plays.
    scripts = fan.evaluate(
        "[...document.scripts].map(s => s.src.split('/').pop()).filter(n => n.endsWith('.js'))"
    )
    assert scripts.index("audio_engine.js") < scripts.index("sync.js")
    fan.wait_for_function("window.roomtone.sync().playing", timeout=20000)
    assert fan.evaluate("window.roomtone.sync().engine") in ("webaudio", "htmlaudio")
    assert fan.is_hidden("#mod-pause") and fan.is_hidden("#mod-resume")
    assert owner.is_visible("#mod-pause") and owner.is_hidden("#mod-resume")

    owner.wait_for_timeout(1500)
    owner.click("#mod-pause")
    fan.wait_for_function(
        "(() => { const s = window.roomtone.sync(); return s.paused && !s.playing; })()",
        timeout=10000,
    )
    assert fan.is_visible("#np-paused")
    assert fan.text_content("#sync-indicator") == "Paused by the room"
    np = fan.evaluate("window.roomtone.state().now_playing")
    position = np["paused_at"] - np["started_at"]
    held = fan.text_content("#np-elapsed")
    fan.wait_for_timeout(1600)
    assert fan.text_content("#np-elapsed") == held  # the progress bar is frozen
    assert owner.is_visible("#mod-resume") and owner.is_hidden("#mod-pause")

    owner.click("#mod-resume")
    fan.wait_for_function(
        "(() => { const s = window.roomtone.sync(); return !s.paused && s.playing; })()",
        timeout=15000,
    )
    assert fan.is_hidden("#np-paused")
    np = fan.evaluate("window.roomtone.state().now_playing")
    assert np["paused"] is False
    # Resumed a start lead ahead at the held position: the fan plays on from where it held.
    lead = settings.ROOMTONE["START_LEAD_MS"]
    expected_ms = fan.evaluate("window.roomtone.sync().expected_s") * 1000
    assert position - lead <= expected_ms < position + 10_000
    assert fan.is_visible("#mod-pause") is False and owner.is_visible("#mod-pause")


def test_a_premiere_scheduled_while_the_page_is_open_counts_down(signed_in, make_user):
    ann = make_user("ann")
    room = room_create(owner=ann, name="Premiered")
    page = signed_in(make_user("bea"))
    open_room(page, room.slug)
    assert page.is_hidden("#premiere")
    starts = timezone.now() + timedelta(hours=1)
    label = Label.objects.create(name="Lumen", slug="lumen")
    premiere = Premiere.objects.create(
        label=label, room=room, title="Album night", starts_at=starts
    )
    changed(room)
    page.wait_for_selector("#premiere:not([hidden])", timeout=10000)
    assert page.text_content("#premiere-title") == "Album night"
    page.wait_for_function(
        "document.getElementById('premiere-count').textContent.startsWith('00:59')", timeout=5000
    )
    assert page.evaluate("window.roomtonePremiere.state().starts_at") == ms(starts)

    premiere.delete()
    changed(room)
    page.wait_for_selector("#premiere", state="hidden", timeout=10000)
