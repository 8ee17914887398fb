"""Two fans in one room, in real browsers, against a real server."""

import pytest

from catalog.models import Track
from rooms.models import Room
from rooms.services import room_create
from tests.e2e.conftest import write_wav

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def catalog(_media_root):
    tracks = []
    for i, (title, artist) in enumerate(
        [("Giant Steps", "John Coltrane"), ("Blue in Green", "Miles Davis")]
    ):
        duration = write_wav(_media_root / f"audio/e2e/{i}.wav", seconds=40, freq=330 + 110 * i)
        tracks.append(
            Track.objects.create(
                title=title,
                artist_names=artist,
                duration_ms=duration,
                audio=f"audio/e2e/{i}.wav",
                audio_mime="audio/wav",
            )
        )
    return tracks


def open_room(page, slug):
    page.goto(f"/rooms/{slug}/")
    page.wait_for_function("window.roomtone && window.roomtone.connected()", timeout=15000)


def test_two_fans_see_adds_votes_and_chat_live(signed_in, make_user, catalog):
    ann, bob = make_user("ann"), make_user("bob")
    room = room_create(owner=ann, name="Late Night Jazz")
    a, b = signed_in(ann), signed_in(bob)
    open_room(a, room.slug)
    open_room(b, room.slug)

    for title in ("Giant", "Blue in"):
        a.fill("#add-input", title)
        a.locator("#add-results button", has_text="Add").first.click()
        a.wait_for_timeout(300)

    # The first track starts playing, the second waits in the queue: Bob sees both live.
    b.wait_for_selector("#np-title:has-text('Giant Steps')", timeout=10000)
    b.wait_for_selector("#queue-list .t-title:has-text('Blue in Green')", timeout=10000)

    a.locator("#queue-list .vote-btn.up").first.click()
    b.wait_for_function(
        "document.querySelector('#queue-list .t-score')?.textContent === '1'", timeout=10000
    )
    assert a.locator("#queue-list .vote-btn.up").first.get_attribute("aria-pressed") == "true"

    payload = '<img src=x onerror="window.__pwned=1"><b>bold</b>'
    a.fill("#chat-input", payload)
    a.press("#chat-input", "Enter")
    message = b.locator("#chat-list .chat-text", has_text="<b>bold</b>")
    message.wait_for(timeout=10000)
    assert message.text_content() == payload
    assert b.locator("#chat-list img, #chat-list b").count() == 0
    assert b.evaluate("window.__pwned") is None
    assert a.evaluate("window.__pwned") is None


def test_two_pages_play_the_same_moment(signed_in, make_user, catalog):
    from rooms.services import queue_add

    ann, bob = make_user("ann"), make_user("bob")
    room = room_create(owner=ann, name="Sync Room")
    queue_add(room=room, user=ann, track_id=catalog[0].id)
    a, b = signed_in(ann), signed_in(bob)
    open_room(a, room.slug)
    a.wait_for_timeout(1500)
    open_room(b, room.slug)

    for page in (a, b):
        page.wait_for_function(
            "(() => { const s = window.roomtone.sync();"
            " return s.playing && s.drift_ms !== null && Math.abs(s.drift_ms) < 30; })()",
            timeout=20000,
        )
    page_sync = [page.evaluate("window.roomtone.sync()") for page in (a, b)]
    for sync in page_sync:
        assert sync["transport"] == "websocket"
        assert sync["rtt_ms"] is not None and sync["offset_ms"] is not None
        assert abs(sync["drift_ms"]) < 50
    # Same machine, same clock: both pages' estimates of the server clock agree closely.
    assert abs(page_sync[0]["offset_ms"] - page_sync[1]["offset_ms"]) < 50
    assert "In sync" in a.text_content("#sync-indicator")
    assert Room.objects.get(id=room.id).listener_count == 2  # ann and bob, one page each
