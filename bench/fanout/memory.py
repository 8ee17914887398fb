"""Where an idle room socket's memory goes: tracemalloc in one daphne process of the real app.

    DATABASE_URL=postgres://... REDIS_URL=redis://... CHANNEL_PREFIX=fo CACHE_PREFIX=fo \\
    python bench/fanout/memory.py --listeners 1000

Prepares the bench room (bench/fanout/real.py), starts one daphne process serving
config.asgi:application with tracemalloc on, opens 200 sockets to warm it up (thread pool,
database connection, caches), snapshots, opens `--listeners` more, snapshots again, and prints
the traced bytes per socket between the two, by file and by line. With tracemalloc on, RSS is
inflated by its own bookkeeping: use run.py for RSS, this for the breakdown.
"""

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from bench.fanout.common import REAL_SLUG, raise_fd_limit  # noqa: E402

HERE = Path(__file__).resolve().parent
WARM = 200
SITE = """
import os, signal, tracemalloc
tracemalloc.start(int(os.environ["FANOUT_TRACE_FRAMES"]))
_out = os.environ["FANOUT_TRACE_DIR"]
_n = [0]
def _dump(*_):
    _n[0] += 1
    tracemalloc.take_snapshot().dump(os.path.join(_out, "snap%d.bin" % _n[0]))
signal.signal(signal.SIGUSR1, _dump)
"""


async def _open(port: int, sockets: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            f"GET /ws/rooms/{REAL_SLUG}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: http://127.0.0.1:{port}\r\n\r\n"
        ).encode()
    )
    await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(2)  # the head of the first frame: the snapshot is on its way
    sockets.append(writer)


async def _open_many(port: int, n: int, sockets: list) -> None:
    for start in range(0, n, 50):
        await asyncio.gather(*(_open(port, sockets) for _ in range(min(50, n - start))))


async def _snapshot(pid: int, out: Path, n: int) -> None:
    os.kill(pid, signal.SIGUSR1)
    path = out / f"snap{n}.bin"
    for _ in range(300):
        await asyncio.sleep(0.1)
        if path.exists() and path.stat().st_size:
            await asyncio.sleep(0.5)  # written
            return
    raise SystemExit("no snapshot from the server")


async def probe(port: int, pid: int, listeners: int, out: Path) -> None:
    sockets: list = []
    await _open_many(port, WARM, sockets)
    await asyncio.sleep(2)
    await _snapshot(pid, out, 1)
    await _open_many(port, listeners, sockets)
    await asyncio.sleep(3)
    await _snapshot(pid, out, 2)
    for writer in sockets:
        writer.close()


def report(out: Path, listeners: int, top: int) -> None:
    drop = [tracemalloc.Filter(False, tracemalloc.__file__)]
    before = tracemalloc.Snapshot.load(str(out / "snap1.bin")).filter_traces(drop)
    after = tracemalloc.Snapshot.load(str(out / "snap2.bin")).filter_traces(drop)
    site = str(Path(tracemalloc.__file__).parent)
    for key in ("filename", "lineno"):
        stats = after.compare_to(before, key)
        if key == "filename":
            total = sum(s.size_diff for s in stats)
            print(f"traced per socket: {total / listeners:,.0f} B")
        print(f"--- by {key}")
        for s in stats[:top]:
            frame = s.traceback[0]
            name = frame.filename.split("site-packages/")[-1].replace(site + "/", "")
            name = name.replace(str(ROOT) + "/", "")
            where = name if key == "filename" else f"{name}:{frame.lineno}"
            print(f"{s.size_diff / listeners:8,.0f} B {s.count_diff / listeners:6.1f} obj  {where}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--listeners", type=int, default=1000)
    p.add_argument("--frames", type=int, default=12, help="traceback depth kept by tracemalloc")
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("needs DATABASE_URL=postgres://... and REDIS_URL, as run.py --app real")
    raise_fd_limit()
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings", ROOM_EVENTS_VIA_HUB="1")
    env.setdefault("CONN_MAX_AGE", "60")
    env.setdefault("LOG_LEVEL", "WARNING")
    env["CACHE_PREFIX"] = env.get("CHANNEL_PREFIX", "roomtone")
    subprocess.run(
        [sys.executable, str(HERE / "real.py"), "prepare"], cwd=ROOT, env=env, check=True
    )  # noqa: S603
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "sitecustomize.py").write_text(SITE)
        env.update(
            PYTHONPATH=f"{out}:{ROOT}", FANOUT_TRACE_DIR=tmp, FANOUT_TRACE_FRAMES=str(args.frames)
        )
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        daphne = str(Path(sys.executable).parent / "daphne")
        cmd = [daphne, "-b", "127.0.0.1", "-p", str(port), "-v", "0", "--ping-interval", "600"]
        server = subprocess.Popen([*cmd, "config.asgi:application"], cwd=ROOT, env=env)  # noqa: S603
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("daphne did not start") from None
                    time.sleep(0.2)
            asyncio.run(probe(port, server.pid, args.listeners, out))
        finally:
            server.terminate()
            server.wait(timeout=10)
        report(out, args.listeners, args.top)


if __name__ == "__main__":
    main()
