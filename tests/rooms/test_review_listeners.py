"""Listener counts count people: signed-in users once, anonymous browsers once, not sockets."""

import pytest

from rooms import presence
from rooms.models import Play, Room
from rooms.selectors import listener_count, listeners_dict
from rooms.services import queue_add

pytestmark = pytest.mark.django_db


def stored(room) -> int:
    return Room.objects.get(pk=room.pk).listener_count


def test_tabs_of_one_fan_are_one_listener(room, owner, make_user):
    bea = make_user("bea")
    tabs = [presence.session_open(room=room, user=owner, session_key="o") for _ in range(3)]
    assert stored(room) == 1
    presence.session_open(room=room, user=bea, session_key="b")
    assert stored(room) == 2
    assert listeners_dict(room.id) == {"count": 2, "users": ["bea", "olive"]}
    presence.session_close(session_id=tabs[0])
    assert stored(room) == 2
    for session_id in tabs[1:]:
        presence.session_close(session_id=session_id)
    assert stored(room) == 1 == listener_count(room.id)


def test_anonymous_browsers_count_by_session_key(room):
    for _ in range(2):
        presence.session_open(room=room, user=None, session_key="browser-a")
    presence.session_open(room=room, user=None, session_key="browser-b")
    assert stored(room) == 2
    # Without a key, sessions cannot be told apart: each counts.
    presence.session_open(room=room, user=None, session_key="")
    presence.session_open(room=room, user=None, session_key="")
    assert stored(room) == 4 == listeners_dict(room.id)["count"]


def test_play_records_people_not_sockets(room, owner, make_user, tracks):
    bea = make_user("bea")
    for _ in range(3):
        presence.session_open(room=room, user=owner, session_key="o")
    presence.session_open(room=room, user=bea, session_key="b")
    presence.session_open(room=room, user=None, session_key="anon")
    presence.session_open(room=room, user=None, session_key="anon")
    queue_add(room=room, user=owner, track_id=tracks[0].id)
    assert Play.objects.get(room=room).listeners == 3
