"""Client frames, whatever carries them: validate, check, call one service, answer.

The WebSocket consumer and the HTTP fallback (rooms/sse.py) both hand every client frame to
`frame_handle` and send back the frames it returns, so a room behaves the same over either.
docs/protocol.md is the contract.
"""

import json
import logging
import math
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.conf import settings

from config.rate_limit import rate_limit_allow
from rooms import presence, scheduler, services
from rooms.errors import RoomError
from rooms.hub import RoomHub, current_hub, get_hub
from rooms.models import Room, Vote
from rooms.playback import playback_heal
from rooms.selectors import load_room, now_ms, premiere_dict, room_snapshot, you_dict
from rooms.services.access import can_join
from rooms.services.social import skip_state_refresh

log = logging.getLogger(__name__)


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _str(v) -> bool:
    # PostgreSQL refuses NUL in text: a string holding one could only fail in the service.
    return isinstance(v, str) and "\x00" not in v


def _bool(v) -> bool:
    return isinstance(v, bool)


def _vote(v) -> bool:
    return _int(v) and v in (1, -1, 0)


def _minutes(v) -> bool:
    return v is None or _int(v)


def _dict(v) -> bool:
    return isinstance(v, dict) and all(_str(k) and _no_nul(x) for k, x in v.items())


def _no_nul(v) -> bool:
    """No NUL in any string of a nested value (a dict field's contents reach the database)."""
    if isinstance(v, str):
        return _str(v)
    if isinstance(v, dict):
        return _dict(v)
    if isinstance(v, list):
        return all(_no_nul(x) for x in v)
    return True


# type: (required fields, optional fields, signed-in only, rate-limit action)
FRAMES: dict[str, tuple[dict, dict, bool, str | None]] = {
    "time.ping": ({"t0": _number}, {}, False, None),
    "sync": ({}, {}, False, "sync"),
    "audio.state": ({"playing": _bool}, {}, False, "audio"),
    "queue.add": ({"track_id": _int}, {}, True, "add"),
    "vote": ({"entry_id": _int, "value": _vote}, {}, True, "vote"),
    "skip.vote": ({}, {}, True, "skip"),
    "favourite.add": ({}, {}, True, "vote"),
    "chat.send": ({"text": _str}, {}, True, "chat"),
    "dj.join": ({}, {}, True, "dj"),
    "dj.leave": ({}, {}, True, "dj"),
    "mod.skip": ({}, {}, True, "mod"),
    "mod.remove": ({"entry_id": _int}, {}, True, "mod"),
    "mod.mute": ({"username": _str}, {"minutes": _minutes, "reason": _str}, True, "mod"),
    "mod.ban": ({"username": _str}, {"minutes": _minutes, "reason": _str}, True, "mod"),
    "mod.unmute": ({"username": _str}, {}, True, "mod"),
    "mod.unban": ({"username": _str}, {}, True, "mod"),
    "mod.delete_message": ({"message_id": _int}, {}, True, "mod"),
    "mod.settings": ({"changes": _dict}, {}, True, "mod"),
    "mod.role": ({"username": _str, "role": _str}, {}, True, "mod"),
    "mod.pause": ({}, {}, True, "mod"),
    "mod.resume": ({}, {}, True, "mod"),
}
FRAMES["playback.sync"] = FRAMES["sync"]
COMMON_OPTIONAL = {"type": _str, "ref": lambda v: _str(v) or _int(v)}

CLOSE_INVITE_REQUIRED = 4401
CLOSE_BANNED = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY = 4429

# Refusals at connection time: code -> (message, WebSocket close code, HTTP status).
REFUSALS = {
    "not_found": ("There is no such room.", CLOSE_NOT_FOUND, 404),
    "too_many_connections": (
        "Too many anonymous listeners from your network: sign in to listen here.",
        CLOSE_TOO_MANY,
        429,
    ),
    "banned": ("You are banned from this room.", CLOSE_BANNED, 403),
    "invite_required": (
        "This room is private: open it with its invite link.",
        CLOSE_INVITE_REQUIRED,
        403,
    ),
}


