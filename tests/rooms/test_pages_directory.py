"""The directory: search, filters, sorts, featured slot, pagination, query counts, OTS."""

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import Genre
from labels.models import Label
from rooms.impressions import impressions_flush
from rooms.models import Campaign, ImpressionCount, Play, Playback, QueueEntry, Room
from rooms.services import room_create

pytestmark = pytest.mark.django_db


def make_room(owner, name, *, genres=(), listeners=0, visibility="public", **extra):
    room = room_create(
        owner=owner, name=name, description="", genres=list(genres), visibility=visibility, **extra
    )
    Room.objects.filter(id=room.id).update(listener_count=listeners)
    room.refresh_from_db()
    return room


def play_now(room, track):
    entry = QueueEntry.objects.create(room=room, track=track, status=QueueEntry.Status.PLAYING)
    now = int(timezone.now().timestamp() * 1000)
    Playback.objects.filter(room=room).update(
        current_entry=entry, started_at_ms=now, ends_at_ms=now + track.duration_ms
    )
    return entry


def names(response, key="rooms"):
    return [room.name for room in response.context[key]]


def test_lists_public_rooms_with_listeners_and_now_playing(client, owner, make_track):
    rock = make_room(owner, "Rock Cellar", listeners=7)
    make_room(owner, "Hidden Den", visibility="unlisted")
    make_room(owner, "Secret Club", visibility="private")
    play_now(rock, make_track("Paranoid Android", artist_names="Radiohead"))

    response = client.get("/")

    assert response.status_code == 200
    assert names(response) == ["Rock Cellar"]
    html = response.content.decode()
    assert "Paranoid Android" in html and "Radiohead" in html
    assert "7 listening" in html
    assert "Hidden Den" not in html and "Secret Club" not in html


def test_search_matches_name_genre_and_what_plays_or_is_queued(client, owner, make_track):
    jazz = Genre.objects.create(name="Jazz")
    by_name = make_room(owner, "Blue Notes")
    by_genre = make_room(owner, "Late Lounge", genres=[jazz])
    by_playing = make_room(owner, "Morning Room")
    by_queued = make_room(owner, "Evening Room")
    make_room(owner, "Unrelated")
    play_now(by_playing, make_track("So What", artist_names="Miles Davis"))
    QueueEntry.objects.create(room=by_queued, track=make_track("Blue in Green"))
    played = make_room(owner, "Old Room")
    QueueEntry.objects.create(
        room=played, track=make_track("Blue Monk"), status=QueueEntry.Status.PLAYED
    )

    assert set(names(client.get("/?q=blue"))) == {"Blue Notes", "Evening Room"}
    assert names(client.get("/?q=jazz")) == [by_genre.name]
    assert names(client.get("/?q=miles")) == [by_playing.name]
    assert by_name.name in names(client.get("/?q=BLUE NOTES"))


def test_genre_filter(client, owner):
    house = Genre.objects.create(name="House")
    techno = Genre.objects.create(name="Techno")
    make_room(owner, "Warehouse", genres=[house, techno])
    make_room(owner, "Berghain", genres=[techno])
    make_room(owner, "Folk Corner")

    assert names(client.get("/?genre=house")) == ["Warehouse"]
    assert set(names(client.get("/?genre=techno"))) == {"Warehouse", "Berghain"}
    response = client.get("/")
    assert [g.slug for g in response.context["genres"]] == ["house", "techno"]


def test_nul_in_search_or_genre_is_a_bad_request(client, owner):
    make_room(owner, "Warehouse")
    assert client.get("/?q=ware%00house").status_code == 400
    assert client.get("/?genre=a%00b").status_code == 400
    assert client.get("/diagnostics/?room=a%00b").status_code == 400
    # Everywhere, not only where it was seen first: the portal's own search, the API.
    assert client.get("/label/catalog/track/?q=a%00b").status_code == 400
    assert client.get("/api/stats/?stat=pl%00ays").status_code == 400
    assert names(client.get("/?q=ware")) == ["Warehouse"]


