"""Label staff: invitations, roles, removals. One transaction each; email goes out on commit."""

import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from labels.models import Invitation, Label, Membership, Role

INVITATION_TTL = timedelta(days=14)


class InvitationError(Exception):
    """An invitation that cannot be accepted, with a message meant for the person holding it."""


def invitation_create(
    *, label: Label, email: str, role: str, invited_by, site_url: str
) -> Invitation:
    email = email.strip()
    if Membership.objects.filter(label=label, user__email__iexact=email).exists():
        raise ValidationError({"email": "Someone with this email is already on the staff."})
    with transaction.atomic():
        invitation = Invitation.objects.create(
            label=label,
            email=email,
            role=role,
            invited_by=invited_by,
            token=secrets.token_urlsafe(32),
        )
        link = site_url.rstrip("/") + reverse("label:invite_accept", args=[invitation.token])
        inviter = getattr(invited_by, "get_username", lambda: "A colleague")()
        body = (
            f"{inviter} invites you to join {label.name} on Roomtone as "
            f"{invitation.get_role_display().lower()}.\n\n"
            f"Sign in (or create an account with this email) and open:\n{link}\n\n"
            f"The link works once and expires in {INVITATION_TTL.days} days."
        )
        transaction.on_commit(
            lambda: send_mail(f"Join {label.name} on Roomtone", body, None, [email])
        )
    return invitation


def invitation_accept(*, token: str, user) -> Membership:
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update().select_related("label").filter(token=token)
        ).first()
        if invitation is None:
            raise InvitationError("This invitation does not exist.")
        if invitation.accepted_at is not None:
            raise InvitationError("This invitation has already been used.")
        if invitation.created_at < timezone.now() - INVITATION_TTL:
            raise InvitationError("This invitation has expired. Ask for a new one.")
        if (user.email or "").strip().lower() != invitation.email.strip().lower():
            raise InvitationError(
                "This invitation was sent to another email address. "
                "Sign in with the account that uses it."
            )
        if Membership.objects.filter(label=invitation.label, user=user).exists():
            raise InvitationError(f"You are already on the staff of {invitation.label}.")
        membership = Membership.objects.create(
            label=invitation.label, user=user, role=invitation.role
        )
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["accepted_at"])
    return membership


def _check_owner_remains(membership: Membership) -> None:
    others = (
        Membership.objects.select_for_update()
        .filter(label_id=membership.label_id, role=Role.OWNER)
        .exclude(pk=membership.pk)
    )
    if not others.exists():
        raise ValidationError("A label needs at least one owner: make someone else owner first.")


def membership_set_role(*, membership: Membership, role: str) -> Membership:
    with transaction.atomic():
        current = Membership.objects.select_for_update().get(pk=membership.pk)
        if current.role == Role.OWNER and role != Role.OWNER:
            _check_owner_remains(current)
        current.role = role
        current.save(update_fields=["role"])
    membership.role = role
    return membership


def membership_remove(*, membership: Membership, actor=None) -> None:
    """Take someone off the label's staff. The roles the label gave them in its rooms go in the
    same transaction (rooms/signals.py hears the delete; ``removed_by`` names who did it)."""
    with transaction.atomic():
        current = Membership.objects.select_for_update().get(pk=membership.pk)
        if current.role == Role.OWNER:
            _check_owner_remains(current)
        current.removed_by = actor
        current.delete()
