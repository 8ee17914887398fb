from rooms.views.accounts import favourites, signup
from rooms.views.directory import directory, nearby
from rooms.views.room import room_create, room_embed, room_page, room_preview

__all__ = [
    "directory",
    "favourites",
    "nearby",
    "room_create",
    "room_embed",
    "room_page",
    "room_preview",
    "signup",
]
