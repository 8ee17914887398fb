"""Text a person types must show something; control characters never reach the database."""

import pytest

from rooms.errors import RoomError
from rooms.forms import RoomCreateForm
from rooms.models import ChatMessage
from rooms.services import room_settings_update
from rooms.services.social import chat_send
from rooms.text import text_clean, text_visible

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "visible"),
    [
        ("hi", True),
        ("   ", False),
        ("\u200b\u200b", False),  # zero-width spaces
        ("\u200d\u2060\u202e", False),  # joiner, word joiner, right-to-left override
        ("\x07\x1b", False),
        ("\u200bok", True),
        ("😀", True),
    ],
)
def test_visible(text, visible):
    assert text_visible(text) is visible


def test_clean_keeps_lines_and_drops_controls():
    assert text_clean("a\x07b\nc\td\x7f\x85") == "ab\nc\td"


def test_chat_of_invisible_characters_is_refused(room, owner):
    with pytest.raises(RoomError) as err:
        chat_send(room=room, user=owner, text="\u200b\u200b\u2060")
    assert err.value.code == "invalid"
    message = chat_send(room=room, user=owner, text="bell\x07 and\nline")
    assert ChatMessage.objects.get(pk=message.pk).text == "bell and\nline"


def test_room_names_must_show_something(room, owner):
    form = RoomCreateForm(data={"name": "\u200b\u200b", "mode": "jukebox", "visibility": "public"})
    assert not form.is_valid()
    assert "Give the room a name." in form.errors["name"]
    with pytest.raises(RoomError):
        room_settings_update(room=room, actor=owner, changes={"name": "\u200b\x07"})
    fresh = room_settings_update(room=room, actor=owner, changes={"name": "New\x07  name"})
    assert fresh.name == "New name"
