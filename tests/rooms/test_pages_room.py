"""The room page, its embed and preview, visibility, escaping, room creation."""

import pytest
from django.utils import timezone

from catalog.models import Genre
from rooms.impressions import impressions_flush
from rooms.models import ChatMessage, ImpressionCount, Playback, QueueEntry, Room
from rooms.services import room_create

pytestmark = pytest.mark.django_db


def now_ms():
    return int(timezone.now().timestamp() * 1000)


def play_now(room, track, started_ago_ms=60_000):
    entry = QueueEntry.objects.create(room=room, track=track, status=QueueEntry.Status.PLAYING)
    start = now_ms() - started_ago_ms
    Playback.objects.filter(room=room).update(
        current_entry=entry, started_at_ms=start, ends_at_ms=start + track.duration_ms
    )
    return entry


def test_room_page_renders_now_playing_queue_chat_history(client, room, owner, make_track):
    play_now(room, make_track("Teardrop", artist_names="Massive Attack", duration_ms=240_000))
    QueueEntry.objects.create(room=room, track=make_track("Angel", artist_names="Massive Attack"))
    QueueEntry.objects.create(
        room=room, track=make_track("Unfinished Sympathy"), status=QueueEntry.Status.PLAYED
    )
    ChatMessage.objects.create(room=room, user=owner, text="welcome all")

    response = client.get(f"/rooms/{room.slug}/")

    assert response.status_code == 200
    html = response.content.decode()
    for text in ("Teardrop", "Massive Attack", "Angel", "Unfinished Sympathy", "welcome all"):
        assert text in html
    assert response.context["now_playing"]["progress_pct"] == pytest.approx(25, abs=1)
    assert 'id="room-snapshot"' in html
    assert f'data-ws-path="/ws/rooms/{room.slug}/"' in html
    assert "js/room.js" in html and "js/sync.js" in html


def test_script_room_name_and_chat_are_escaped(client, make_user):
    evil = make_user("evil")
    room = room_create(owner=evil, name="<script>alert(1)</script>", description="<b>x</b>")
    ChatMessage.objects.create(room=room, user=evil, text='<img src=x onerror="alert(2)">')

    html = client.get(f"/rooms/{room.slug}/").content.decode()
    listing = client.get("/").content.decode()

    assert "<script>alert(1)" not in html and "<script>alert(1)" not in listing
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in html
    # The JSON island for the script is escaped too: no raw "<" anywhere inside it.
    island = html.split('id="room-snapshot" type="application/json">')[1].split("</script>")[0]
    assert "<" not in island and "\\u003Cscript\\u003E" in island


def test_theme_colours_only_when_they_are_hex(client, room):
    Room.objects.filter(id=room.id).update(theme_primary="#ff0066", theme_accent="red;}a{")
    html = client.get(f"/rooms/{room.slug}/").content.decode()
    assert "--room-primary: #ff0066" in html
    assert "red;}" not in html.split("room-snapshot")[0]


def test_unlisted_room_is_reachable_by_link_but_not_listed(client, owner):
    room = room_create(owner=owner, name="Back Room", visibility="unlisted")
    assert client.get(f"/rooms/{room.slug}/").status_code == 200
    assert "Back Room" not in client.get("/").content.decode()
    assert "Back Room" not in client.get("/?q=back").content.decode()


def test_private_room_needs_the_invite_or_a_role(client, owner, make_user):
    room = room_create(owner=owner, name="Inner Circle", visibility="private")
    outsider = make_user("outsider")
    url = f"/rooms/{room.slug}/"

    assert client.get(url).status_code == 404
    assert client.get(url + "?invite=wrong").status_code == 404
    for sub in ("embed/", "preview/"):
        assert client.get(url + sub).status_code == 404
    client.force_login(outsider)
    assert client.get(url).status_code == 404

    response = client.get(url + f"?invite={room.invite_token}")
    assert response.status_code == 200
    # The session remembers the invite (the socket reads it there), so the page never repeats
    # the token, and the link keeps working for this browser.
    assert room.invite_token not in response.content.decode()
    assert client.get(url).status_code == 200

    client.force_login(owner)
    assert client.get(url).status_code == 200
    assert client.get("/rooms/no-such-room/").status_code == 404


