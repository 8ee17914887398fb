"""Owners invite, re-role and remove staff; the invitation link attaches the signed-in user."""

import json
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from labels.models import Invitation, Membership, Role
from rooms.models import ModerationAction, Room, RoomRole
from rooms.services.access import can_join

pytestmark = pytest.mark.django_db


def _invite(client, email, role="manager"):
    return client.post(reverse("label:labels_invitation_add"), {"email": email, "role": role})


def test_owner_invites_and_the_invitee_joins(
    client, world, make_user, django_capture_on_commit_callbacks
):
    client.force_login(world.owner_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = _invite(client, "newbie@example.com")
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["newbie@example.com"]
    link = re.search(r"https?://\S+/label/invite/(\S+)/", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    accept = reverse("label:invite_accept", args=[link.group(1)])

    client.logout()
    assert client.get(accept)["Location"].startswith("/accounts/login/")
    newbie = make_user("newbie")
    client.force_login(newbie)
    page = client.get(accept)
    assert page.status_code == 200 and world.a.label.name in page.content.decode()
    assert client.post(accept).status_code == 302
    assert Membership.objects.get(user=newbie).role == Role.MANAGER
    assert client.get(reverse("label:index")).status_code == 200
    # Used once only.
    assert client.post(accept).status_code == 400


def test_invitation_is_for_its_email_and_expires(client, world, make_user):
    invitation = world.a.obj(Invitation)  # sent to alphatok-invitee@example.com
    accept = reverse("label:invite_accept", args=[invitation.token])
    stranger = make_user("stranger")
    client.force_login(stranger)
    response = client.post(accept)
    assert response.status_code == 400 and "another email" in response.content.decode()
    assert not Membership.objects.filter(user=stranger).exists()

    invitee = make_user(
        "invitee",
    )
    invitee.email = invitation.email
    invitee.save()
    Invitation.objects.filter(pk=invitation.pk).update(
        created_at=invitation.created_at - timedelta(days=30)
    )
    client.force_login(invitee)
    response = client.post(accept)
    assert response.status_code == 400 and "expired" in response.content.decode()
    assert client.get(reverse("label:invite_accept", args=["nope"])).status_code == 404


def test_only_owners_manage_staff(client, world):
    client.force_login(world.manager_b)
    assert _invite(client, "x@example.com").status_code == 403
    assert client.get(reverse("label:labels_membership_changelist")).status_code == 403
    client.force_login(world.analyst_a)
    assert _invite(client, "x@example.com").status_code == 403
    assert not Invitation.objects.filter(email="x@example.com").exists()


def test_owner_cannot_invite_existing_staff(client, world):
    client.force_login(world.owner_a)
    response = _invite(client, world.analyst_a.email)
    assert response.status_code == 200
    assert "already on the staff" in str(response.context["adminform"].form.errors)


def test_roles_change_and_the_last_owner_stays(client, world):
    client.force_login(world.owner_a)
    analyst = Membership.objects.get(user=world.analyst_a)
    change = reverse("label:labels_membership_change", args=[analyst.pk])
    assert client.post(change, {"role": "manager"}).status_code == 302
    assert Membership.objects.get(pk=analyst.pk).role == Role.MANAGER

    own = Membership.objects.get(user=world.owner_a)
    own_change = reverse("label:labels_membership_change", args=[own.pk])
    response = client.post(own_change, {"role": "analyst"}, follow=True)
    assert "at least one owner" in response.content.decode()
    assert Membership.objects.get(pk=own.pk).role == Role.OWNER
    response = client.post(
        reverse("label:labels_membership_delete", args=[own.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert Membership.objects.filter(pk=own.pk).exists()

    client.post(reverse("label:labels_membership_delete", args=[analyst.pk]), {"post": "yes"})
    assert not Membership.objects.filter(pk=analyst.pk).exists()
    # The removed person is out of the portal at once.
    client.force_login(world.analyst_a)
    assert client.get(reverse("label:index")).status_code == 302


def _act(client, room, frame) -> dict:
    """One room action over the HTTP fallback; its answer frame."""
    response = client.post(
        f"/rooms/{room.slug}/actions/", data=json.dumps(frame), content_type="application/json"
    )
    return response.json()["frames"][0]


@pytest.mark.django_db(transaction=True)
def test_removed_staff_lose_their_roles_in_the_label_rooms(client, world):
    room = world.a.obj(Room)
    staff = RoomRole.objects.get(room=room).user  # a moderator the portal named
    elsewhere = Room.objects.create(name="Own room", slug="own-room")  # no label's room
    RoomRole.objects.create(room=elsewhere, user=staff, role=RoomRole.Kind.MODERATOR)
    client.force_login(world.owner_a)
    membership = Membership.objects.get(label=world.a.label, user=staff)
    response = client.post(
        reverse("label:labels_membership_delete", args=[membership.pk]), {"post": "yes"}
    )
    assert response.status_code == 302

    assert not RoomRole.objects.filter(room=room, user=staff).exists()
    audit = ModerationAction.objects.get(room=room, action="role")
    assert (audit.actor, audit.target_user, audit.detail["role"]) == (
        world.owner_a,
        staff,
        "listener",
    )
    # Roles the label did not give are not the label's to take.
    assert RoomRole.objects.filter(room=elsewhere, user=staff).exists()
    assert RoomRole.objects.filter(room=world.b.obj(Room)).exists()

    ex = Client()
    ex.force_login(staff)
    answer = _act(ex, room, {"type": "mod.settings", "changes": {"name": "Taken over"}})
    assert answer["code"] == "forbidden"
    answer = _act(ex, room, {"type": "mod.ban", "username": world.fan.username})
    assert answer["code"] == "forbidden"
    room.refresh_from_db()
    assert room.name == "alphatok room" and not room.sanctions.exists()
    # Nor do they get into the label's private rooms any more, by page or by socket.
    Room.objects.filter(pk=room.pk).update(visibility=Room.Visibility.PRIVATE)
    room.refresh_from_db()
    assert ex.get(room.get_absolute_url()).status_code == 404
    assert can_join(room, staff, None) == "invite_required"


def test_portal_sign_in_stops_password_guessing(world):
    login = reverse("label:login")
    owner = world.owner_a.username
    for attempt in range(10):
        response = Client().post(login, {"username": owner, "password": f"guess-{attempt}"})
        assert response.status_code == 200
    response = Client().post(login, {"username": owner, "password": "pw-" + owner})
    assert response.status_code == 429 and "Too many failed sign-ins" in response.content.decode()
    # Someone else signs in from the same address: the address has failures left.
    staff = Client()
    response = staff.post(
        login, {"username": "analyst_alphatok", "password": "pw-analyst_alphatok"}
    )
    assert response.status_code == 302 and "_auth_user_id" in staff.session


@pytest.mark.django_db(transaction=True)
def test_an_operator_removing_staff_takes_their_label_roles_too(client, world, django_user_model):
    room = world.a.obj(Room)
    staff = RoomRole.objects.get(room=room).user
    operator = django_user_model.objects.create_superuser("op", "op@example.com", "pw")
    client.force_login(operator)
    membership = Membership.objects.get(label=world.a.label, user=staff)
    response = client.post(
        reverse("admin:labels_membership_delete", args=[membership.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert not RoomRole.objects.filter(room=room, user=staff).exists()
    audit = ModerationAction.objects.get(room=room, action="role")
    assert (audit.actor, audit.target_user) == (operator, staff)
    # Deleting the person altogether is not a staff removal: nothing to audit about a user gone.
    other = RoomRole.objects.get(room=world.b.obj(Room)).user
    other.delete()
    assert not ModerationAction.objects.filter(room=world.b.obj(Room)).exists()


def test_operator_sign_in_stops_password_guessing_too(django_user_model):
    django_user_model.objects.create_superuser("root2", "r@example.com", "right-pw")
    login = reverse("admin:login")
    for attempt in range(10):
        response = Client().post(login, {"username": "root2", "password": f"guess-{attempt}"})
        assert response.status_code == 200
    response = Client().post(login, {"username": "root2", "password": "right-pw"})
    assert response.status_code == 429 and "Too many failed sign-ins" in response.content.decode()
    # Failures from one address do not lock the account's owner out elsewhere.
    elsewhere = Client(REMOTE_ADDR="198.51.100.7")
    response = elsewhere.post(login, {"username": "root2", "password": "right-pw"})
    assert response.status_code == 302
