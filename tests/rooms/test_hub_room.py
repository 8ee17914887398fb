"""The room consumer and the event stream on the room hub (ROOM_EVENTS_VIA_HUB on), in process.

Runs on whatever DATABASE_URL / REDIS_URL say: without Redis the hub hands events over inside the
process, with it through the hub's Redis channel. The last test runs static/js/transport.js
under Node.
"""

import asyncio
import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from rooms import protocol
from rooms.broadcast import room_group
from rooms.hub import RoomHub, current_hub, encode_event
from rooms.sse import HubFeed
from tests.rooms.conftest import join, session_cookie
from tests.rooms.test_fallback_kit import EventStream

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def hub_on(settings):
    settings.ROOM_EVENTS_VIA_HUB = True


async def close_hub():
    hub = current_hub()
    if hub is not None:
        await hub.aclose()


def seqs_after(client, start: int) -> list[int]:
    return [f["seq"] for f in client.seen if isinstance(f.get("seq"), int) and f["seq"] > start]


def test_room_events_reach_every_socket_through_the_hub_in_seq_order(
    room, owner, make_user, tracks
):
    bea = make_user("bea")
    ca, cb = session_cookie(owner), session_cookie(bea)

    async def body():
        layer = get_channel_layer()
        spy = await layer.new_channel()
        await layer.group_add(room_group(room.id), spy)
        a = await join(room.slug, ca)
        b = await join(room.slug, cb)
        registered = current_hub().local_count(room.id)
        start = b.snapshot["seq"]
        assert (await a.request({"type": "queue.add", "track_id": tracks[0].id}))["type"] == "ack"
        await b.expect("now_playing", where=lambda f: f["now_playing"])
        await b.send({"type": "chat.send", "text": "hello"})
        chat_a = await a.expect("chat.message")
        chat_b = await b.expect("chat.message")
        # Room events no longer travel the room group: the spy channel gets none.
        on_group = []
        while True:
            try:
                on_group.append(await asyncio.wait_for(layer.receive(spy), 0.3))
            except TimeoutError:
                break
        await a.close()
        await b.close()
        left = current_hub().local_count(room.id)
        await close_hub()
        return registered, left, start, chat_a, chat_b, seqs_after(a, start), on_group

    registered, left, start, chat_a, chat_b, seqs_a, on_group = async_to_sync(body)()
    assert registered == 2 and left == 0
    assert chat_a == chat_b and chat_a["message"]["text"] == "hello"
    # Consecutive from the snapshot on: nothing lost, nothing reordered.
    assert seqs_a == list(range(start + 1, start + 1 + len(seqs_a)))
    assert chat_a["seq"] in seqs_a
    assert [m for m in on_group if m.get("type") == "room.event"] == []


def test_the_answer_to_a_frame_comes_before_the_events_it_caused(room, owner, tracks):
    cookie = session_cookie(owner)

    async def body():
        a = await join(room.slug, cookie)
        ack = await a.request({"type": "chat.send", "text": "first"})
        chat = await a.expect("chat.message")
        await a.close()
        await close_hub()
        return ack, chat, [f["type"] for f in a.seen]

    ack, chat, kinds = async_to_sync(body)()
    assert ack["type"] == "ack" and chat["message"]["id"] == ack["message_id"]
    assert kinds.index("ack") < kinds.index("chat.message")


def test_a_join_burst_builds_the_snapshot_once_per_seq(room, owner, make_user, tracks, monkeypatch):
    from rooms.services import queue_add, vote_cast

    fans = [make_user(f"fan{i}") for i in range(12)]
    entry = queue_add(room=room, user=owner, track_id=tracks[0].id)
    queued = queue_add(room=room, user=fans[0], track_id=tracks[1].id)
    vote_cast(room=room, user=fans[1], entry_id=queued.id, value=1)
    cookies = [session_cookie(f) for f in fans]
    built = []
    real = protocol._shared_snapshot

    def counting(room_id):
        snapshot = real(room_id)
        built.append(snapshot["seq"])
        return snapshot

    monkeypatch.setattr(protocol, "_shared_snapshot", counting)

    async def body():
        clients = await asyncio.gather(*(join(room.slug, c) for c in cookies))
        cached = current_hub()._snapshots[room.id].result()
        for c in clients:
            await c.close()
        await close_hub()
        return [c.snapshot for c in clients], cached

    snapshots, cached = async_to_sync(body)()
    assert entry.id  # playing; the queued entry is the one voted on
    # However many fans joined at once, no seq was built twice.
    assert max(Counter(built).values()) == 1
    assert len(built) < len(fans)
    # Each fan got its own `you` and votes; the shared, cached part carries neither.
    assert [s["you"]["username"] for s in snapshots] == [f.username for f in fans]
    votes = {s["you"]["username"]: s["queue"][0]["my_vote"] for s in snapshots}
    assert votes["fan1"] == 1 and votes["fan2"] == 0
    assert "you" not in cached and all("my_vote" not in e for e in cached["queue"])


