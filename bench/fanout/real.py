"""The Roomtone side of the fan-out bench (`--app real`): the product's own room, not a bench app.

The `real*` targets serve `config.asgi:application` (the real `/ws/rooms/<slug>/` consumer:
origin check, session-less anonymous admission, a listening session per socket, the real
snapshot, the room hub) and the publisher sends each event through `rooms.broadcast.room_event`
(a numbered event in a transaction, published to the hub after commit), as a chat message does.

    python bench/fanout/real.py prepare     # create the database if needed, migrate, make the room

needs DATABASE_URL (PostgreSQL: two server processes share it) and REDIS_URL.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.fanout.common import REAL_SLUG  # noqa: E402

CHAT_SEED = 30  # the snapshot carries the room's recent chat, as a busy room's would


def setup_django() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()


def _create_database() -> None:
    """Create the PostgreSQL database DATABASE_URL names, if it is missing."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return
    kwargs = {"dbname": db["NAME"]}
    for key in ("USER", "PASSWORD", "HOST", "PORT"):
        if db.get(key):
            kwargs[{"USER": "user"}.get(key, key.lower())] = db[key]
    try:
        psycopg.connect(**kwargs).close()
        return
    except psycopg.OperationalError:
        pass
    with psycopg.connect(**{**kwargs, "dbname": "postgres"}, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


def prepare() -> dict:
    """Migrate, then make (or reset) the bench room: public, a chat history, nobody in it."""
    setup_django()
    _create_database()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from rooms.models import ChatMessage, ListeningSession, Room
    from rooms.services import room_create

    call_command("migrate", verbosity=0, interactive=False)
    owner, _ = get_user_model().objects.get_or_create(username="fanout-bench")
    room = Room.objects.filter(slug=REAL_SLUG).first()
    if room is None:
        room = room_create(owner=owner, name=REAL_SLUG, description="fan-out bench room")
        ChatMessage.objects.bulk_create(
            ChatMessage(room=room, user=owner, text=f"message {i} " + "la " * 20)
            for i in range(CHAT_SEED)
        )
    with transaction.atomic():
        # Sessions of an earlier run that was killed: close them so counts start at zero.
        ListeningSession.objects.filter(room=room, ended_at__isnull=True).update(
            ended_at=timezone.now()
        )
        Room.objects.filter(pk=room.pk).update(listener_count=0)
    return {"room_id": room.id, "slug": room.slug}


def make_publisher(room_id: int):
    """A sync callable publishing one bench event through the product's room-event path."""
    from django.db import transaction

    from rooms.broadcast import room_event

    def publish(event: dict) -> None:
        # The frame a chat message makes (~200 bytes), with the publisher's clock in `ts`; the
        # room's own `seq` is added last by room_event.
        body = {
            "type": "chat.message",
            "ts": event["ts"],
            "message": {
                "id": event["seq"],
                "user": "fanout-bench",
                "text": event["pad"][:90],
                "created_at": int(time.time() * 1000),
            },
        }
        with transaction.atomic():
            room_event(room_id=room_id, event=body)

    return publish


if __name__ == "__main__":
    if sys.argv[1:] == ["prepare"]:
        import json

        print(json.dumps(prepare()))
    else:
        sys.exit(__doc__)
