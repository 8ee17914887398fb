"""config/websocket.py: the one layer in front of every WebSocket consumer."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from config.websocket import SocketScope

pytestmark = pytest.mark.django_db(transaction=True)


class Recorder:
    """An inner application that accepts and keeps the scope it was given."""

    def __init__(self):
        self.scope = None

    async def __call__(self, scope, receive, send):
        self.scope = scope
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass


def connect(app, headers):
    async def body():
        comm = WebsocketCommunicator(app, "/ws/x/", headers=headers)
        connected, code = await comm.connect(timeout=5)
        if connected:
            await comm.disconnect()
        return connected, code

    return async_to_sync(body)()


@pytest.mark.parametrize(
    "origin",
    [None, b"https://evil.example", b"http://testserver.evil.example", b"\xff\xfe"],
)
def test_a_missing_or_foreign_origin_is_refused_before_the_consumer_runs(origin):
    inner = Recorder()
    headers = [(b"host", b"testserver")] + ([(b"origin", origin)] if origin else [])
    connected, _ = connect(SocketScope(inner), headers)
    assert connected is False and inner.scope is None


def test_the_session_cookie_gives_the_user_and_a_stranger_stays_anonymous():
    user = get_user_model().objects.create_user("ann", password="pw-123456789")
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    inner = Recorder()
    app = SocketScope(inner)
    base = [(b"host", b"testserver"), (b"origin", b"http://testserver")]

    assert connect(app, [*base, (b"cookie", cookie)])[0] is True
    assert inner.scope["user"].pk == user.pk
    assert inner.scope["session"].session_key == client.cookies["sessionid"].value

    assert connect(app, [*base, (b"cookie", b"sessionid=forged")])[0] is True
    assert inner.scope["user"].is_anonymous
    assert connect(app, base)[0] is True
    assert inner.scope["user"].is_anonymous and inner.scope["cookies"] == {}
