"""Room control messages on the hub: handed to each listener's `on_control` in order with its
frames (held and queued alike), never written to a socket.

Like test_hub.py these run on whatever the settings say: `hub_control` goes through Redis with
REDIS_URL, in process without it."""

import asyncio
import json
import random

from rooms.hub import RoomHub, encode_control, encode_event, get_hub, hub_control
from tests.hub.test_hub import Socket, run


class Recorder:
    """A socket and its `on_control`, writing both into one log, in the order they happen."""

    def __init__(self):
        self.log: list[tuple[str, object]] = []
        self.socket = Socket()

    async def send(self, message):
        await self.socket(message)
        if message["type"] == "websocket.send":
            self.log.append(("frame", json.loads(message["text"])["seq"]))
        else:
            self.log.append((message["type"], message.get("code")))

    def on_control(self, message):
        self.log.append(("control", message["n"]))


def control(n: int) -> str:
    return encode_control({"type": "room.control", "action": "role", "n": n})


def test_controls_keep_their_place_among_frames_and_never_reach_the_socket():
    async def main():
        hub = RoomHub()
        rec, plain = Recorder(), Socket()
        (await hub.join(1, rec.send, on_control=rec.on_control)).start()
        (await hub.join(1, plain)).start()  # a listener without on_control ignores them
        for seq in range(1, 4):
            hub.deliver(1, encode_event({"seq": seq}))
            hub.deliver(1, control(seq))
        await asyncio.sleep(0.01)
        return rec, plain

    rec, plain = run(main())
    assert rec.log == [("frame", 1), ("control", 1), ("frame", 2), ("control", 2), ("frame", 3)] + [
        ("control", 3)
    ]
    assert rec.socket.seqs() == [1, 2, 3]
    assert plain.seqs() == [1, 2, 3]


def test_controls_wait_with_held_frames_and_behind_a_stalled_send():
    async def main():
        hub = RoomHub()
        rec = Recorder()
        listener = await hub.join(1, rec.send, on_control=rec.on_control)
        # Before the snapshot: held with the frames, and released even when the snapshot covers
        # the frames around it (a control has no seq to compare).
        hub.deliver(1, encode_event({"seq": 1}))
        hub.deliver(1, control(1))
        hub.deliver(1, encode_event({"seq": 2}))
        assert rec.log == []
        listener.start(after_seq=1)
        # Held again (a client frame being answered), then a send that has to wait.
        listener.hold()
        hub.deliver(1, control(2))
        assert rec.log == [("control", 1), ("frame", 2)]  # the second control is held
        listener.start()
        rec.socket.stall()
        hub.deliver(1, encode_event({"seq": 3}))
        hub.deliver(1, control(3))
        hub.deliver(1, encode_event({"seq": 4}))
        await asyncio.sleep(0.01)
        stalled = list(rec.log)
        rec.socket._open.set()
        await asyncio.sleep(0.01)
        return stalled, rec.log

    stalled, log = run(main())
    # Nothing after the stalled frame ran ahead of it, the control included.
    assert stalled == [("control", 1), ("frame", 2), ("control", 2)]
    assert log == stalled + [("frame", 3), ("control", 3), ("frame", 4)]


def test_a_failing_control_handler_does_not_stop_the_room():
    async def main():
        hub = RoomHub()
        bad, good = Socket(), Recorder()

        def explode(message):
            raise RuntimeError("boom")

        (await hub.join(1, bad, on_control=explode)).start()
        (await hub.join(1, good.send, on_control=good.on_control)).start()
        hub.deliver(1, control(1))
        hub.deliver(1, encode_event({"seq": 1}))
        await asyncio.sleep(0.01)
        return bad, good

    bad, good = run(main())
    assert bad.seqs() == [1]
    assert good.log == [("control", 1), ("frame", 1)]


def test_hub_control_reaches_listeners_through_the_publish_path_after_earlier_events():
    room = random.randrange(10**6, 10**7)

    async def main():
        from rooms.hub import hub_publish

        hub = get_hub()
        rec = Recorder()
        (await hub.join(room, rec.send, on_control=rec.on_control)).start()
        # The sync publishers, as services call them after commit (from a worker thread).
        await asyncio.to_thread(hub_publish, room_id=room, event={"type": "chat", "seq": 1})
        await asyncio.to_thread(
            hub_control, room_id=room, message={"type": "room.control", "action": "ban", "n": 7}
        )
        for _ in range(200):
            if len(rec.log) == 2:
                break
            await asyncio.sleep(0.02)
        await hub.aclose()
        return rec

    rec = run(main())
    assert rec.log == [("frame", 1), ("control", 7)]
    assert rec.socket.seqs() == [1]
