"""Who may do what in a room: the checks every service starts with."""

import hmac

from django.db.models import Q
from django.utils import timezone

from rooms.errors import RoomError
from rooms.models import Room, RoomRole, Sanction
from rooms.selectors import active_sanctions, can_moderate, user_role

ROLE_RANK = {"anonymous": 0, "listener": 1, "dj": 2, "moderator": 3, "owner": 4}


def require_fan(user) -> None:
    if user is None or not user.is_authenticated:
        raise RoomError("auth_required", "Sign in to do that.")


def require_not_banned(room: Room, user) -> None:
    if "ban" in active_sanctions(room.id, user):
        raise RoomError("banned", "You are banned from this room.")


def require_moderator(room: Room, user) -> str:
    require_fan(user)
    role = user_role(room, user)
    if not can_moderate(role):
        raise RoomError("forbidden", "Only the room's owner and moderators can do that.")
    return role


def can_join(room: Room, user, invite: str | None) -> str | None:
    """None if `user` may open the room, else the refusal code (`banned` or `invite_required`)."""
    if "ban" in active_sanctions(room.id, user):
        return "banned"
    if room.visibility != Room.Visibility.PRIVATE:
        return None
    if invite and hmac.compare_digest(invite.encode(), room.invite_token.encode()):
        return None
    if user is not None and user.is_authenticated:
        if room.owner_id == user.id or RoomRole.objects.filter(room=room, user=user).exists():
            return None
    return "invite_required"


def sanction_in_force(room: Room, user, kind: str):
    return Sanction.objects.filter(room=room, user=user, kind=kind).filter(
        Q(until__isnull=True) | Q(until__gt=timezone.now())
    )
