"""Creating rooms, changing their settings, and handing out roles."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from rooms.broadcast import room_control, room_event
from rooms.errors import RoomError
from rooms.models import ModerationAction, Playback, Room, RoomRole
from rooms.playback import lock_room
from rooms.selectors import load_room, room_dict
from rooms.services.access import lock_fresh, require_fan, require_moderator
from rooms.text import text_clean, text_visible

# Settings a moderator may change from the room (the admin and the edit page change more).
EDITABLE = {
    "name": str,
    "description": str,
    "pinned_message": str,
    "max_queued_per_user": int,
    "no_repeat_window": int,
    "downvote_ratio": float,
    "autofill": bool,
    "dj_grace_seconds": int,
}
CREATE_EXTRA = {
    "label",
    "artist",
    "venue_name",
    "latitude",
    "longitude",
    "is_featured",
    *EDITABLE,
}


def _unique_slug(name: str) -> str:
    base = slugify(name)[:70] or "room"
    slug, n = base, 1
    while Room.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def room_create(
    *,
    owner,
    name: str,
    description: str = "",
    genres=(),
    mode: str = Room.Mode.JUKEBOX,
    visibility: str = Room.Visibility.PUBLIC,
    **extra,
) -> Room:
    """A new room owned by `owner`, with its playback row; raises ValidationError on bad input."""
    unknown = set(extra) - CREATE_EXTRA
    if unknown:
        raise TypeError(f"room_create() got unexpected fields {sorted(unknown)}")
    for _attempt in range(3):
        try:
            with transaction.atomic():
                room = Room(
                    owner=owner,
                    name=name,
                    description=description,
                    mode=mode,
                    visibility=visibility,
                    slug=_unique_slug(name),
                    **extra,
                )
                room.full_clean()
                room.save()
                room.genres.set(genres)
                Playback.objects.create(room=room)
                if owner is not None:
                    RoomRole.objects.create(room=room, user=owner, role=RoomRole.Kind.OWNER)
                return room
        except IntegrityError:
            continue  # two rooms took the same slug at once: pick again
    raise ValidationError("Could not find a free address for this room; try another name.")


def room_changed(*, room: Room) -> None:
    """Tell the room's clients its settings changed (the admin and edit views call this)."""
    with transaction.atomic():
        lock_room(room.id)
        fresh = load_room(pk=room.pk)
        room_event(room_id=room.id, event={"type": "room.updated", "room": room_dict(fresh)})
        # Mode and visibility change who may do what: consumers refresh their `you`.
        room_control(room_id=room.id, message={"action": "room"})


def room_settings_update(*, room: Room, actor, changes: dict) -> Room:
    require_moderator(room, actor)
    if not isinstance(changes, dict) or not changes:
        raise RoomError("invalid", "Send the settings to change.")
    for field, value in changes.items():
        kind = EDITABLE.get(field)
        if kind is None:
            raise RoomError("invalid", f"{field!r} cannot be changed here.")
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok:
            raise RoomError("invalid", f"{field} must be a {kind.__name__}.")
    if "name" in changes:
        changes = {**changes, "name": " ".join(text_clean(changes["name"]).split())}
        if not text_visible(changes["name"]):
            raise RoomError("invalid", "Give the room a name.")
    with transaction.atomic():
        _playback, fresh = lock_fresh(room)
        require_moderator(fresh, actor)  # the role may have gone since the connection opened
        for field, value in changes.items():
            setattr(fresh, field, value)
        try:
            fresh.full_clean()
        except ValidationError as exc:
            raise RoomError("invalid", "; ".join(exc.messages))
        fresh.save(update_fields=[*changes, "updated_at"])
        ModerationAction.objects.create(
            room=fresh, actor=actor, action="settings", detail={"changes": changes}
        )
        room_changed(room=fresh)
        return fresh


def role_set(*, room: Room, actor, username: str, role: str) -> None:
    """The owner names moderators and DJs (`listener` removes the role)."""
    from django.contrib.auth import get_user_model

    require_fan(actor)
    if room.owner_id != actor.pk:
        raise RoomError("forbidden", "Only the room's owner can change roles.")
    if role not in ("moderator", "dj", "listener"):
        raise RoomError("invalid", "Role is moderator, dj or listener.")
    target = get_user_model().objects.filter(username=username).first()
    if target is None or target.pk == actor.pk:
        raise RoomError("not_found", f"There is no other user {username!r}.")
    with transaction.atomic():
        _playback, room = lock_fresh(room)
        if room.owner_id != actor.pk:  # ownership may have moved since the connection opened
            raise RoomError("forbidden", "Only the room's owner can change roles.")
        RoomRole.objects.filter(room=room, user=target).delete()
        if role != "listener":
            RoomRole.objects.create(room=room, user=target, role=role)
        ModerationAction.objects.create(
            room=room, actor=actor, action="role", target_user=target, detail={"role": role}
        )
        room_event(
            room_id=room.id,
            event={
                "type": "moderation",
                "action": "role",
                "actor": actor.username,
                "target": target.username,
                "role": role,
            },
        )
        room_control(room_id=room.id, message={"action": "role", "user_id": target.pk})


def label_roles_revoke(*, label_id: int, user, actor=None) -> list[int]:
    """Drop `user`'s moderator and DJ roles in the label's rooms; returns those rooms' ids.

    The label hands these roles to its staff, and its portal lists only current staff's: a role
    outliving the membership would still moderate the room, unseen by the label. Runs in the
    caller's transaction (the staff removal); open pages learn of each change on commit, as for
    `role_set`. A room the user owns stays theirs: moving ownership is the operators' call.
    """
    roles = RoomRole.objects.filter(room__label_id=label_id, user=user).exclude(
        role=RoomRole.Kind.OWNER
    )
    room_ids = sorted(set(roles.values_list("room_id", flat=True)))
    for room_id in room_ids:  # in id order, so two removals never lock rooms crosswise
        lock_room(room_id)
        RoomRole.objects.filter(room_id=room_id, user=user).exclude(
            role=RoomRole.Kind.OWNER
        ).delete()
        ModerationAction.objects.create(
            room_id=room_id,
            actor=actor,
            action="role",
            target_user=user,
            detail={"role": "listener", "reason": "left the label's staff"},
        )
        room_event(
            room_id=room_id,
            event={
                "type": "moderation",
                "action": "role",
                "actor": getattr(actor, "username", None),
                "target": user.username,
                "role": "listener",
            },
        )
        room_control(room_id=room_id, message={"action": "role", "user_id": user.pk})
    return room_ids