class FrameError(Exception):
    def __init__(self, code: str, message: str, frame: dict | None = None):
        self.code, self.message = code, message
        # A frame of a known type but bad fields still names its type and ref in the error.
        self.frame_type = frame.get("type") if frame else None
        self.ref = frame.get("ref") if frame else None


@dataclass
class Conn:
    """One client's standing in a room, as the transport knows it."""

    room: Room
    user: object
    who: str  # whose rate-limit budget: the user's id, else the connection's own name
    session_id: int | None = None  # the listening session this client's stream holds


def error_frame(code: str, message: str, request_type=None, ref=None) -> dict:
    return {
        "type": "error",
        "code": code,
        "message": message,
        "request_type": request_type,
        "ref": ref,
    }


def room_admit(
    *, slug: str, user, invite: str | None, session=None
) -> tuple[Room | None, str | None]:
    """The room and None, or the room (or None) and the refusal code (`REFUSALS`)."""
    room = load_room(slug=slug)
    if room is None:
        return None, "not_found"
    return room, can_join(room, user, invite, session=session)


def _shared_snapshot(room_id: int) -> dict:
    """The part of a snapshot that is the same for every fan: no `you`, no `my_vote`."""
    playback_heal(room_id)
    snapshot = room_snapshot(room=load_room(pk=room_id), user=None)
    del snapshot["you"]
    return snapshot


def _personal(room: Room, user, queue: list[dict]) -> dict:
    """This fan's part of a snapshot: `you`, and the queue with this fan's votes on it."""
    votes: dict[int, int] = {}
    if user.is_authenticated and queue:
        entry_ids = [entry["entry_id"] for entry in queue]
        votes = dict(
            Vote.objects.filter(user=user, entry_id__in=entry_ids).values_list("entry_id", "value")
        )
    return {
        "you": you_dict(room, user),
        # New dicts: the shared snapshot is cached and read by every other join.
        "queue": [{**entry, "my_vote": votes.get(entry["entry_id"], 0)} for entry in queue],
    }


_NOW_PLAYING_HEAD = '{"type":"now_playing"'


def _arm_from_event(room_id: int, frame: str) -> None:
    # broadcast.room_event puts the type first, so most events are told apart without parsing.
    if frame.startswith(_NOW_PLAYING_HEAD):
        playing = json.loads(frame).get("now_playing") or {}
        scheduler.arm(
            room_id, playing.get("entry_id"), playing.get("ends_at"), playing.get("started_at")
        )


def room_hub() -> RoomHub:
    """This process's room hub, with the advance timer armed from each `now_playing` it sees."""
    hub = get_hub()
    if _arm_from_event not in hub.taps:
        hub.taps.append(_arm_from_event)
    return hub


async def snapshot_build(room_id: int, user, *, room: Room | None = None) -> dict:
    """A snapshot for this fan (healing a lost track end first); arms the advance timer.

    The shared part comes from the room hub's cache, built once per room seq however many fans
    join at once, when this process has listeners in the room (they keep the cache current);
    the fan's own part is added on a copy."""
    build = database_sync_to_async(_shared_snapshot)
    hub = current_hub()
    if hub is not None and hub.local_count(room_id):
        shared = await hub.snapshot_cached(room_id, lambda: build(room_id))
    else:
        shared = await build(room_id)
    if room is None:
        room = await database_sync_to_async(load_room)(pk=room_id)
    personal = await database_sync_to_async(_personal)(room, user, shared["queue"])
    playing = shared["now_playing"] or {}
    scheduler.arm(
        room_id, playing.get("entry_id"), playing.get("ends_at"), playing.get("started_at")
    )
    return {**shared, **personal, "server_time": now_ms()}


def _reject_constant(name: str):
    raise FrameError("invalid", f"Numbers are finite: {name} is not JSON.")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 and the like overflow to infinity
        raise FrameError("invalid", "Numbers are finite: this one is too large.")
    return value


