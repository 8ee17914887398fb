"""An address holds a bounded number of anonymous listeners open: a script cannot pose as a crowd
in a room's listener count, the directory's sorts or the labels' unique listeners."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from rooms import connections
from rooms.models import ListeningSession
from tests.rooms.conftest import Client, session_cookie
from tests.rooms.test_fallback_kit import EventStream

pytestmark = pytest.mark.django_db(transaction=True)
VISITOR = "203.0.113.9"


@pytest.fixture(autouse=True)
def _limit_of_two(settings):
    settings.ROOMTONE = {**settings.ROOMTONE, "ANON_CONNECTIONS_PER_ADDRESS": 2}
    connections._open.clear()
    yield
    connections._open.clear()


async def socket(slug: str, address: str, cookie: bytes | None = None) -> Client:
    from config.asgi import application

    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if cookie:
        headers.append((b"cookie", cookie))
    comm = WebsocketCommunicator(application, f"/ws/rooms/{slug}/", headers=headers)
    comm.scope["client"] = (address, 50000)
    await comm.connect(timeout=5)
    return Client(comm)


def test_sockets_past_the_limit_are_refused_until_one_closes(room, make_user):
    fan_cookie = session_cookie(make_user("fan"))

    async def body():
        first, second = await socket(room.slug, VISITOR), await socket(room.slug, VISITOR)
        for client in (first, second):
            await client.expect("snapshot")
        third = await socket(room.slug, VISITOR)
        refused = await third.expect("error")
        closed = await third.comm.receive_output(timeout=5)
        # A signed-in fan, another address and this machine are not held back.
        fan = await socket(room.slug, VISITOR, fan_cookie)
        other = await socket(room.slug, "198.51.100.4")
        local = [await socket(room.slug, "127.0.0.1") for _ in range(3)]
        for client in (fan, other, *local):
            await client.expect("snapshot")
        await first.close()
        fourth = await socket(room.slug, VISITOR)
        await fourth.expect("snapshot")
        for client in (second, fourth, fan, other, *local):
            await client.close()
        return refused, closed

    refused, closed = async_to_sync(body)()
    assert refused["code"] == "too_many_connections"
    assert closed == {"type": "websocket.close", "code": 4429}
    assert connections._open == {}
    assert ListeningSession.objects.filter(room=room, ended_at__isnull=True).count() == 0


def test_event_streams_count_with_sockets(room):
    async def body():
        held = await socket(room.slug, VISITOR)
        await held.expect("snapshot")
        stream = EventStream(f"/rooms/{room.slug}/events/", client=(VISITOR, 50001))
        assert await stream.start() == 200
        await stream.frame("snapshot")
        refused = EventStream(f"/rooms/{room.slug}/events/", client=(VISITOR, 50002))
        status = await refused.start()
        await refused.block(timeout=3)
        await refused.close()
        await stream.close()
        await held.close()
        return status, refused.body

    status, body_bytes = async_to_sync(body)()
    assert status == 429
    assert b'"too_many_connections"' in body_bytes
    assert connections._open == {}


def test_a_stream_started_past_the_limit_sends_the_refusal_and_ends():
    """Streams checked together in a burst are counted as they start: the ones past the limit
    end at once, with nothing opened."""
    from rooms.sse import _counted

    opened = []

    async def events():
        opened.append(True)
        yield "data: {}\\n\\n"

    async def body():
        for _ in range(2):
            assert connections.anon_connection_open(VISITOR)
        return [chunk async for chunk in _counted(events(), VISITOR)]

    chunks = async_to_sync(body)()
    assert len(chunks) == 1 and '"too_many_connections"' in chunks[0]
    assert opened == []
    assert connections._open == {VISITOR: 2}


def test_a_socket_that_fails_while_joining_gives_its_count_back(room, monkeypatch):
    from rooms import presence

    async def broken(**kwargs):
        raise ConnectionError("the database went away")

    monkeypatch.setattr(presence, "session_open_batched", broken)

    async def body():
        client = await socket(room.slug, VISITOR)
        try:
            await client.comm.receive_output(timeout=5)
        except Exception:  # noqa: BLE001 - whatever the application raised is the point
            pass

    async_to_sync(body)()
    assert connections._open == {}


def test_ipv6_addresses_count_by_their_64():
    a, b = "2001:db8:1:2::10", "2001:db8:1:2:ffff::1"
    assert connections.anon_connection_open(a) and connections.anon_connection_open(b)
    assert not connections.anon_connection_allowed("2001:db8:1:2::99")
    assert connections.anon_connection_allowed("2001:db8:1:3::1")
    connections.anon_connection_close(a)
    assert connections.anon_connection_allowed("2001:db8:1:2::99")