def test_the_event_stream_gets_room_events_from_the_hub(room, owner, make_user, tracks):
    bea = make_user("bea")
    bea_cookie, owner_cookie = session_cookie(bea), session_cookie(owner)

    async def body():
        stream = EventStream(f"/rooms/{room.slug}/events/", bea_cookie)
        assert await stream.start() == 200
        await stream.frame("stream")
        snapshot = await stream.frame("snapshot")
        registered = current_hub().local_count(room.id)
        other = await join(room.slug, owner_cookie)
        ack = await other.request({"type": "chat.send", "text": "over the hub"})
        chat = await stream.frame("chat.message")
        await other.close()
        await stream.close()
        await asyncio.sleep(0.1)
        left = current_hub().local_count(room.id)
        await close_hub()
        return snapshot, registered, ack, chat, left

    snapshot, registered, ack, chat, left = async_to_sync(body)()
    assert registered == 1 and left == 0
    assert chat["message"]["id"] == ack["message_id"]
    assert chat["seq"] > snapshot["seq"] and chat["_id"] == str(chat["seq"])
    assert snapshot["you"]["username"] == "bea"


def test_a_stalled_event_stream_is_ended_and_holds_a_bounded_backlog():
    async def body():
        hub = RoomHub(max_frames=8)
        fast, slow = HubFeed(limit=8), HubFeed(limit=3)
        listeners = [await hub.join(7, fast), await hub.join(7, slow)]
        for listener in listeners:
            listener.start(after_seq=0)
        for seq in range(1, 7):
            hub.deliver(7, encode_event({"type": "x", "seq": seq}))
        await asyncio.sleep(0)
        fast_got = [json.loads(fast.queue.get_nowait())["seq"] for _ in range(6)]
        slow_items = []
        while not slow.queue.empty():
            slow_items.append(slow.queue.get_nowait())
        await hub.aclose()
        return fast_got, slow_items, slow.ended

    fast_got, slow_items, ended = asyncio.run(body())
    assert fast_got == [1, 2, 3, 4, 5, 6]
    # Three frames, then the end marker; nothing more was kept for it.
    assert len(slow_items) == 4 and slow_items[-1] is None and ended


TRANSPORT_JS = Path(__file__).resolve().parents[2] / "static" / "js" / "transport.js"
NODE = shutil.which("node") or shutil.which("nodejs")

# Stand-ins for the browser's WebSocket, EventSource, storage and timers (boundaries we do not
# own): each socket opens, then the server closes it with `code`, four times in a row.
CLOSE_FOUR_TIMES = """
const timers = [];
globalThis.setTimeout = (fn, ms) => { timers.push({fn, ms}); return timers.length; };
globalThis.clearTimeout = () => {};
globalThis.location = {protocol: "http:", host: "example.test"};
globalThis.sessionStorage = {getItem: () => null, setItem: () => {}};
const sockets = [];
function FakeWebSocket() { this.readyState = 0; sockets.push(this); }
FakeWebSocket.prototype.close = function () {};
globalThis.WebSocket = FakeWebSocket;
globalThis.EventSource = function () { this.addEventListener = () => {}; };
const T = require(process.argv[1]);
let downs = 0;
const finals = [];
const t = new T.AutoTransport(
  {wsPath: "/ws/rooms/x/", events: "/rooms/x/events/", actions: "/rooms/x/actions/"},
  {open() {}, frame() {}, down() { downs += 1; }, final(m) { finals.push(m); }}
);
t.connect();
const delays = [];
for (let i = 0; i < 4 && t.name === "websocket"; i++) {
  const socket = sockets[sockets.length - 1];
  socket.readyState = 1;
  socket.onopen();
  const before = timers.length;
  socket.onclose({code: CODE});
  if (timers.length > before) {
    const retry = timers[timers.length - 1];
    delays.push(retry.ms);
    retry.fn();
  }
}
console.log(JSON.stringify({name: t.name, downs, finals, delays, sockets: sockets.length}));
"""


def _close_four_times(code: int) -> dict:
    script = CLOSE_FOUR_TIMES.replace("CODE", str(code))
    out = subprocess.run(
        [NODE, "-e", script, str(TRANSPORT_JS)], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.skipif(NODE is None, reason="needs Node.js to run static/js/transport.js")
def test_the_page_reconnects_after_4008_and_stays_on_the_socket():
    dropped = _close_four_times(4008)
    assert dropped["name"] == "websocket" and dropped["finals"] == []
    assert dropped["sockets"] == 5 and dropped["downs"] == 4  # a new socket after every close
    assert min(dropped["delays"]) >= 500  # at least one backoff step, jittered
    # Sockets dying young for other reasons (1006) still push the page to the fallback.
    aborted = _close_four_times(1006)
    assert aborted["name"] == "sse" and aborted["finals"] == []