def frame_parse(text: str | None) -> dict:
    limit = settings.ROOMTONE["MAX_FRAME_BYTES"]
    if text is None:
        raise FrameError("bad_frame", "Frames are JSON text, not binary.")
    if len(text) > limit or len(text.encode()) > limit:
        raise FrameError("frame_too_large", f"Frames are at most {limit} bytes.")
    try:
        # NaN and Infinity are not JSON: a browser could not parse them back from a snapshot.
        frame = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):  # a frame of nothing but brackets nests too deep
        raise FrameError("bad_frame", "That frame is not valid JSON.")
    if not isinstance(frame, dict):
        raise FrameError("bad_frame", "A frame is a JSON object with a type.")
    frame_type = frame.get("type")
    if not isinstance(frame_type, str) or frame_type not in FRAMES:
        raise FrameError("unknown_type", f"Unknown frame type {str(frame_type)[:40]!r}.")
    required, optional, _signed_in, _action = FRAMES[frame_type]
    for name in required:
        if name not in frame:
            raise FrameError("invalid", f"{frame_type} needs {name!r}.", frame)
    allowed = {**required, **optional, **COMMON_OPTIONAL}
    for name, value in frame.items():
        check = allowed.get(name)
        if check is None:
            raise FrameError("invalid", f"{frame_type} has no field {name!r}.", frame)
        if not check(value):
            raise FrameError("invalid", f"{name!r} has the wrong type or value.", frame)
    return frame


async def frame_handle(conn: Conn, text: str | None) -> list[dict]:
    """The frames that answer one client frame (`text` None for a binary frame)."""
    frame_type = None
    ref = None
    try:
        frame = frame_parse(text)
        frame_type, ref = frame["type"], frame.get("ref")
        _required, _optional, signed_in, action = FRAMES[frame_type]
        if signed_in and not conn.user.is_authenticated:
            raise FrameError("auth_required", "Sign in to do that.")
        if action and not await rate_limit_allow(action=action, who=conn.who):
            raise FrameError("rate_limited", "Slow down: too many requests, try again soon.")
        handler = HANDLERS[frame_type]
        result = await handler(conn, frame)
    except FrameError as exc:
        return [error_frame(exc.code, exc.message, frame_type or exc.frame_type, ref or exc.ref)]
    except RoomError as exc:
        return [error_frame(exc.code, exc.message, frame_type, ref)]
    except Exception:
        log.exception("room %s: frame %s failed", conn.room.id, frame_type)
        return [
            error_frame(
                "server_error", "Something went wrong; nothing was changed.", frame_type, ref
            )
        ]
    if isinstance(result, list):
        return result
    if result is None:
        return []
    return [{"type": "ack", "request_type": frame_type, "ref": ref, **result}]


# --- one handler per frame type: a dict is an ack's fields, a list the frames to send ----------


def _call(conn: Conn, fn, **kwargs):
    return database_sync_to_async(fn)(room=conn.room, **kwargs)


async def _time_ping(conn, frame):
    return [{"type": "time.pong", "t0": frame["t0"], "server_time": now_ms()}]


async def _sync(conn, frame):
    return [await snapshot_build(conn.room.id, conn.user, room=conn.room)]


async def _audio_state(conn, frame):
    if conn.session_id is None:
        raise FrameError("invalid", "audio.state needs this client's open event stream.", frame)
    changed = await database_sync_to_async(presence.session_audio)(
        session_id=conn.session_id, playing=frame["playing"]
    )
    if changed:
        await database_sync_to_async(skip_state_refresh)(room_id=conn.room.id)
    return None


async def _queue_add(conn, frame):
    entry = await _call(conn, services.queue_add, user=conn.user, track_id=frame["track_id"])
    return {"entry_id": entry.id}


async def _vote(conn, frame):
    value = await _call(
        conn, services.vote_cast, user=conn.user, entry_id=frame["entry_id"], value=frame["value"]
    )
    return {"entry_id": frame["entry_id"], "value": value}


async def _skip_vote(conn, frame):
    return await _call(conn, services.skip_vote_cast, user=conn.user)


async def _favourite_add(conn, frame):
    favourite = await _call(conn, services.favourite_add, user=conn.user)
    return {"track_id": favourite.track_id}


