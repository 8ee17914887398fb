"""Every change to a room goes through these functions: one transaction each, broadcasts on commit.

They raise `rooms.errors.RoomError(code, message)` for refusals; nothing is written then.
"""

from rooms.playback import room_advance
from rooms.services.dj import dj_join, dj_leave, dj_mark_away, dj_release_away
from rooms.services.moderation import (
    mod_ban,
    mod_delete_message,
    mod_lift,
    mod_mute,
    mod_pause,
    mod_remove_entry,
    mod_resume,
    mod_skip,
)
from rooms.services.queue import queue_add, track_allowed, vote_cast
from rooms.services.rooms import (
    label_roles_revoke,
    role_set,
    room_changed,
    room_create,
    room_settings_update,
)
from rooms.services.social import chat_send, favourite_add, skip_vote_cast

__all__ = [
    "chat_send",
    "dj_join",
    "dj_leave",
    "dj_mark_away",
    "dj_release_away",
    "favourite_add",
    "label_roles_revoke",
    "mod_ban",
    "mod_delete_message",
    "mod_lift",
    "mod_mute",
    "mod_pause",
    "mod_remove_entry",
    "mod_resume",
    "mod_skip",
    "queue_add",
    "role_set",
    "room_advance",
    "room_changed",
    "room_create",
    "room_settings_update",
    "skip_vote_cast",
    "track_allowed",
    "vote_cast",
]
