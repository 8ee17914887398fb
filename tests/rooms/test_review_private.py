"""The socket lets into a private room the same people as the page does."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore

from labels.models import Label, Membership
from rooms.models import Room, Sanction
from rooms.services import room_create
from rooms.services.access import INVITES_SESSION_KEY, can_join
from rooms.views import access as page_access

pytestmark = pytest.mark.django_db


@pytest.fixture
def label():
    return Label.objects.create(name="North Records")


@pytest.fixture
def private(owner, label):
    return room_create(
        owner=owner, name="Back Room", visibility=Room.Visibility.PRIVATE, label=label
    )


def test_page_and_socket_share_the_session_key():
    assert INVITES_SESSION_KEY == page_access.INVITES_SESSION_KEY


def test_invite_opened_on_the_page_admits_the_socket(private, client):
    anon = AnonymousUser()
    assert can_join(private, anon, None) == "invite_required"
    page = client.get(f"/rooms/{private.slug}/?invite={private.invite_token}")
    assert page.status_code == 200
    session = SessionStore(session_key=client.session.session_key)
    assert can_join(private, anon, None, session=session) is None
    assert can_join(private, anon, None, session=SessionStore()) == "invite_required"


def test_invite_for_another_room_does_not_admit(private, owner):
    other = room_create(owner=owner, name="Other", visibility=Room.Visibility.PRIVATE)
    session = {INVITES_SESSION_KEY: [other.id]}
    assert can_join(private, AnonymousUser(), None, session=session) == "invite_required"
    assert can_join(private, AnonymousUser(), "wrong-token") == "invite_required"
    assert can_join(private, AnonymousUser(), private.invite_token) is None


def test_label_staff_and_superusers_are_admitted(private, label, make_user):
    staff, outsider, rival = make_user("staff"), make_user("outsider"), make_user("rival")
    Membership.objects.create(label=label, user=staff)
    Membership.objects.create(label=Label.objects.create(name="Other Label"), user=rival)
    admin = make_user("root", is_superuser=True, is_staff=True)
    assert can_join(private, staff, None) is None
    assert can_join(private, admin, None) is None
    assert can_join(private, outsider, None) == "invite_required"
    assert can_join(private, rival, None) == "invite_required"


def test_a_ban_outranks_every_grant(private, owner, make_user):
    admin = make_user("root", is_superuser=True)
    Sanction.objects.create(room=private, user=admin, kind="ban")
    session = {INVITES_SESSION_KEY: [private.id]}
    assert can_join(private, admin, private.invite_token, session=session) == "banned"
