"""Who may do what in a room: the checks every service starts with."""

import hmac

from django.db.models import Q
from django.utils import timezone

from rooms.errors import RoomError
from rooms.models import Playback, Room, RoomRole, Sanction
from rooms.playback import lock_room
from rooms.selectors import active_sanctions, can_moderate, user_role

# The session key under which the room page records the private rooms whose invite link this
# browser opened (rooms.views.access reads and writes the same key).
INVITES_SESSION_KEY = "room_invites"

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


def lock_fresh(room: Room) -> tuple[Playback, Room]:
    """Lock the room and read its row again under the lock.

    A connection keeps the Room it loaded when it opened; rules changed since (mode, queue
    limits, vote ratio) must apply to its next action, not the ones it started with.
    """
    playback = lock_room(room.id)
    fresh = Room.objects.filter(pk=room.id).first()
    if fresh is None:
        raise RoomError("not_found", "This room no longer exists.")
    return playback, fresh


def can_join(room: Room, user, invite: str | None, *, session=None) -> str | None:
    """None if `user` may open the room, else the refusal code (`banned` or `invite_required`).

    The same people as the room page lets in: the `invite` token, an invite this browser's
    `session` already opened, the room's owner and roles, staff of the room's label, superusers.
    """
    if "ban" in active_sanctions(room.id, user):
        return "banned"
    if room.visibility != Room.Visibility.PRIVATE:
        return None
    if invite and hmac.compare_digest(invite.encode(), room.invite_token.encode()):
        return None
    if session is not None and room.id in (session.get(INVITES_SESSION_KEY) or []):
        return None
    if user is not None and user.is_authenticated:
        if user.is_superuser or room.owner_id == user.id:
            return None
        if RoomRole.objects.filter(room=room, user=user).exists():
            return None
        if (
            room.label_id is not None
            and user.label_memberships.filter(label=room.label_id).exists()
        ):
            return None
    return "invite_required"


def sanction_in_force(room: Room, user, kind: str):
    return Sanction.objects.filter(room=room, user=user, kind=kind).filter(
        Q(until__isnull=True) | Q(until__gt=timezone.now())
    )
