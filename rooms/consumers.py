"""The room socket: admit, snapshot, then validate every frame and call one service for it.

docs/protocol.md is the contract this file implements.
"""

import json
import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from rooms import presence, scheduler, services
from rooms.broadcast import room_group
from rooms.errors import RoomError
from rooms.playback import playback_heal
from rooms.rate_limit import rate_limit_allow
from rooms.selectors import load_room, now_ms, room_snapshot, you_dict
from rooms.services.access import can_join
from rooms.services.social import skip_state_refresh

log = logging.getLogger(__name__)

CLOSE_INVITE_REQUIRED = 4401
CLOSE_BANNED = 4403
CLOSE_NOT_FOUND = 4404


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _str(v) -> bool:
    return isinstance(v, str)


def _bool(v) -> bool:
    return isinstance(v, bool)


def _vote(v) -> bool:
    return _int(v) and v in (1, -1, 0)


def _minutes(v) -> bool:
    return v is None or _int(v)


def _dict(v) -> bool:
    return isinstance(v, dict)


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
}
FRAMES["playback.sync"] = FRAMES["sync"]
COMMON_OPTIONAL = {"type": _str, "ref": lambda v: _str(v) or _int(v)}


class FrameError(Exception):
    def __init__(self, code: str, message: str, frame: dict | None = None):
        self.code, self.message = code, message
        # A frame of a known type but bad fields still names its type and ref in the error.
        self.frame_type = frame.get("type") if frame else None
        self.ref = frame.get("ref") if frame else None