def test_room_page_runs_a_constant_number_of_queries(client, room, owner, make_track, make_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(owner)
    play_now(room, make_track("Now"))

    def fill(n):
        for i in range(n):
            QueueEntry.objects.create(room=room, track=make_track(f"Q{n}-{i}"), added_by=owner)
            QueueEntry.objects.create(
                room=room, track=make_track(f"H{n}-{i}"), status=QueueEntry.Status.PLAYED
            )
            ChatMessage.objects.create(room=room, user=owner, text=f"m{n}-{i}")
            room_create(owner=owner, name=f"Other {n}-{i}")

    def measure():
        impressions_flush()
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/rooms/{room.slug}/").status_code == 200
        return len(ctx.captured_queries)

    fill(3)
    few = measure()
    fill(30)
    assert measure() == few


def test_page_and_embed_count_impressions(client, room):
    impressions_flush()
    ImpressionCount.objects.all().delete()
    client.get(f"/rooms/{room.slug}/")
    client.get(f"/rooms/{room.slug}/embed/")
    client.get(f"/rooms/{room.slug}/embed/")
    impressions_flush()
    counts = {row.surface: row.count for row in ImpressionCount.objects.filter(room=room)}
    assert counts == {"page": 1, "embed": 2}


def test_embed_may_be_framed_the_room_page_may_not(client, room, make_track):
    play_now(room, make_track("Framed", artist_names="Band"))
    embed = client.get(f"/rooms/{room.slug}/embed/")
    page = client.get(f"/rooms/{room.slug}/")
    assert "X-Frame-Options" not in embed.headers
    assert page.headers["X-Frame-Options"] == "DENY"
    html = embed.content.decode()
    assert "Framed" in html and f"/rooms/{room.slug}/" in html


def test_preview_fragment_and_json(client, room, make_track):
    play_now(room, make_track("Playing"))
    for i in range(7):
        QueueEntry.objects.create(room=room, track=make_track(f"Next {i}"))
    fragment = client.get(f"/rooms/{room.slug}/preview/")
    html = fragment.content.decode()
    assert "<html" not in html and "Playing" in html
    assert "Next 4" in html and "Next 5" not in html

    data = client.get(f"/rooms/{room.slug}/preview/?format=json").json()
    assert data["now_playing"]["track"]["title"] == "Playing"
    assert [q["track"]["title"] for q in data["queue"]] == [f"Next {i}" for i in range(5)]
    assert data["listeners"] == 0


def test_create_room_needs_sign_in_and_makes_a_unique_slug(client, make_user):
    assert client.get("/rooms/new/").status_code == 302
    fan = make_user("maker")
    client.force_login(fan)
    genre = Genre.objects.create(name="Ambient")
    data = {
        "name": "Chill Zone",
        "description": "slow",
        "genres": [genre.id],
        "mode": "dj",
        "visibility": "unlisted",
    }
    first = client.post("/rooms/new/", data)
    second = client.post("/rooms/new/", data)
    rooms = list(Room.objects.filter(name="Chill Zone").order_by("id"))
    assert [r.slug for r in rooms] == ["chill-zone", "chill-zone-2"]
    assert first["Location"] == "/rooms/chill-zone/"
    assert second["Location"] == "/rooms/chill-zone-2/"
    assert rooms[0].owner == fan and rooms[0].mode == "dj" and rooms[0].visibility == "unlisted"
    assert list(rooms[0].genres.all()) == [genre]


def test_create_room_rejects_bad_input_and_keeps_it(client, make_user):
    client.force_login(make_user("maker"))
    response = client.post("/rooms/new/", {"name": "  ", "mode": "disco", "visibility": "public"})
    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"name", "mode"}
    assert not Room.objects.exists()
