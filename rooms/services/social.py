"""What fans do around the playing track: chat, skip votes, favourites."""

from django.conf import settings
from django.db import transaction

from rooms.broadcast import room_event
from rooms.errors import RoomError
from rooms.models import ChatMessage, Favourite, Playback, Room, SkipVote
from rooms.playback import lock_room, room_advance
from rooms.selectors import (
    audio_fans,
    chat_dict,
    listening_users,
    skip_needed,
    skip_votes_counted,
)
from rooms.services.access import lock_fresh, require_fan, require_not_banned, sanction_in_force
from rooms.text import text_clean, text_visible

NOT_LISTENING = "Only fans listening in the room (audio playing) can vote to skip."


def chat_send(*, room: Room, user, text: str) -> ChatMessage:
    """Store the text as typed; clients escape it when they render it."""
    require_fan(user)
    if not isinstance(text, str) or not text_visible(text):
        raise RoomError("invalid", "A message needs some text.")
    text = text_clean(text)
    limit = settings.ROOMTONE["CHAT_MAX_LENGTH"]
    if len(text) > limit:
        raise RoomError("too_long", f"Messages are at most {limit} characters.")
    with transaction.atomic():
        _playback, room = lock_fresh(room)
        require_not_banned(room, user)
        if sanction_in_force(room, user, "mute").exists():
            raise RoomError("muted", "You are muted in this room.")
        message = ChatMessage.objects.create(room=room, user=user, text=text)
        room_event(room_id=room.id, event={"type": "chat.message", "message": chat_dict(message)})
        return message


def favourite_add(*, room: Room, user) -> Favourite:
    """Grab the playing track into the fan's favourites (grabbing twice keeps one)."""
    require_fan(user)
    playback = Playback.objects.select_related("current_entry").filter(room=room).first()
    if playback is None or playback.current_entry is None:
        raise RoomError("nothing_playing", "Nothing is playing right now.")
    favourite, _ = Favourite.objects.get_or_create(
        user=user, track_id=playback.current_entry.track_id, defaults={"room": room}
    )
    return favourite


def skip_vote_cast(*, room: Room, user) -> dict:
    """Vote to skip the playing track; the vote that makes a majority of listeners skips it.

    Only fans whose audio runs in the room may vote, and only their votes count: a vote of a fan
    who stopped listening no longer moves the track.
    """
    require_fan(user)
    with transaction.atomic():
        playback, room = lock_fresh(room)
        require_not_banned(room, user)
        entry_id = playback.current_entry_id
        if entry_id is None:
            raise RoomError("nothing_playing", "Nothing is playing right now.")
        if not listening_users(room.id).filter(user_id=user.pk).exists():
            raise RoomError("not_listening", NOT_LISTENING)
        SkipVote.objects.get_or_create(entry_id=entry_id, user=user)
        votes = skip_votes_counted(room.id, entry_id)
        needed = skip_needed(audio_fans(room.id))
        state = {"entry_id": entry_id, "skip_votes": votes, "skip_needed": needed}
        if votes >= needed:
            room_advance(room_id=room.id, expected_entry_id=entry_id, skipped=True)
            return {**state, "skipped": True}
        room_event(room_id=room.id, event={"type": "skip.updated", **state})
        return {**state, "skipped": False}


def skip_state_refresh(*, room_id: int) -> None:
    """A fan's audio started or stopped, moving the quorum: tell the room the new numbers."""
    with transaction.atomic():
        playback = lock_room(room_id)
        if playback.current_entry_id is None:
            return
        votes = skip_votes_counted(room_id, playback.current_entry_id)
        event = {
            "type": "skip.updated",
            "entry_id": playback.current_entry_id,
            "skip_votes": votes,
            "skip_needed": skip_needed(audio_fans(room_id)),
        }
        room_event(room_id=room_id, event=event)
