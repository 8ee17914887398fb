"""What rooms do when something below them changes (labels import nothing of rooms)."""

from django.db.models.signals import post_delete
from django.dispatch import receiver

from labels.models import Membership
from rooms.services import label_roles_revoke


@receiver(post_delete, sender=Membership, dispatch_uid="rooms.membership_deleted")
def membership_deleted(sender, instance: Membership, origin=None, **kwargs) -> None:
    """Someone left a label's staff (the portal, the operators' admin, a bulk delete): the roles
    the label gave them in its rooms go with it, in the same transaction.

    Only when a membership itself is deleted: a user or label being deleted takes the roles (or
    the rooms' label) with it, and an audit row naming a user being deleted could not be written.
    """
    if getattr(origin, "model", type(origin)) is not Membership:
        return
    label_roles_revoke(
        label_id=instance.label_id,
        user=instance.user,
        actor=getattr(instance, "removed_by", None),
    )
