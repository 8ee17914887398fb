"""Two real daphne processes serve one room through Redis: both sides see the same room."""

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import requires_postgres, requires_redis
from tests.rooms.conftest import session_cookie

pytestmark = [requires_postgres, requires_redis, pytest.mark.django_db(transaction=True)]
BASE_DIR = Path(settings.BASE_DIR)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"daphne on {port} exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"daphne on {port} did not start")


@pytest.fixture
def two_servers():
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        # The servers read and write the test database the test's data is committed to.
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CHANNEL_PREFIX": os.environ.get("CHANNEL_PREFIX", "roomtone"),
        "CACHE_PREFIX": os.environ.get("CACHE_PREFIX", "roomtone"),
        "LOG_LEVEL": "WARNING",
    }
    procs, ports = [], []
    try:
        for _ in range(2):
            port = free_port()
            cmd = [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "config.asgi:application",
            ]
            procs.append(subprocess.Popen(cmd, cwd=BASE_DIR, env=env, stderr=subprocess.PIPE))
            ports.append(port)
        for port, proc in zip(ports, procs, strict=True):
            wait_listening(port, proc)
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _expect(ws, frame_type, where=lambda f: True, timeout=10):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=max(left, 0.01)))
        if frame["type"] == frame_type and where(frame):
            return frame


def test_a_client_on_each_process_sees_the_same_room(two_servers, room, owner, make_user, tracks):
    from websockets.asyncio.client import connect

    bea = make_user("bea")
    cookies = [session_cookie(owner).decode(), session_cookie(bea).decode()]

    async def body():
        socks = []
        for port, cookie in zip(two_servers, cookies, strict=True):
            ws = await connect(
                f"ws://127.0.0.1:{port}/ws/rooms/{room.slug}/",
                additional_headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"},
                open_timeout=10,
            )
            socks.append(ws)
            await _expect(ws, "snapshot")
        a, b = socks
        await a.send(json.dumps({"type": "queue.add", "track_id": tracks[0].id}))
        seen = [await _expect(ws, "now_playing", lambda f: f["now_playing"]) for ws in socks]
        await b.send(json.dumps({"type": "chat.send", "text": "from the other process"}))
        chats = [await _expect(ws, "chat.message") for ws in socks]
        for ws in socks:
            await ws.close()
        return seen, chats

    seen, chats = asyncio.run(body())
    assert seen[0]["now_playing"] == seen[1]["now_playing"]
    assert seen[0]["seq"] == seen[1]["seq"]
    assert seen[0]["now_playing"]["track"]["id"] == tracks[0].id
    assert chats[0] == chats[1]
    assert chats[0]["message"]["text"] == "from the other process"
