import pytest
from django.core.files.base import ContentFile

from catalog.models import Genre, Track
from catalog.search import search_tracks
from tests.conftest import requires_postgres

pytestmark = pytest.mark.django_db


def make(title, artists="", album="", *, playable=True, genres=()):
    track = Track.objects.create(title=title, artist_names=artists, album=album)
    if playable:
        track.audio.save(f"{title[:20]}.wav", ContentFile(b"RIFF"), save=False)
        track.duration_ms = 1000
        track.save()
    for name in genres:
        track.genres.add(Genre.objects.get_or_create(name=name, slug=name.lower())[0])
    return track


@pytest.fixture
def catalog():
    return {
        "dancing": make("Dancing Queen", "ABBA", "Arrival", genres=["Disco"]),
        "hearts": make("Queen of Hearts", "Juice Newton", "Juice"),
        "queen": make("Queen", "Perfume Genius", "Set My Heart on Fire"),
        "jude": make("Hey Jude", "The Beatles", "Past Masters"),
        "yesterday": make("Yesterday", "The Beatles", "Help!"),
        "silent": make("Queen Bee", "Nobody", playable=False),
    }


def titles(found):
    return [t.title for t in found]


def test_exact_title_then_prefix_then_contains(catalog):
    found = search_tracks("queen", queryset=Track.objects.filter(duration_ms__gt=0))
    assert titles(found) == ["Queen", "Queen of Hearts", "Dancing Queen"]


def test_artist_album_and_genre_match(catalog):
    assert titles(search_tracks("beatles")) == ["Hey Jude", "Yesterday"]
    assert titles(search_tracks("Past Masters")) == ["Hey Jude"]
    assert titles(search_tracks("disco")) == ["Dancing Queen"]


def test_title_beats_artist(catalog):
    make("Beatles Forever", "Tribute Band")
    assert titles(search_tracks("beatles"))[0] == "Beatles Forever"


def test_several_words_in_different_fields(catalog):
    assert titles(search_tracks("abba dancing")) == ["Dancing Queen"]


def test_queryset_limit_and_empty(catalog):
    assert titles(search_tracks("queen", queryset=Track.objects.filter(album="Juice"))) == [
        "Queen of Hearts"
    ]
    assert len(search_tracks("queen", limit=1)) == 1
    assert search_tracks("   ") == []
    assert search_tracks("zzzz-nothing") == []


def test_operators_in_query_are_text(catalog):
    # Never a syntax error, and no operator or wildcard widens the search: only words match.
    queens = {"Dancing Queen", "Queen", "Queen Bee", "Queen of Hearts"}
    assert set(titles(search_tracks("queen & !"))) == queens
    for query in ["o'reilly | (", "%", "_", "\\", "' OR 1=1 --"]:
        assert search_tracks(query) == [], query


@requires_postgres
def test_typos_found_through_trigrams(catalog):
    assert titles(search_tracks("dancng queen"))[0] == "Dancing Queen"
    assert set(titles(search_tracks("beatels"))) == {"Hey Jude", "Yesterday"}
    assert titles(search_tracks("yesterdy")) == ["Yesterday"]


@requires_postgres
def test_prefix_as_you_type(catalog):
    assert titles(search_tracks("yester")) == ["Yesterday"]
    assert "Dancing Queen" in titles(search_tracks("danc que"))


@requires_postgres
def test_search_indexes_exist():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'catalog_track'")
        names = {row[0] for row in cursor.fetchall()}
    assert {"catalog_track_fts", "catalog_track_title_trgm", "catalog_track_artists_trgm"} <= names


# -- GET /catalog/search/ ----------------------------------------------------------------------
def test_view_returns_playable_tracks_best_first(client, catalog):
    response = client.get("/catalog/search/", {"q": "queen"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["title"] for r in results] == ["Queen", "Queen of Hearts", "Dancing Queen"]
    assert set(results[0]) == {"id", "title", "artist_names", "album", "duration_ms"}
    assert results[0]["artist_names"] == "Perfume Genius" and results[0]["duration_ms"] == 1000


def test_view_empty_and_too_long(client, catalog):
    assert client.get("/catalog/search/").json() == {"results": []}
    response = client.get("/catalog/search/", {"q": "x" * 101})
    assert response.status_code == 400 and "100" in response.json()["error"]


def test_view_room_scope_hook(client, catalog, settings):
    settings.CATALOG_ROOM_SEARCH_SCOPE = "tests.catalog.test_search.only_abba"
    results = client.get("/catalog/search/", {"q": "queen", "room": "abba-room"}).json()
    assert [r["title"] for r in results["results"]] == ["Dancing Queen"]
    assert client.get("/catalog/search/", {"q": "queen", "room": "nope"}).status_code == 404
    # Without a room the hook is not consulted.
    assert len(client.get("/catalog/search/", {"q": "queen"}).json()["results"]) == 3


def only_abba(*, request, slug, queryset):
    from django.http import Http404

    if slug != "abba-room":
        raise Http404("No such room.")
    return queryset.filter(artist_names="ABBA")


def test_view_rejects_nul(client, catalog):
    for params in ({"q": "que\x00en"}, {"q": "queen", "room": "a\x00b"}):
        response = client.get("/catalog/search/", params)
        assert response.status_code == 400 and b"NUL" in response.content


def test_view_hides_tracks_held_for_a_premiere(client, catalog):
    from datetime import timedelta

    from django.utils import timezone

    from labels.models import Label
    from rooms.models import Premiere, Room

    label = Label.objects.create(name="Acme Records", slug="acme")
    room = Room.objects.create(name="Acme Live", slug="acme-live", label=label)
    premiere = Premiere.objects.create(
        label=label,
        room=room,
        track=catalog["hearts"],
        title="Hearts premiere",
        starts_at=timezone.now() + timedelta(days=1),
    )
    found = client.get("/catalog/search/", {"q": "queen"}).json()["results"]
    assert [r["title"] for r in found] == ["Queen", "Dancing Queen"]
    # Once the premiere has started, the track is everyone's to queue.
    Premiere.objects.filter(pk=premiere.pk).update(started=True)
    found = client.get("/catalog/search/", {"q": "queen"}).json()["results"]
    assert [r["title"] for r in found] == ["Queen", "Queen of Hearts", "Dancing Queen"]


def test_view_rate_limited(client, catalog, monkeypatch):
    from types import SimpleNamespace

    from catalog import views

    # One fixed window for the whole test: a window boundary mid-test would reset the count.
    monkeypatch.setattr(views, "time", SimpleNamespace(time=lambda: 1_800_000_000.5))
    statuses = [client.get("/catalog/search/", {"q": "queen"}).status_code for _ in range(32)]
    assert statuses[:30] == [200] * 30
    assert statuses[-1] == 429
    response = client.get("/catalog/search/", {"q": "queen"})
    assert int(response["Retry-After"]) >= 1


def test_view_rejects_post(client):
    assert client.post("/catalog/search/", {"q": "x"}).status_code == 405
