"""Nearby venue rooms (position used, never kept) and recommendations for signed-in fans."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone

from catalog.models import Genre
from rooms.directory import haversine_km, recommended_rooms
from rooms.models import Favourite, ListeningSession, QueueEntry, Room, Vote
from rooms.services import room_create

pytestmark = pytest.mark.django_db


def venue(owner, name, lat, lng, **extra):
    return room_create(
        owner=owner, name=name, venue_name=f"{name} Hall", latitude=lat, longitude=lng, **extra
    )


def test_haversine_is_right():
    # Paris to London is about 344 km.
    assert haversine_km(48.8566, 2.3522, 51.5074, -0.1278) == pytest.approx(343.5, abs=1.5)
    assert haversine_km(10, 10, 10, 10) == 0


def test_nearby_sorts_venue_rooms_by_distance(client, owner):
    venue(owner, "Far", 52.52, 13.40)  # Berlin: out of range
    venue(owner, "Near", 48.86, 2.35)
    venue(owner, "Middle", 48.80, 2.13)
    venue(owner, "Hidden", 48.85, 2.35, visibility="unlisted")
    room_create(owner=owner, name="No place")

    response = client.get("/rooms/nearby/?lat=48.8566&lng=2.3522")

    assert response.status_code == 200
    rooms = response.json()["rooms"]
    assert [r["name"] for r in rooms] == ["Near", "Middle"]
    assert rooms[0]["distance_km"] < rooms[1]["distance_km"]
    assert rooms[0]["url"] == "/rooms/near/" and rooms[0]["venue_name"] == "Near Hall"
    assert response.headers["Cache-Control"].startswith("max-age=0")


def test_nearby_keeps_nothing_about_the_position(client, owner, django_assert_num_queries):
    venue(owner, "Near", 48.86, 2.35)
    client.get("/")  # an ordinary visit first
    sessions_before = Session.objects.count()
    cookies_before = dict(client.cookies)

    with django_assert_num_queries(1):  # one read, no write
        response = client.post("/rooms/nearby/", {"lat": "48.856613", "lng": "2.352222"})

    assert response.status_code == 200
    assert Session.objects.count() == sessions_before
    assert "sessionid" not in response.cookies
    assert dict(client.cookies).keys() == cookies_before.keys()
    assert "48.85" not in str(list(Session.objects.values_list("session_data", flat=True)))


def test_nearby_rounds_the_position_to_two_decimals(client, owner):
    # 0.004 degrees of latitude (~450 m) is below the rounding: both points give one answer.
    venue(owner, "Edge", 10.0, 10.0)
    a = client.get("/rooms/nearby/?lat=10.501&lng=10.0").json()["rooms"]
    b = client.get("/rooms/nearby/?lat=10.504&lng=10.0").json()["rooms"]
    assert a == b and a[0]["distance_km"] == pytest.approx(haversine_km(10.5, 10, 10, 10), abs=0.1)


@pytest.mark.parametrize(
    "query", ["", "?lat=91&lng=0", "?lat=abc&lng=1", "?lat=1", "?lat=nan&lng=1", "?lat=1&lng=181"]
)
def test_nearby_rejects_bad_positions(client, query):
    response = client.get("/rooms/nearby/" + query)
    assert response.status_code == 400
    assert "lat" in response.json()["error"]


@pytest.fixture
def world(owner, make_user, make_track, make_artist):
    """Two fans who met in one room; rooms of matching genre, artist, and co-listening."""
    me, other = make_user("me"), make_user("other")
    jazz, metal = Genre.objects.create(name="Jazz"), Genre.objects.create(name="Metal")
    coltrane = make_artist("John Coltrane")
    liked = make_track("Giant Steps", artist_names="John Coltrane")
    liked.artists.add(coltrane)
    liked.genres.add(jazz)

    home = room_create(owner=owner, name="Home", genres=[metal])
    shared = room_create(owner=owner, name="Where Other Goes")
    jazz_room = room_create(owner=owner, name="Jazz Room", genres=[jazz])
    artist_room = room_create(owner=owner, name="Coltrane Tonight")
    QueueEntry.objects.create(room=artist_room, track=make_track("Naima"))
    naima = QueueEntry.objects.get(room=artist_room)
    naima.track.artists.add(coltrane)
    room_create(owner=owner, name="Unrelated")
    room_create(owner=owner, name="Private Jazz", genres=[jazz], visibility="private")

    entry = QueueEntry.objects.create(room=home, track=liked, status="played")
    Vote.objects.create(entry=entry, user=me, value=1)
    now = timezone.now()
    for user, room in ((me, home), (other, home), (other, shared)):
        ListeningSession.objects.create(
            room=room,
            user=user,
            started_at=now - timedelta(hours=1),
            last_seen_at=now,
            ended_at=now,
        )
    return {"me": me, "home": home, "shared": shared, "jazz": jazz_room, "artist": artist_room}


def test_recommendations_use_likes_and_co_listening(world):
    names = [r.name for r in recommended_rooms(user=world["me"])]
    # Co-listening (3) beats an artist match (2) beats a genre match (1); visited and private out.
    assert names == ["Where Other Goes", "Coltrane Tonight", "Jazz Room"]


def test_recommendations_from_favourites_alone(owner, make_user, make_track):
    fan = make_user("fav")
    folk = Genre.objects.create(name="Folk")
    track = make_track("Song")
    track.genres.add(folk)
    Favourite.objects.create(user=fan, track=track)
    room_create(owner=owner, name="Folk Club", genres=[folk])
    room_create(owner=owner, name="Elsewhere")
    assert [r.name for r in recommended_rooms(user=fan)] == ["Folk Club"]


def test_recommendations_shown_on_the_directory_for_signed_in_fans(client, world):
    assert client.get("/").context["recommended"] == []
    client.force_login(world["me"])
    response = client.get("/")
    assert [r.name for r in response.context["recommended"]][0] == "Where Other Goes"
    assert "For you" in response.content.decode()


def test_new_fan_gets_no_recommendations(make_user, owner):
    room_create(owner=owner, name="Anything")
    assert recommended_rooms(user=make_user("new")) == []
    assert Room.objects.count() == 1
