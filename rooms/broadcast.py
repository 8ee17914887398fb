"""Room events: numbered in the room's transaction, published to the room hub after commit.

Every event bumps `Playback.seq` in the caller's transaction, so the numbers follow commit order
(the playback row lock serialises a room's writers) and a rolled-back change neither sends nor
consumes a number. The frame is serialised once here. With `ROOM_EVENTS_VIA_HUB` on, room-wide
events go through the room hub (rooms/hub.py): one Redis publish, and each process writes the same
frame to all its sockets of the room; off, through the channel layer's room group, each consumer
writing the same text. Unnumbered instructions for each consumer (`room_control`: bans, a fan's
own role, room settings) take the same path as the events, after those published before them:
through the hub they reach each local socket's consumer (never the client), which answers with
frames of its own; off, through the room group.
"""

import json
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction

from rooms.hub import hub_control, hub_publish, hub_rooms_enabled
from rooms.models import Playback

log = logging.getLogger(__name__)


def room_group(room_id: int) -> str:
    return f"room.{room_id}"


def _bump_seq(room_id: int) -> int | None:
    # One round trip: PostgreSQL and SQLite (3.35+) both return the bumped value.
    table = Playback._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET seq = seq + 1 WHERE room_id = %s RETURNING seq",  # noqa: S608
            [room_id],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def next_seq(room_id: int) -> int:
    """Take the room's next sequence number inside the current transaction."""
    seq = _bump_seq(room_id)
    if seq is None:
        Playback.objects.get_or_create(room_id=room_id)
        seq = _bump_seq(room_id)
    return seq


def group_send(room_id: int, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(room_group(room_id), message)
    except Exception:
        # The database already holds the change; a client that misses it resyncs on the next seq.
        log.exception("room %s: broadcast failed", room_id)


def _publish(room_id: int, event: dict) -> None:
    try:
        hub_publish(room_id=room_id, event=event)
    except Exception:
        # The database already holds the change; a client that misses it resyncs on the next seq.
        log.exception("room %s: broadcast failed", room_id)


def room_event(*, room_id: int, event: dict) -> dict:
    """Number `event` for the room now and broadcast it once the transaction commits."""
    event = {**event, "seq": next_seq(room_id)}
    if hub_rooms_enabled():
        # A copy goes out, so a caller's later change to the returned dict cannot reach the wire.
        published = dict(event)
        transaction.on_commit(lambda: _publish(room_id, published))
        return event
    message = {
        "type": "room.event",
        "text": json.dumps(event, separators=(",", ":")),
        "event": event["type"],
    }
    if event["type"] == "now_playing":
        # Consumers schedule their process's advance timer from these without parsing the text.
        playing = event.get("now_playing") or {}
        message["entry_id"] = playing.get("entry_id")
        message["ends_at"] = playing.get("ends_at")
    transaction.on_commit(lambda: group_send(room_id, message))
    return event


def room_control(*, room_id: int, message: dict) -> None:
    """An unnumbered instruction for the room's consumers (never forwarded to clients as is)."""
    control = {"type": "room.control", **message}
    if hub_rooms_enabled():
        transaction.on_commit(lambda: _publish_control(room_id, control))
        return
    transaction.on_commit(lambda: group_send(room_id, control))


def _publish_control(room_id: int, control: dict) -> None:
    try:
        hub_control(room_id=room_id, message=control)
    except Exception:
        # A fan whose role changed sees it on the next snapshot; a ban is enforced on the next
        # action and the next join whatever this socket was told.
        log.exception("room %s: control broadcast failed", room_id)


# --- the room's standard events, each read fresh inside the writer's transaction --------------


def emit_queue(room) -> dict:
    from rooms.selectors import queue_list

    return room_event(room_id=room.id, event={"type": "queue.updated", "queue": queue_list(room)})


def emit_now_playing(room_id: int) -> dict:
    from rooms.selectors import now_playing_dict

    return room_event(
        room_id=room_id, event={"type": "now_playing", "now_playing": now_playing_dict(room_id)}
    )


def emit_djs(room_id: int) -> dict:
    from rooms.selectors import djs_list

    return room_event(room_id=room_id, event={"type": "djs.updated", "djs": djs_list(room_id)})


def emit_listeners(room_id: int) -> dict:
    from rooms.selectors import listeners_dict

    return room_event(
        room_id=room_id, event={"type": "listeners", "listeners": listeners_dict(room_id)}
    )
