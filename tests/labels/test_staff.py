"""Owners invite, re-role and remove staff; the invitation link attaches the signed-in user."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse

from labels.models import Invitation, Membership, Role

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
