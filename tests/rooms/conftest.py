"""Rooms test kit: a room with playable tracks, signed-in sockets, frame helpers."""

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from catalog.models import Artist, Track
from rooms.services import room_create


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """Rooms tests make many fans; the production hasher would spend seconds on each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_track(db):
    counter = {"n": 0}

    def make(title: str | None = None, duration_ms: int = 180_000, playable: bool = True, **kw):
        counter["n"] += 1
        title = title or f"Track {counter['n']}"
        track = Track.objects.create(
            title=title,
            duration_ms=duration_ms if playable else 0,
            audio=f"audio/test/{counter['n']}.wav" if playable else "",
            **kw,
        )
        return track

    return make


@pytest.fixture
def make_artist(db):
    def make(name: str, **kw):
        return Artist.objects.create(name=name, slug=name.lower().replace(" ", "-"), **kw)

    return make


@pytest.fixture
def owner(make_user):
    return make_user("olive")


@pytest.fixture
def room(owner):
    return room_create(owner=owner, name="Night Shift", description="late", genres=[])


@pytest.fixture
def tracks(make_track):
    return [make_track(f"Song {i}") for i in range(1, 7)]


def session_cookie(user) -> bytes:
    """A real login session for `user`, as the Cookie header a browser would send."""
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}".encode()


class Client:
    """One socket in a room, with helpers that read past frames a test does not care about."""

    def __init__(self, comm: WebsocketCommunicator):
        self.comm = comm
        self.snapshot: dict | None = None
        self.seen: list[dict] = []

    async def send(self, frame: dict | str):
        text = frame if isinstance(frame, str) else json.dumps(frame)
        await self.comm.send_to(text_data=text)

    async def recv(self, timeout: float = 3) -> dict:
        frame = json.loads(await self.comm.receive_from(timeout=timeout))
        self.seen.append(frame)
        return frame

    async def expect(self, frame_type: str, timeout: float = 3, where=None, **match) -> dict:
        """The next frame of `frame_type` (matching `match` and `where`), skipping others."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"no {frame_type} {match} frame; saw {self.seen[-8:]}")
            try:
                frame = await self.recv(timeout=left)
            except TimeoutError:
                raise AssertionError(f"no {frame_type} {match} frame; saw {self.seen[-8:]}")
            if frame["type"] == frame_type and all(frame.get(k) == v for k, v in match.items()):
                if where is None or where(frame):
                    return frame

    async def request(self, frame: dict, timeout: float = 3) -> dict:
        """Send an action and return its `ack` or `error` answer."""
        await self.send(frame)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame_in = await self.recv(timeout=max(deadline - loop.time(), 0.01))
            if frame_in["type"] in ("ack", "error"):
                return frame_in

    async def silent(self, frame_type: str, wait: float = 0.3) -> bool:
        """True if no frame of `frame_type` arrives within `wait` seconds."""
        try:
            await self.expect(frame_type, timeout=wait)
        except AssertionError:
            return True
        return False

    async def close(self):
        await self.comm.disconnect()


async def join(
    slug: str,
    cookie: bytes | None = None,
    *,
    invite: str | None = None,
    origin: bytes = b"http://testserver",
    expect_snapshot: bool = True,
) -> Client:
    from config.asgi import application

    path = f"/ws/rooms/{slug}/" + (f"?invite={invite}" if invite else "")
    headers = [(b"origin", origin), (b"host", b"testserver")]
    if cookie:
        headers.append((b"cookie", cookie))
    comm = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await comm.connect(timeout=5)
    client = Client(comm)
    client.connected = connected
    if connected and expect_snapshot:
        client.snapshot = await client.expect("snapshot")
    return client


def snapshot_on_join(slug: str, cookie: bytes | None = None) -> dict:
    """The snapshot a client gets on joining (and the heal that joining does), from sync code."""

    async def body():
        client = await join(slug, cookie)
        await client.close()
        return client.snapshot

    return async_to_sync(body)()


def playing_id(room) -> int | None:
    from rooms.models import Playback

    return Playback.objects.get(room=room).current_entry_id
