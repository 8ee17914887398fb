"""Who may see a room. Anyone who may not gets the same 404 as for a room that does not exist."""

import secrets

from django.http import Http404
from django.shortcuts import get_object_or_404

from rooms.models import Room

# Session key holding the ids of private rooms whose invite link this browser has opened. The
# WebSocket consumer reads the same session, so the invite keeps working after the first page.
INVITES_SESSION_KEY = "room_invites"


def viewer_key(request) -> str:
    """Who an impression is for: the user, else the session, else nobody in particular."""
    if request.user.is_authenticated:
        return f"u{request.user.pk}"
    return f"s{request.session.session_key}" if request.session.session_key else ""


def may_see_private(request, room: Room) -> bool:
    user = request.user
    if room.id in request.session.get(INVITES_SESSION_KEY, []):
        return True
    if not user.is_authenticated:
        return False
    if user.is_superuser or room.owner_id == user.pk:
        return True
    if room.roles.filter(user=user).exists():
        return True
    return room.label_id is not None and user.label_memberships.filter(label=room.label_id).exists()


def viewable_room_or_404(request, slug: str) -> Room:
    room = get_object_or_404(Room.objects.select_related("label", "artist"), slug=slug)
    if room.visibility != Room.Visibility.PRIVATE:
        return room
    token = request.GET.get("invite", "")
    if token and secrets.compare_digest(token.encode(), room.invite_token.encode()):
        granted = request.session.get(INVITES_SESSION_KEY, [])
        if room.id not in granted:
            request.session[INVITES_SESSION_KEY] = [*granted, room.id][-50:]
        return room
    if may_see_private(request, room):
        return room
    raise Http404("No such room.")
