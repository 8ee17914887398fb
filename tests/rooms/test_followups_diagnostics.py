"""The connection check's own socket and stream: they answer pings and touch no room."""

import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings

from rooms.consumers import DiagnosticsConsumer
from rooms.models import ListeningSession
from rooms.selectors import now_ms
from tests.rooms.test_fallback_kit import EventStream

pytestmark = pytest.mark.django_db(transaction=True)


async def _socket(origin: bytes = b"http://testserver"):
    from config.asgi import application

    headers = [(b"origin", origin), (b"host", b"testserver")]
    comm = WebsocketCommunicator(application, "/ws/diagnostics/", headers=headers)
    connected, _ = await comm.connect(timeout=5)
    return comm, connected


async def _recv(comm) -> dict:
    return json.loads(await comm.receive_from(timeout=3))


def test_the_diagnostics_socket_echoes_pings_without_a_room(room):
    async def body():
        comm, connected = await _socket()
        assert connected
        hello = await _recv(comm)
        assert hello["type"] == "diagnostics.hello"
        assert abs(hello["server_time"] - now_ms()) < 5_000
        await comm.send_to(text_data=json.dumps({"type": "time.ping", "t0": 123.5}))
        pong = await _recv(comm)
        assert pong["type"] == "time.pong" and pong["t0"] == 123.5
        assert abs(pong["server_time"] - now_ms()) < 5_000
        await comm.send_to(text_data=json.dumps({"type": "chat.send", "text": "hi", "ref": 3}))
        error = await _recv(comm)
        assert error["type"] == "error" and error["code"] == "unknown_type"
        assert error["request_type"] == "chat.send" and error["ref"] == 3
        await comm.send_to(text_data="{not json")
        assert (await _recv(comm))["code"] == "bad_frame"
        await comm.send_to(text_data="x" * (settings.ROOMTONE["MAX_FRAME_BYTES"] + 1))
        assert (await _recv(comm))["code"] == "frame_too_large"
        await comm.send_to(bytes_data=b"\x00")
        assert (await _recv(comm))["code"] == "bad_frame"
        await comm.disconnect()

    async_to_sync(body)()
    assert not ListeningSession.objects.exists()


def test_the_diagnostics_socket_refuses_foreign_origins_and_floods():
    async def body():
        _comm, connected = await _socket(origin=b"http://evil.example")
        assert not connected
        comm, connected = await _socket()
        await _recv(comm)
        for _ in range(DiagnosticsConsumer.MAX_FRAMES):
            await comm.send_to(text_data=json.dumps({"type": "time.ping", "t0": 1}))
            assert (await _recv(comm))["type"] == "time.pong"
        await comm.send_to(text_data=json.dumps({"type": "time.ping", "t0": 1}))
        closed = await comm.receive_output(timeout=3)
        assert closed["type"] == "websocket.close" and closed["code"] == 4429

    async_to_sync(body)()


def test_the_diagnostics_stream_sends_one_hello_and_opens_no_session(room):
    async def body():
        stream = EventStream("/diagnostics/?check=sse")
        assert await stream.start() == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-cache"
        hello = await stream.frame("diagnostics.hello")
        assert abs(hello["server_time"] - now_ms()) < 5_000
        assert len(stream.body) > 2048  # padded past buffering proxies
        await stream.close()

    async_to_sync(body)()
    assert not ListeningSession.objects.exists()


def test_the_diagnostics_page_checks_with_its_own_endpoints(client, room):
    page = client.get(f"/diagnostics/?room={room.slug}").content.decode()
    assert "/ws/diagnostics/" in page
    assert 'data-sse-check="/diagnostics/?check=sse"' in page
    assert "events/" not in page
