"""Real daphne processes on the room hub: one without Redis (in-process path), two sharing
rooms through Redis."""

import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from rooms.hub import hub_publish
from tests.conftest import requires_redis

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def servers():
    """Two daphne processes on OS-chosen ports, each handed its listening socket."""
    yield from _daphne(2)


@pytest.fixture(scope="module")
def one_server():
    yield from _daphne(1)


def _daphne(count):
    procs, socks, urls = [], [], []
    env = dict(os.environ, PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="config.settings")
    daphne = str(Path(sys.executable).parent / "daphne")
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(128)
        s.set_inheritable(True)
        socks.append(s)
        cmd = [daphne, "--fd", str(s.fileno()), "-v", "0", "tests.hub.app:application"]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, pass_fds=(s.fileno(),)))
        urls.append(f"ws://127.0.0.1:{s.getsockname()[1]}/ws/hub/")
    try:
        deadline = time.monotonic() + 30
        for url in urls:
            while not _answers(url + "1/"):
                assert time.monotonic() < deadline, f"daphne at {url} did not start"
                time.sleep(0.2)
        yield urls
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
        for s in socks:
            s.close()


def _answers(url):
    from websockets.sync.client import connect as sync_connect

    try:
        with sync_connect(url, open_timeout=2) as ws:
            ws.recv(timeout=5)
        return True
    except Exception:
        return False


def new_room():
    return random.randrange(10**6, 10**9)


async def listen(url, count):
    """Connect, read the snapshot, then collect `count` events' seqs."""
    async with connect(url) as ws:
        snapshot = json.loads(await ws.recv())
        yield snapshot
        seqs = []
        while len(seqs) < count:
            seqs.append(json.loads(await asyncio.wait_for(ws.recv(), 10))["seq"])
        yield seqs


async def gather_rooms(urls, room, events, count):
    streams = [listen(f"{url}{room}/", count) for url in urls for _ in range(2)]
    snapshots = [await anext(s) for s in streams]
    # Every socket is registered once its snapshot is in, so publishing now reaches all.
    await asyncio.to_thread(_publish_all, room, events)
    seqs = [await anext(s) for s in streams]
    for s in streams:
        await s.aclose()
    return snapshots, seqs


def _publish_all(room, events):
    for event in events:
        hub_publish(room_id=room, event=event)


def test_one_process_without_redis_delivers_in_order(one_server):
    """Published inside the server (in-process path without REDIS_URL, Redis with it)."""
    room = new_room()
    url = f"{one_server[0]}{room}/"

    async def main():
        streams = [listen(url, 100) for _ in range(3)]
        for stream in streams:
            await anext(stream)
        async with connect(url) as publisher:
            await publisher.recv()
            await publisher.send(f"publish {room} 1 100")
            seqs = [await anext(stream) for stream in streams]
        for stream in streams:
            await stream.aclose()
        return seqs

    assert asyncio.run(main()) == [list(range(1, 101))] * 3


@requires_redis
def test_two_processes_share_a_room_in_order(servers):
    room = new_room()
    events = [{"type": "chat.message", "seq": n, "text": f"m{n}"} for n in range(1, 51)]
    snapshots, seqs = asyncio.run(gather_rooms(servers, room, events, 50))
    assert len({s["pid"] for s in snapshots}) == 2  # really two processes
    assert seqs == [list(range(1, 51))] * 4


@requires_redis
def test_a_sequence_gap_reaches_clients_as_a_gap(servers):
    """The hub neither hides nor reorders: a missing seq shows, so the client resyncs."""
    room = new_room()
    events = [{"type": "queue.updated", "seq": n} for n in (1, 2, 4, 5)]
    _, seqs = asyncio.run(gather_rooms(servers, room, events, 4))
    assert seqs == [[1, 2, 4, 5]] * 4


@requires_redis
def test_a_reader_that_stops_is_dropped_with_4008_and_can_rejoin(servers):
    room = new_room()
    url = f"{servers[0]}{room}/"
    frames, size = 600, 16 * 1024  # ~10 MB: more than the kernel buffers on loopback hold

    async def main():
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", int(url.split(":")[2].split("/")[0])))
        async with (
            connect(url, sock=sock, max_queue=1) as slow,
            connect(url) as fast,
            connect(f"{servers[0]}{room + 1}/") as observer,
        ):
            for ws in (slow, fast, observer):
                await ws.recv()
            events = [{"seq": n, "pad": "x" * size} for n in range(1, frames + 1)]

            async def read_fast():
                got = []
                while len(got) < frames:
                    got.append(json.loads(await asyncio.wait_for(fast.recv(), 20))["seq"])
                return got

            async def read_slow_once_dropped():
                # Not a byte read until the server has let it go; then promptly, because
                # daphne gives a client 1 s to take the close frame before aborting.
                deadline = time.monotonic() + 20
                dropped = False
                while not dropped and time.monotonic() < deadline:
                    await observer.send(f"count {room}")
                    dropped = json.loads(await observer.recv())["n"] < 2
                try:
                    while True:
                        await asyncio.wait_for(slow.recv(), 10)
                except ConnectionClosed as closed:
                    return dropped, closed.rcvd.code if closed.rcvd else None

            publishing = asyncio.to_thread(_publish_all, room, events)
            got, (dropped, code), _ = await asyncio.gather(
                read_fast(), read_slow_once_dropped(), publishing
            )
        async with connect(url) as again:
            snapshot = json.loads(await again.recv())
        return got, dropped, code, snapshot

    got, dropped, code, snapshot = asyncio.run(main())
    assert dropped  # the server let the stalled socket go ...
    assert got == list(range(1, frames + 1))  # ... and the room went on for the other one
    # The close frame waits behind megabytes of kernel buffer; a client that takes more than
    # daphne's 1 s close handshake to read them is aborted instead (1006, no code). Either way
    # the client reconnects and resyncs.
    assert code in (4008, None)
    assert snapshot["type"] == "snapshot"
