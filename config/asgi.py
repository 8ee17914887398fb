"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.websocket import SocketScope  # noqa: E402
from rooms.hub import autobahn_lazy_debug_args  # noqa: E402
from rooms.routing import websocket_urlpatterns  # noqa: E402

try:
    # daphne formats autobahn's debug arguments for every connection (rooms/hub_daphne.py).
    autobahn_lazy_debug_args()
except ImportError:  # autobahn comes with daphne; other servers do without
    pass

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Origin check, session and user in one layer (config/websocket.py).
        "websocket": SocketScope(URLRouter(websocket_urlpatterns)),
    }
)
