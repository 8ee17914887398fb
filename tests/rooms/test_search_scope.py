"""Catalog search inside a room: only what the room's rules allow, only rooms one may see."""

import pytest

from labels.models import Label
from rooms.models import Room


@pytest.fixture(autouse=True)
def _scope_setting(settings):
    settings.CATALOG_ROOM_SEARCH_SCOPE = "rooms.selectors.room_search_scope"


@pytest.fixture
def world(db, room, make_track, make_artist):
    fjord = Label.objects.create(name="Fjord", slug="fjord")
    other = Label.objects.create(name="Other", slug="other")
    ada = make_artist("Ada")  # allowed by name
    bo = make_artist("Bo", label=fjord)  # allowed through the label
    cy = make_artist("Cy", label=other)
    t = {
        "ada": make_track("Night song one"),
        "duet": make_track("Night song duet"),
        "bo": make_track("Night song two"),
        "label": make_track("Night song three", label=fjord),
        "cy": make_track("Night song four", label=other),
        "free": make_track("Night song five"),
    }
    t["ada"].artists.set([ada])
    t["duet"].artists.set([ada, bo])  # two allowed artists: still one result
    t["bo"].artists.set([bo])
    t["cy"].artists.set([cy])
    room.allowed_artists.set([ada])
    room.allowed_labels.set([fjord])
    return t


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [r["id"] for r in response.json()["results"]]


def test_room_rules_narrow_the_search(client, room, world):
    found = ids(client.get("/catalog/search/", {"q": "night song", "room": room.slug}))
    expected = {world[k].id for k in ("ada", "duet", "bo", "label")}
    assert set(found) == expected and len(found) == len(expected)


def test_a_room_without_rules_allows_everything(client, room, world):
    room.allowed_artists.clear()
    room.allowed_labels.clear()
    found = ids(client.get("/catalog/search/", {"q": "night song", "room": room.slug}))
    assert set(found) == {t.id for t in world.values()}


def test_without_room_nothing_is_narrowed(client, world):
    found = ids(client.get("/catalog/search/", {"q": "night song"}))
    assert set(found) == {t.id for t in world.values()}


def test_unknown_room_is_404(client, world):
    assert client.get("/catalog/search/", {"q": "night", "room": "nowhere"}).status_code == 404


def test_private_room_is_404_for_an_outsider_and_open_to_its_owner(
    client, room, owner, make_user, world
):
    Room.objects.filter(pk=room.pk).update(visibility=Room.Visibility.PRIVATE)
    client.force_login(make_user("outsider"))
    assert client.get("/catalog/search/", {"q": "night", "room": room.slug}).status_code == 404
    client.force_login(owner)
    assert world["cy"].id not in ids(
        client.get("/catalog/search/", {"q": "night song", "room": room.slug})
    )
