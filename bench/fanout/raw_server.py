"""The baseline: a plain `websockets` server that relays each published frame with broadcast().

`/pub` is the publisher's socket; every other path is a listener that first gets a snapshot-like
frame. Run: python bench/fanout/raw_server.py --fd N (a listening socket handed over by run.py).
"""

import argparse
import asyncio
import socket
import sys
from pathlib import Path

from websockets.asyncio.server import broadcast, serve

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.fanout.common import SNAPSHOT_TEXT, raise_fd_limit  # noqa: E402

listeners: set = set()


async def handler(ws):
    if ws.request.path == "/pub":
        async for frame in ws:
            broadcast(listeners, frame)
        return
    await ws.send(SNAPSHOT_TEXT)
    listeners.add(ws)
    try:
        await ws.wait_closed()
    finally:
        listeners.discard(ws)


async def main(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    async with serve(handler, sock=sock, compression=None, max_queue=None):
        await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--fd", type=int, required=True)
    raise_fd_limit()
    asyncio.run(main(parser.parse_args().fd))
