"""N listening WebSocket clients in one process, driven by run.py over stdin/stdout.

A small asyncio protocol reads frames itself: at 20,000-100,000 messages a second a general
client library would spend more CPU than the servers under test, on the same two cores.
Commands (one a line): `phase [FIRST_SEQ [FIRST_TS]]`, `slow K`, `report PATH`, `quit`.
Replies are JSON lines.
"""

import argparse
import asyncio
import base64
import json
import os
import re
import sys
import time
from array import array
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.fanout.common import raise_fd_limit  # noqa: E402

EVENT = re.compile(rb'"seq": ?(\d+), ?"ts": ?([\d.]+)')
# The real room's frames (`--app real`): `ts` near the front, the room's `seq` last. Frames
# without `ts` (snapshots, `listeners` events) are the room's own, not the bench's.
REAL_EVENT = re.compile(rb'"ts":([\d.]+),.*"seq":(\d+)\}$', re.S)


class Stats:
    def __init__(self):
        self.reset()

    def reset(self, first_seq=0, first_ts=0.0):
        self.latency = array("f")  # seconds, from listeners that keep reading
        self.slow_delivered = 0
        self.out_of_order = 0
        # Late frames of an earlier phase are not this phase's deliveries: told by the bench's
        # own numbering, or (for the real room, which numbers its events itself) by send time.
        self.first_seq = first_seq
        self.first_ts = first_ts
        self.stale = 0


class Client(asyncio.Protocol):
    def __init__(self, host: str, path: str, stats: Stats, joined: asyncio.Future):
        self.host, self.path, self.stats, self.joined = host, path, stats, joined
        self.buf = bytearray()
        self.upgraded = False
        self.last_seq = 0
        self.slow = False
        self.close_code: int | None = None
        self.started = time.monotonic()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport):
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nOrigin: http://{self.host}\r\n\r\n"
            ).encode()
        )

    def data_received(self, data):
        if self.upgraded and not self.buf and len(data) >= 2 and data[1] < 126:
            # The usual case: exactly one small frame per read.
            if len(data) == 2 + data[1]:
                self._frame(data[0] & 0x0F, data[2:])
                return
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in buf[:end]:
                self._fail("handshake refused")
                return
            del buf[: end + 4]
            self.upgraded = True
        pos, n = 0, len(buf)
        while n - pos >= 2:
            b1 = buf[pos + 1] & 0x7F
            head = 2
            if b1 == 126:
                if n - pos < 4:
                    break
                b1 = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif b1 == 127:
                if n - pos < 10:
                    break
                b1 = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if n - pos < head + b1:
                break
            opcode = buf[pos] & 0x0F
            payload = bytes(buf[pos + head : pos + head + b1])
            pos += head + b1
            self._frame(opcode, payload)
        del buf[:pos]

    def _frame(self, opcode, payload):
        if opcode in (1, 2, 0):
            if not self.joined.done():
                self.joined.set_result(time.monotonic() - self.started)
                return
            m = EVENT.search(payload, 0, 80)
            if m is not None:
                seq, ts = int(m.group(1)), float(m.group(2))
            else:
                m = REAL_EVENT.search(payload)
                if m is None:
                    return
                seq, ts = int(m.group(2)), float(m.group(1))
            if seq <= self.last_seq:
                self.stats.out_of_order += 1
            self.last_seq = seq
            if seq < self.stats.first_seq or ts < self.stats.first_ts:
                self.stats.stale += 1
            elif self.slow:
                self.stats.slow_delivered += 1
            else:
                self.stats.latency.append(time.time() - ts)
        elif opcode == 9:  # ping: answer with a masked pong (a zero key leaves data as is)
            self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
        elif opcode == 8:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.transport.write(b"\x88\x82\0\0\0\0" + payload[:2])
            self.transport.close()

    def _fail(self, why):
        if not self.joined.done():
            self.joined.set_exception(ConnectionError(why))
        self.transport.close()

    def connection_lost(self, exc):
        if not self.joined.done():
            self.joined.set_exception(ConnectionError("closed before the first frame"))


async def connect_one(url, stats, timeout):
    hostport, _, path = url.removeprefix("ws://").partition("/")
    host, _, port = hostport.partition(":")
    loop = asyncio.get_running_loop()
    joined = loop.create_future()
    _, client = await asyncio.wait_for(
        loop.create_connection(
            lambda: Client(hostport, "/" + path, stats, joined), host, int(port)
        ),
        timeout,
    )
    client.join_s = await asyncio.wait_for(joined, timeout)
    return client


async def main(urls, count, storm_seconds, concurrency):
    raise_fd_limit()
    stats = Stats()
    sem = asyncio.Semaphore(concurrency)
    clients, join_times, failures = [], [], 0
    t0 = time.monotonic()

    async def one(i):
        nonlocal failures
        async with sem:
            try:
                c = await connect_one(urls[i % len(urls)], stats, storm_seconds + 10)
            except Exception:
                failures += 1
                return
            clients.append(c)
            join_times.append(c.join_s)

    await asyncio.gather(*(one(i) for i in range(count)))
    storm = time.monotonic() - t0
    join_times.sort()
    pick = lambda q: join_times[min(len(join_times) - 1, int(q * len(join_times)))]  # noqa: E731
    reply(
        {
            "joined": len(clients),
            "failed": failures,
            "storm_s": round(storm, 3),
            "first_frame_p50_ms": round(pick(0.5) * 1000, 1) if join_times else None,
            "first_frame_p99_ms": round(pick(0.99) * 1000, 1) if join_times else None,
        }
    )
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        cmd, _, arg = line.partition(" ")
        if cmd == "phase":
            first_seq, _, first_ts = arg.partition(" ")
            stats.reset(int(first_seq or 0), float(first_ts or 0))
            reply({"ok": True})
        elif cmd == "slow":
            for c in clients[: int(arg)]:
                c.slow = True
                c.transport.pause_reading()
            reply({"ok": True})
        elif cmd == "report":
            stats.latency.tofile(open(arg, "wb"))  # noqa: SIM115
            reply(
                {
                    "delivered": len(stats.latency) + stats.slow_delivered,
                    "kept_reading": sum(not c.slow for c in clients),
                    "open": sum(not c.transport.is_closing() for c in clients),
                    "closed_4008": sum(c.close_code == 4008 for c in clients),
                    "out_of_order": stats.out_of_order,
                    "stale": stats.stale,
                }
            )
        elif cmd == "quit":
            break
    for c in clients:
        c.transport.abort()
    reply({"bye": True})


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--urls", required=True, help="comma-separated ws:// URLs, used in turn")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--storm-seconds", type=float, default=10)
    p.add_argument("--concurrency", type=int, default=200)
    a = p.parse_args()
    try:
        # Optional: uvloop halves the clients' CPU per message, leaving more of the shared
        # cores to the servers under test. The servers never use it.
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(a.urls.split(","), a.count, a.storm_seconds, a.concurrency))