class RoomConsumer(AsyncWebsocketConsumer):
    room = None
    session_id: int | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    async def connect(self):
        self.user = self.scope.get("user") or AnonymousUser()
        slug = self.scope["url_route"]["kwargs"]["slug"]
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        invite = (query.get("invite") or [None])[0]
        room, refusal = await database_sync_to_async(self._admit)(slug, invite)
        await self.accept()
        if refusal is not None:
            code, message, close_code = refusal
            await self._error(code, message, None)
            await self.close(code=close_code)
            return
        self.room = room
        await self.channel_layer.group_add(room_group(room.id), self.channel_name)
        self.session_id = await database_sync_to_async(presence.session_open)(
            room=room,
            user=self.user,
            session_key=getattr(self.scope.get("session"), "session_key", "") or "",
            channel_name=self.channel_name,
        )
        scheduler.watch(room.id, self.session_id)
        await self._send_snapshot()
        await presence.listeners_changed(room.id)

    def _admit(self, slug: str, invite: str | None):
        room = load_room(slug=slug)
        if room is None:
            return None, ("not_found", "There is no such room.", CLOSE_NOT_FOUND)
        refusal = can_join(room, self.user, invite)
        if refusal == "banned":
            return room, ("banned", "You are banned from this room.", CLOSE_BANNED)
        if refusal == "invite_required":
            return room, (
                "invite_required",
                "This room is private: open it with its invite link.",
                CLOSE_INVITE_REQUIRED,
            )
        return room, None

    async def disconnect(self, code):
        if self.room is None:
            return
        room_id = self.room.id
        await self.channel_layer.group_discard(room_group(room_id), self.channel_name)
        if self.session_id is not None:
            scheduler.unwatch(room_id, self.session_id)
            await database_sync_to_async(presence.session_close)(session_id=self.session_id)
            self.session_id = None
            await presence.listeners_changed(room_id)
        self.room = None

    def _snapshot(self) -> dict:
        playback_heal(self.room.id)
        return room_snapshot(room=load_room(pk=self.room.id), user=self.user)

    async def _send_snapshot(self):
        snapshot = await database_sync_to_async(self._snapshot)()
        await self.send(text_data=json.dumps(snapshot))
        playing = snapshot["now_playing"] or {}
        scheduler.arm(self.room.id, playing.get("entry_id"), playing.get("ends_at"))

    # --- frames from the client -----------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if self.room is None:
            return
        frame_type = None
        ref = None
        try:
            frame = self._parse(text_data, bytes_data)
            frame_type, ref = frame["type"], frame.get("ref")
            required, optional, signed_in, action = FRAMES[frame_type]
            if signed_in and not self.user.is_authenticated:
                raise FrameError("auth_required", "Sign in to do that.")
            who = str(self.user.pk) if self.user.is_authenticated else self.channel_name
            if action and not await rate_limit_allow(action=action, who=who):
                raise FrameError("rate_limited", "Slow down: too many requests, try again soon.")
            handler = getattr(self, "frame_" + frame_type.replace(".", "_"))
            result = await handler(frame)
        except FrameError as exc:
            await self._error(exc.code, exc.message, frame_type or exc.frame_type, ref or exc.ref)
            return
        except RoomError as exc:
            await self._error(exc.code, exc.message, frame_type, ref)
            return
        except Exception:
            log.exception("room %s: frame %s failed", self.room.id, frame_type)
            await self._error(
                "server_error", "Something went wrong; nothing was changed.", frame_type, ref
            )
            return
        if result is not None:
            await self._send({"type": "ack", "request_type": frame_type, "ref": ref, **result})

    def _parse(self, text_data, bytes_data) -> dict:
        limit = settings.ROOMTONE["MAX_FRAME_BYTES"]
        if text_data is None:
            raise FrameError("bad_frame", "Frames are JSON text, not binary.")
        if len(text_data) > limit or len(text_data.encode()) > limit:
            raise FrameError("frame_too_large", f"Frames are at most {limit} bytes.")
        try:
            frame = json.loads(text_data)
        except ValueError:
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

    async def _send(self, data: dict):
        await self.send(text_data=json.dumps(data))

    async def _error(self, code: str, message: str, frame_type, ref=None):
        await self._send(
            {
                "type": "error",
                "code": code,
                "message": message,
                "request_type": frame_type,
                "ref": ref,
            }
        )

    def _call(self, fn, **kwargs):
        return database_sync_to_async(fn)(room=self.room, **kwargs)

    async def frame_time_ping(self, frame):
        await self._send({"type": "time.pong", "t0": frame["t0"], "server_time": now_ms()})

    async def frame_sync(self, frame):
        await self._send_snapshot()

    frame_playback_sync = frame_sync

    async def frame_audio_state(self, frame):
        changed = await database_sync_to_async(presence.session_audio)(
            session_id=self.session_id, playing=frame["playing"]
        )
        if changed:
            await database_sync_to_async(skip_state_refresh)(room_id=self.room.id)

    async def frame_queue_add(self, frame):
        entry = await self._call(services.queue_add, user=self.user, track_id=frame["track_id"])
        return {"entry_id": entry.id}

    async def frame_vote(self, frame):
        value = await self._call(
            services.vote_cast, user=self.user, entry_id=frame["entry_id"], value=frame["value"]
        )
        return {"entry_id": frame["entry_id"], "value": value}

    async def frame_skip_vote(self, frame):
        return await self._call(services.skip_vote_cast, user=self.user)

    async def frame_favourite_add(self, frame):
        favourite = await self._call(services.favourite_add, user=self.user)
        return {"track_id": favourite.track_id}

    async def frame_chat_send(self, frame):
        message = await self._call(services.chat_send, user=self.user, text=frame["text"])
        return {"message_id": message.id}

    async def frame_dj_join(self, frame):
        await self._call(services.dj_join, user=self.user)
        return {}

    async def frame_dj_leave(self, frame):
        await self._call(services.dj_leave, user=self.user)
        return {}

    async def frame_mod_skip(self, frame):
        return {"entry_id": await self._call(services.mod_skip, actor=self.user)}

    async def frame_mod_remove(self, frame):
        await self._call(services.mod_remove_entry, actor=self.user, entry_id=frame["entry_id"])
        return {}

    async def frame_mod_mute(self, frame):
        await self._call(
            services.mod_mute,
            actor=self.user,
            username=frame["username"],
            minutes=frame.get("minutes", 10),
            reason=frame.get("reason", ""),
        )
        return {}

    async def frame_mod_ban(self, frame):
        await self._call(
            services.mod_ban,
            actor=self.user,
            username=frame["username"],
            minutes=frame.get("minutes"),
            reason=frame.get("reason", ""),
        )
        return {}

    async def frame_mod_unmute(self, frame):
        await self._call(
            services.mod_lift, actor=self.user, username=frame["username"], kind="mute"
        )
        return {}

    async def frame_mod_unban(self, frame):
        await self._call(services.mod_lift, actor=self.user, username=frame["username"], kind="ban")
        return {}

    async def frame_mod_delete_message(self, frame):
        await self._call(
            services.mod_delete_message, actor=self.user, message_id=frame["message_id"]
        )
        return {}

    async def frame_mod_settings(self, frame):
        await self._call(services.room_settings_update, actor=self.user, changes=frame["changes"])
        return {}

    async def frame_mod_role(self, frame):
        await self._call(
            services.role_set, actor=self.user, username=frame["username"], role=frame["role"]
        )
        return {}

    # --- messages from the room's group ---------------------------------------------------------

    async def room_event(self, message):
        await self.send(text_data=message["text"])
        if message["event"] == "now_playing" and self.room is not None:
            scheduler.arm(self.room.id, message.get("entry_id"), message.get("ends_at"))

    async def room_control(self, message):
        if self.room is None:
            return
        mine = self.user.is_authenticated and message.get("user_id") == self.user.pk
        if message["action"] == "ban" and mine:
            await self._error("banned", "You were banned from this room.", None)
            await self.close(code=CLOSE_BANNED)
            return
        if mine or message["action"] == "room":
            you = await database_sync_to_async(self._you)()
            await self._send({"type": "you.updated", "you": you})

    def _you(self) -> dict:
        return you_dict(load_room(pk=self.room.id), self.user)