async def _chat_send(conn, frame):
    message = await _call(conn, services.chat_send, user=conn.user, text=frame["text"])
    return {"message_id": message.id}


async def _dj_join(conn, frame):
    await _call(conn, services.dj_join, user=conn.user)
    return {}


async def _dj_leave(conn, frame):
    await _call(conn, services.dj_leave, user=conn.user)
    return {}


async def _mod_skip(conn, frame):
    return {"entry_id": await _call(conn, services.mod_skip, actor=conn.user)}


async def _mod_remove(conn, frame):
    await _call(conn, services.mod_remove_entry, actor=conn.user, entry_id=frame["entry_id"])
    return {}


async def _mod_mute(conn, frame):
    await _call(
        conn,
        services.mod_mute,
        actor=conn.user,
        username=frame["username"],
        minutes=frame.get("minutes", 10),
        reason=frame.get("reason", ""),
    )
    return {}


async def _mod_ban(conn, frame):
    await _call(
        conn,
        services.mod_ban,
        actor=conn.user,
        username=frame["username"],
        minutes=frame.get("minutes"),
        reason=frame.get("reason", ""),
    )
    return {}


async def _mod_unmute(conn, frame):
    await _call(conn, services.mod_lift, actor=conn.user, username=frame["username"], kind="mute")
    return {}


async def _mod_unban(conn, frame):
    await _call(conn, services.mod_lift, actor=conn.user, username=frame["username"], kind="ban")
    return {}


async def _mod_delete_message(conn, frame):
    await _call(conn, services.mod_delete_message, actor=conn.user, message_id=frame["message_id"])
    return {}


async def _mod_settings(conn, frame):
    await _call(conn, services.room_settings_update, actor=conn.user, changes=frame["changes"])
    return {}


async def _mod_role(conn, frame):
    await _call(
        conn, services.role_set, actor=conn.user, username=frame["username"], role=frame["role"]
    )
    return {}


async def _mod_pause(conn, frame):
    return {"position_ms": await _call(conn, services.mod_pause, actor=conn.user)}


async def _mod_resume(conn, frame):
    return {"started_at": await _call(conn, services.mod_resume, actor=conn.user)}


HANDLERS = {
    "time.ping": _time_ping,
    "sync": _sync,
    "playback.sync": _sync,
    "audio.state": _audio_state,
    "queue.add": _queue_add,
    "vote": _vote,
    "skip.vote": _skip_vote,
    "favourite.add": _favourite_add,
    "chat.send": _chat_send,
    "dj.join": _dj_join,
    "dj.leave": _dj_leave,
    "mod.skip": _mod_skip,
    "mod.remove": _mod_remove,
    "mod.mute": _mod_mute,
    "mod.ban": _mod_ban,
    "mod.unmute": _mod_unmute,
    "mod.unban": _mod_unban,
    "mod.delete_message": _mod_delete_message,
    "mod.settings": _mod_settings,
    "mod.role": _mod_role,
    "mod.pause": _mod_pause,
    "mod.resume": _mod_resume,
}


# --- instructions from the room's group ----------------------------------------------------------


def _you(room_id: int, user) -> dict:
    return you_dict(load_room(pk=room_id), user)


def _room_changed_frames(room_id: int, user) -> list[dict]:
    # A room change may be a premiere scheduled, moved or dropped: open pages learn it here.
    return [
        {"type": "you.updated", "you": _you(room_id, user)},
        {"type": "premiere", "premiere": premiere_dict(room_id)},
    ]


async def control_frames(conn: Conn, message: dict) -> tuple[list[dict], int | None]:
    """What a `room.control` message means for this client: frames to send, and a close code
    when the connection must end (the user was banned)."""
    mine = conn.user.is_authenticated and message.get("user_id") == conn.user.pk
    if message.get("action") == "ban" and mine:
        return [error_frame("banned", "You were banned from this room.")], CLOSE_BANNED
    if message.get("action") == "room":
        return await database_sync_to_async(_room_changed_frames)(conn.room.id, conn.user), None
    if mine:
        you = await database_sync_to_async(_you)(conn.room.id, conn.user)
        return [{"type": "you.updated", "you": you}], None
    return [], None
