"""Sign up, sign in and out, favourites."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from rooms.models import Favourite, Room

pytestmark = pytest.mark.django_db


def test_signup_creates_the_account_and_signs_in(client):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "newfan",
            "email": "NewFan@Example.com",
            "password1": "listen-together-42",
            "password2": "listen-together-42",
            "next": "/rooms/new/",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/rooms/new/"
    user = get_user_model().objects.get(username="newfan")
    assert user.email == "newfan@example.com"
    assert client.get("/rooms/new/").status_code == 200


def test_signup_refuses_bad_input_and_foreign_redirects(client, make_user):
    make_user("taken")
    response = client.post(
        "/accounts/signup/",
        {"username": "taken", "email": "taken@example.com", "password1": "x", "password2": "y"},
    )
    assert response.status_code == 200
    assert {"username", "email", "password2"} <= response.context["form"].errors.keys()

    response = client.post(
        "/accounts/signup/",
        {
            "username": "ok",
            "email": "ok@example.com",
            "password1": "listen-together-42",
            "password2": "listen-together-42",
            "next": "https://evil.example/",
        },
    )
    assert response["Location"] == "/"


def test_login_and_logout(client, make_user):
    make_user("joe")
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and b"Sign in" in page.content
    response = client.post("/accounts/login/", {"username": "joe", "password": "pw-joe"})
    assert response.status_code == 302
    home = client.get("/").content.decode()
    assert "Sign out" in home and "New room" in home
    assert client.get("/accounts/logout/").status_code == 405  # POST only
    client.post("/accounts/logout/")
    assert "Sign in" in client.get("/").content.decode()


def _sign_in(username, password, address="10.0.0.1"):
    return Client(REMOTE_ADDR=address).post(
        "/accounts/login/", {"username": username, "password": password}
    )


def test_sign_in_stops_guessing_one_account(make_user):
    make_user("joe")
    assert _sign_in("joe", "pw-joe").status_code == 302  # below the limit: unaffected
    for attempt in range(10):
        assert _sign_in("JOE", f"guess-{attempt}").status_code == 200
    # From that address, even with the right password: its failures for the account are spent.
    response = _sign_in("joe", "pw-joe")
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert "do not match" not in response.content.decode()
    # Its owner elsewhere is not locked out by them...
    assert _sign_in("joe", "pw-joe", "10.0.9.9").status_code == 302
    # ...until guesses spread over many addresses spend the account's own budget.
    for attempt in range(90):
        _sign_in("joe", "guess", f"10.1.{attempt // 5}.{attempt % 5}")
    assert _sign_in("joe", "pw-joe", "10.0.9.9").status_code == 429


def test_sign_in_stops_guessing_from_one_address(make_user):
    make_user("joe")
    for attempt in range(30):
        assert _sign_in(f"fan{attempt}", "guess").status_code == 200
    assert _sign_in("joe", "pw-joe").status_code == 429
    assert _sign_in("joe", "pw-joe", "10.0.0.2").status_code == 302


def test_favourites_are_private_to_their_fan(client, make_user, make_track, room):
    joe, ann = make_user("joe"), make_user("ann")
    Favourite.objects.create(user=joe, track=make_track("Joe's Song"), room=room)
    Favourite.objects.create(user=ann, track=make_track("Ann's Song"))

    assert client.get("/me/favourites/").status_code == 302
    client.force_login(joe)
    html = client.get("/me/favourites/").content.decode()
    assert "Joe&#x27;s Song" in html and room.name in html
    assert "Ann" not in html


def test_a_favourite_from_a_private_room_links_only_for_those_who_may_open_it(
    client, make_user, make_track, room
):
    joe = make_user("joe")
    Room.objects.filter(pk=room.pk).update(visibility=Room.Visibility.PRIVATE)
    Favourite.objects.create(user=joe, track=make_track("Hidden Song"), room=room)
    client.force_login(joe)
    html = client.get("/me/favourites/").content.decode()
    assert "grabbed in a private room" in html
    assert room.get_absolute_url() not in html
    room.roles.create(user=joe, role="moderator")
    html = client.get("/me/favourites/").content.decode()
    assert f'href="{room.get_absolute_url()}"' in html
