from django.urls import path

from rooms import sse, views

app_name = "rooms"
urlpatterns = [
    path("", views.directory, name="directory"),
    path("rooms/new/", views.room_create, name="create"),
    path("rooms/nearby/", views.nearby, name="nearby"),
    path("rooms/<slug:slug>/", views.room_page, name="room"),
    path("rooms/<slug:slug>/embed/", views.room_embed, name="embed"),
    path("rooms/<slug:slug>/preview/", views.room_preview, name="preview"),
    path("me/favourites/", views.favourites, name="favourites"),
    path("rooms/<slug:slug>/events/", sse.room_events, name="events"),
    path("rooms/<slug:slug>/actions/", sse.room_actions, name="actions"),
    path("diagnostics/", sse.diagnostics, name="diagnostics"),
]
