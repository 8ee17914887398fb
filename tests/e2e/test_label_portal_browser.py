"""A label manager restyles a branded room in the portal; a fan on the room page sees it live."""

import pytest

from catalog.models import Artist
from labels.models import Label, Membership, Role
from rooms.services import room_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_manager_edit_shows_live_on_the_room_page(signed_in, make_user):
    label = Label.objects.create(name="Northern Lights Records", slug="northern")
    artist = Artist.objects.create(name="Aurora Vale", slug="aurora-vale", label=label)
    room = room_create(
        owner=None,
        name="Aurora Vale Official",
        label=label,
        artist=artist,
        pinned_message="Welcome to the official room",
    )
    manager = make_user("maya")
    Membership.objects.create(label=label, user=manager, role=Role.MANAGER)
    fan = make_user("fan")

    fan_page = signed_in(fan)
    fan_page.goto(f"/rooms/{room.slug}/")
    fan_page.wait_for_function("window.roomtone && window.roomtone.connected()", timeout=15000)
    assert fan_page.inner_text("#pinned-text") == "Welcome to the official room"
    fan_page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    portal = signed_in()
    portal.goto("/label/")
    portal.fill("#id_username", "maya")
    portal.fill("#id_password", "pw-maya")
    portal.click("input[type=submit]")
    portal.wait_for_selector("text=Northern Lights Records")
    portal.goto("/label/rooms/room/")
    portal.click("#result_list tbody th a")
    portal.fill("#id_theme_primary", "#ff3366")
    portal.fill("#id_pinned_message", "New album out Friday")
    portal.click("input[name=_save]")
    portal.wait_for_selector(".messagelist .success")

    fan_page.wait_for_function(
        "document.getElementById('pinned-text').textContent === 'New album out Friday'",
        timeout=10000,
    )
    primary = fan_page.evaluate(
        "document.getElementById('room').style.getPropertyValue('--room-primary').trim()"
    )
    assert primary.lower() == "#ff3366"
    assert fan_page.evaluate("window.__sameDocument") is True
