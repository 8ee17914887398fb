from rooms.views.accounts import LoginView, favourites, signup
from rooms.views.directory import directory, nearby
from rooms.views.room import room_create, room_embed, room_page, room_preview

__all__ = [
    "LoginView",
    "directory",
    "favourites",
    "nearby",
    "room_create",
    "room_embed",
    "room_page",
    "room_preview",
    "signup",
]
