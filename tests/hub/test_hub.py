"""The room hub in one process: order, held frames, slow listeners, the snapshot cache.

These run on whatever the settings say: with REDIS_URL the published events go through Redis
pub/sub, without it through the in-process path; the guarantees are the same."""

import asyncio
import json
import random

from rooms.hub import CLOSE_TOO_SLOW, RoomHub, ahub_publish, encode_event, get_hub


class Socket:
    """Stands in for an ASGI send; `stall()` makes it stop taking frames, like a full socket."""

    def __init__(self):
        self.frames: list[str] = []
        self.closed_with: int | None = None
        self._open = asyncio.Event()
        self._open.set()

    def stall(self):
        self._open.clear()

    async def __call__(self, message):
        if message["type"] == "websocket.close":
            self.closed_with = message["code"]
            return
        await self._open.wait()
        self.frames.append(message["text"])

    def seqs(self):
        return [json.loads(f)["seq"] for f in self.frames]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_every_listener_gets_every_event_once_and_in_order():
    room = random.randrange(10**6, 10**7)

    async def main():
        hub = get_hub()
        sockets = [Socket() for _ in range(3)]
        for s in sockets:
            (await hub.join(room, s)).start()
        for seq in range(1, 101):
            await ahub_publish(room_id=room, event={"type": "chat.message", "seq": seq})
        for _ in range(200):
            if all(len(s.frames) == 100 for s in sockets):
                break
            await asyncio.sleep(0.02)
        await hub.aclose()
        return sockets

    sockets = run(main())
    for s in sockets:
        assert s.seqs() == list(range(1, 101))
    # Encoded once: every socket got the very same text.
    assert sockets[0].frames[7] is sockets[2].frames[7]


def test_frames_wait_for_the_snapshot_and_skip_what_it_covers():
    async def main():
        hub = RoomHub()
        sock = Socket()
        listener = await hub.join(1, sock)
        for seq in range(1, 6):
            hub.deliver(1, encode_event({"seq": seq}))
        assert sock.frames == []
        listener.start(after_seq=3)
        hub.deliver(1, encode_event({"seq": 6}))
        await asyncio.sleep(0)
        return sock.seqs()

    assert run(main()) == [4, 5, 6]


def test_a_stalled_listener_is_dropped_with_4008_and_the_room_goes_on():
    async def main():
        hub = RoomHub(max_frames=8)
        slow, fast = Socket(), Socket()
        slow_listener = await hub.join(1, slow)
        slow_listener.start()
        (await hub.join(1, fast)).start()
        hub.deliver(1, encode_event({"seq": 1}))
        slow.stall()
        for seq in range(2, 41):
            hub.deliver(1, encode_event({"seq": seq}))
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        return hub, slow, slow_listener, fast

    hub, slow, slow_listener, fast = run(main())
    assert fast.seqs() == list(range(1, 41))
    assert slow_listener.dropped
    assert slow.closed_with == CLOSE_TOO_SLOW == 4008
    assert slow.seqs() == [1]
    assert len(slow_listener.pending) == 0  # nothing kept for it
    assert hub.local_count(1) == 1


def test_a_listener_that_never_starts_cannot_hold_frames_without_bound():
    async def main():
        hub = RoomHub(max_frames=4)
        sock = Socket()
        listener = await hub.join(1, sock)
        for seq in range(1, 10):
            hub.deliver(1, encode_event({"seq": seq}))
        await asyncio.sleep(0.01)
        return listener, sock

    listener, sock = run(main())
    assert listener.dropped and sock.closed_with == 4008


def test_join_storm_builds_the_snapshot_once_per_seq():
    async def main():
        hub = RoomHub()
        builds = []

        async def build():
            builds.append(1)
            await asyncio.sleep(0.01)
            return {"type": "snapshot", "seq": hub.last_seq.get(1, 0)}

        await hub.join(1, Socket())
        first = await asyncio.gather(*(hub.snapshot_cached(1, build) for _ in range(50)))
        again = await hub.snapshot_cached(1, build)
        hub.deliver(1, encode_event({"seq": 1}))
        after = await asyncio.gather(*(hub.snapshot_cached(1, build) for _ in range(50)))
        return builds, first, again, after

    builds, first, again, after = run(main())
    assert len(builds) == 2
    assert {s["seq"] for s in first} == {0} and again["seq"] == 0
    assert {s["seq"] for s in after} == {1}


def test_leaving_the_last_listener_forgets_the_room():
    async def main():
        hub = RoomHub()
        listener = await hub.join(5, Socket())

        async def build():
            return {"seq": 0}

        await hub.snapshot_cached(5, build)
        hub.leave(listener)
        hub.leave(listener)  # twice is harmless
        return hub

    hub = run(main())
    assert hub.local_count(5) == 0 and 5 not in hub.rooms and 5 not in hub._snapshots


def test_a_listener_that_stalls_briefly_catches_up_in_order():
    async def main():
        hub = RoomHub(max_frames=32)
        sock = Socket()
        (await hub.join(1, sock)).start()
        sock.stall()
        for seq in range(1, 21):
            hub.deliver(1, encode_event({"seq": seq}))
        sock._open.set()
        await asyncio.sleep(0.05)
        hub.deliver(1, encode_event({"seq": 21}))
        await asyncio.sleep(0.01)
        return sock

    sock = run(main())
    assert sock.seqs() == list(range(1, 22)) and sock.closed_with is None


def test_autobahn_debug_arguments_become_lazy_but_still_render():
    from autobahn.websocket import protocol

    from rooms.hub import autobahn_lazy_debug_args

    autobahn_lazy_debug_args()
    autobahn_lazy_debug_args()  # idempotent
    assert "42" in f"{protocol.hlval(42)}"
    assert "'a': 1" in f"{protocol.pformat({'a': 1})}"
    timings = protocol.Timings()
    timings.track("x")
    assert isinstance(str(timings), str) and "x" in str(timings)
