"""The WebSocket side of the ASGI application: origin check, cookies, session and user in one layer.

Channels' stack for the same (`AllowedHostsOriginValidator(AuthMiddlewareStack(...))`: origin,
cookie, session and auth middleware) keeps a copy of the scope and a suspended coroutine per
layer for as long as a socket is open: about 5 KB a socket, which in a room of thousands of
idle listeners is a sixth of what each costs (docs/benchmarks.md, "Fan-out"). This layer does
the same work once. As with Channels, a WebSocket's session is read, never saved (sessions are
saved on HTTP responses only), and the user is resolved before the consumer runs.
"""

from importlib import import_module
from urllib.parse import urlparse

from channels.auth import UserLazyObject, get_user
from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.http.cookie import parse_cookie


def allowed_origins() -> list[str]:
    """`ALLOWED_HOSTS`, as Channels' AllowedHostsOriginValidator reads it."""
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = ["localhost", "127.0.0.1", "[::1]"]
    return hosts


class SocketScope:
    """Refuses a foreign `Origin`, then adds `cookies`, `session` and `user` to the scope."""

    def __init__(self, inner):
        self.inner = inner
        self.origins = OriginValidator(None, allowed_origins())
        self.sessions = import_module(settings.SESSION_ENGINE).SessionStore

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            raise ValueError("SocketScope serves WebSocket connections only")
        origin = cookie = None
        for name, value in scope.get("headers", []):
            if name == b"origin":
                origin = value
            elif name == b"cookie":
                cookie = value
        if not self.origins.valid_origin(_parse(origin)):
            return await WebsocketDenier()(scope, receive, send)
        cookies = parse_cookie(cookie.decode("latin1")) if cookie is not None else {}
        scope = dict(
            scope,
            cookies=cookies,
            session=self.sessions(cookies.get(settings.SESSION_COOKIE_NAME)),
            user=UserLazyObject(),
        )
        scope["user"]._wrapped = await get_user(scope)
        return await self.inner(scope, receive, send)


def _parse(origin: bytes | None):
    if origin is None:
        return None
    try:
        return urlparse(origin.decode("latin1"))
    except (UnicodeDecodeError, ValueError):
        return None