def test_sorts_by_listeners_new_and_trending(client, owner):
    quiet = make_room(owner, "Quiet", listeners=1)
    busy = make_room(owner, "Busy", listeners=50)
    rising = make_room(owner, "Rising", listeners=5)
    now = timezone.now()
    # "Busy" was busier before than now; "Rising" is growing.
    from catalog.models import Track

    track = Track.objects.create(title="t", duration_ms=1000, audio="a.wav")
    for room, before, recent in ((busy, 80, 50), (rising, 2, 30), (quiet, 1, 1)):
        old = QueueEntry.objects.create(room=room, track=track, status="played")
        new = QueueEntry.objects.create(room=room, track=track, status="played")
        Play.objects.create(
            room=room, entry=old, track=track, started_at=now - timedelta(hours=3), listeners=before
        )
        Play.objects.create(
            room=room,
            entry=new,
            track=track,
            started_at=now - timedelta(minutes=5),
            listeners=recent,
        )

    assert names(client.get("/?sort=listeners")) == ["Busy", "Rising", "Quiet"]
    assert names(client.get("/?sort=new")) == ["Rising", "Busy", "Quiet"]
    assert names(client.get("/?sort=trending")) == ["Rising", "Quiet", "Busy"]
    assert names(client.get("/?sort=bogus")) == ["Busy", "Rising", "Quiet"]


def test_trending_counts_impression_growth(client, owner):
    seen = make_room(owner, "Seen a lot")
    make_room(owner, "Not seen")
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    ImpressionCount.objects.create(room=seen, hour=hour, surface="directory", count=500)
    assert names(client.get("/?sort=trending"))[0] == "Seen a lot"


def test_featured_slot_has_featured_campaign_and_official_rooms(client, owner):
    label = Label.objects.create(name="Sub Pop")
    make_room(owner, "Plain")
    make_room(owner, "Hand Picked", is_featured=True)
    make_room(owner, "Label Room", label=label)
    campaign_room = make_room(owner, "Campaign Room")
    over = make_room(owner, "Campaign Over")
    today = timezone.localdate()
    Campaign.objects.create(
        label=label, room=campaign_room, name="Now", starts_on=today, ends_on=today
    )
    Campaign.objects.create(
        label=label,
        room=over,
        name="Past",
        starts_on=today - timedelta(days=9),
        ends_on=today - timedelta(days=2),
    )

    response = client.get("/")

    featured = names(response, "featured")
    assert featured[0] == "Campaign Room"
    assert set(featured) == {"Campaign Room", "Hand Picked", "Label Room"}
    assert "Official" in response.content.decode()
    # A search or filter shows results only.
    assert client.get("/?q=room").context["featured"] == []


def test_paginates_24_a_page(client, owner):
    for i in range(30):
        make_room(owner, f"Room {i:02d}", listeners=i)
    first = client.get("/")
    second = client.get("/?page=2")
    assert len(first.context["rooms"]) == 24
    assert names(first)[0] == "Room 29"
    assert len(second.context["rooms"]) == 6
    assert set(names(first)).isdisjoint(names(second))
    assert client.get("/?page=999").context["page"].number == 2
    assert client.get("/?page=abc").context["page"].number == 1


def _fill(owner, make_track, make_user, n):
    genre = Genre.objects.get_or_create(name="Pop")[0]
    label = Label.objects.get_or_create(name="Label")[0]
    for i in range(n):
        room = make_room(
            owner,
            f"Room {n}-{i}",
            genres=[genre],
            listeners=i,
            is_featured=i % 3 == 0,
            label=label if i % 4 == 0 else None,
        )
        play_now(room, make_track(f"Song {n}-{i}", artist_names="Someone"))
        for j in range(3):
            QueueEntry.objects.create(room=room, track=make_track(f"Q {n}-{i}-{j}"))


PATHS = ["/", "/?sort=trending", "/?q=room", "/?genre=pop&sort=new"]


def _queries(client, path):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    impressions_flush()  # so no buffered flush lands inside the measured request
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len(ctx.captured_queries)


def test_directory_runs_a_constant_number_of_queries(client, owner, make_track, make_user):
    fan = make_user("fan")
    client.force_login(fan)
    _fill(owner, make_track, make_user, 5)
    few = {path: _queries(client, path) for path in PATHS}
    _fill(owner, make_track, make_user, 45)
    many = {path: _queries(client, path) for path in PATHS}
    assert many == few
    assert len(client.get("/").context["rooms"]) == 24


def test_listings_count_impressions_per_surface(client, owner):
    a = make_room(owner, "Alpha")
    b = make_room(owner, "Beta", is_featured=True)
    impressions_flush()
    ImpressionCount.objects.all().delete()

    client.get("/")
    client.get("/?q=alpha")
    impressions_flush()

    counts = {(row.room_id, row.surface): row.count for row in ImpressionCount.objects.all()}
    assert counts[(a.id, "directory")] == 1
    assert counts[(b.id, "directory")] == 1
    assert counts[(b.id, "featured")] == 1
    assert counts[(a.id, "search")] == 1
    assert (b.id, "search") not in counts
