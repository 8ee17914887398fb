"""A page whose network breaks WebSockets stays live and in sync over the HTTP fallback."""

import pytest

from catalog.models import Track
from rooms.models import ChatMessage, ListeningSession
from rooms.services import queue_add, room_create
from tests.e2e.conftest import write_wav

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

NO_WEBSOCKET = "window.WebSocket = undefined;"


@pytest.fixture
def catalog(_media_root):
    tracks = []
    for i, title in enumerate(["Fallback Blues", "Proxy Waltz"]):
        duration = write_wav(_media_root / f"audio/fb/{i}.wav", seconds=40, freq=300 + 120 * i)
        tracks.append(
            Track.objects.create(
                title=title,
                artist_names="The Firewalls",
                duration_ms=duration,
                audio=f"audio/fb/{i}.wav",
                audio_mime="audio/wav",
            )
        )
    return tracks


def open_room(page, slug, query=""):
    page.goto(f"/rooms/{slug}/{query}")
    page.wait_for_function("window.roomtone && window.roomtone.connected()", timeout=20000)


def wait_in_sync(page, limit_ms=30):
    page.wait_for_function(
        "(() => { const s = window.roomtone.sync();"
        f" return s.playing && s.drift_ms !== null && Math.abs(s.drift_ms) < {limit_ms}; }})()",
        timeout=25000,
    )


def test_page_without_websocket_stays_live_and_in_sync(signed_in, make_user, catalog):
    ann, bob = make_user("ann"), make_user("bob")
    room = room_create(owner=ann, name="Behind The Proxy")
    queue_add(room=room, user=ann, track_id=catalog[0].id)
    a, b = signed_in(ann), signed_in(bob)
    b.add_init_script(NO_WEBSOCKET)
    open_room(a, room.slug)
    open_room(b, room.slug)
    assert b.evaluate("window.roomtone.sync().transport") == "sse"
    assert a.evaluate("window.roomtone.sync().transport") == "websocket"

    # Another fan's chat and add reach the fallback page live.
    a.fill("#chat-input", "can you hear me through the firewall?")
    a.press("#chat-input", "Enter")
    b.locator("#chat-list .chat-text", has_text="through the firewall").wait_for(timeout=10000)
    a.fill("#add-input", "Proxy")
    a.locator("#add-results button", has_text="Add").first.click()
    b.wait_for_selector("#queue-list .t-title:has-text('Proxy Waltz')", timeout=10000)

    # Its own actions go out as POSTs and reach the socket page.
    b.fill("#chat-input", "loud and clear over http")
    b.press("#chat-input", "Enter")
    a.locator("#chat-list .chat-text", has_text="loud and clear over http").wait_for(timeout=10000)
    assert ChatMessage.objects.filter(user=bob, text="loud and clear over http").exists()

    wait_in_sync(b)
    sync = b.evaluate("window.roomtone.sync()")
    assert sync["transport"] == "sse"
    assert sync["offset_ms"] is not None and sync["rtt_ms"] is not None
    assert abs(sync["drift_ms"]) < 50
    # The stream holds a listening session that knows the audio is running.
    session = ListeningSession.objects.get(room=room, user=bob, ended_at__isnull=True)
    b.wait_for_timeout(300)
    session.refresh_from_db()
    assert session.audio_active is True

    # Leaving closes the stream's session on the server.
    b.close()
    a.wait_for_timeout(1500)
    assert not ListeningSession.objects.filter(room=room, user=bob, ended_at__isnull=True).exists()


def test_socket_cut_by_the_network_falls_back_to_sse(signed_in, make_user, catalog):
    ann = make_user("ann")
    room = room_create(owner=ann, name="Cut Sockets")
    queue_add(room=room, user=ann, track_id=catalog[0].id)
    page = signed_in(ann)
    # A proxy that accepts nothing: every socket to the server is closed at once.
    page.route_web_socket("**/ws/**", lambda ws: ws.close())
    open_room(page, room.slug)
    assert page.evaluate("window.roomtone.sync().transport") == "sse"
    wait_in_sync(page)
    # The next page on this network goes straight to the fallback.
    page.reload()
    page.wait_for_function("window.roomtone && window.roomtone.connected()", timeout=10000)
    assert page.evaluate("window.roomtone.sync().transport") == "sse"


def test_forced_fallback_and_websocket_by_query(signed_in, make_user, catalog):
    ann = make_user("ann")
    room = room_create(owner=ann, name="Forced")
    page = signed_in(ann)
    open_room(page, room.slug, "?transport=sse")
    assert page.evaluate("window.roomtone.sync().transport") == "sse"
    open_room(page, room.slug, "?transport=websocket")
    assert page.evaluate("window.roomtone.sync().transport") == "websocket"


def test_diagnostics_page_says_which_transport_works(signed_in, make_user, catalog):
    ann = make_user("ann")
    room = room_create(owner=ann, name="Diagnosed")
    page = signed_in(ann)
    page.goto(f"/rooms/{room.slug}/")
    page.click("#diagnostics-link")
    page.wait_for_selector("#diagnostics[data-done='true']", timeout=30000)
    verdict = page.text_content("#diag-verdict")
    assert "WebSockets work" in verdict
    assert page.get_attribute("#diag-websocket", "data-ok") == "yes"
    assert page.get_attribute("#diag-sse", "data-ok") == "yes"
    assert page.get_attribute("#diag-post", "data-ok") == "yes"
    assert " ms" in page.text_content("#diag-post .diag-rtt")

    blocked = signed_in(ann)
    blocked.add_init_script(NO_WEBSOCKET)
    blocked.goto(f"/diagnostics/?room={room.slug}")
    blocked.wait_for_selector("#diagnostics[data-done='true']", timeout=30000)
    verdict = blocked.text_content("#diag-verdict")
    assert "blocked" in verdict and "plain HTTP" in verdict
    assert blocked.get_attribute("#diag-websocket", "data-ok") == "no"
    assert blocked.get_attribute("#diag-post", "data-ok") == "yes"
