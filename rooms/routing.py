from django.urls import path

from rooms.consumers import DiagnosticsConsumer, RoomConsumer

websocket_urlpatterns = [
    path("ws/rooms/<slug:slug>/", RoomConsumer.as_asgi()),
    path("ws/diagnostics/", DiagnosticsConsumer.as_asgi()),
]
