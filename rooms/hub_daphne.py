"""The room hub's daphne side: a direct writer of pre-built frames and autobahn's lazy logging.

Under daphne the hub (rooms/hub.py) sends each event's one WebSocket frame to every socket as is,
instead of through the ASGI ``send`` (``_DirectSocket``), and probes Twisted's unsent bytes to
find slow readers (``_twisted_backlog``). Everything here reaches into daphne, autobahn or
Twisted objects; other servers go through the ASGI ``send``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

Send = Callable[[dict], Awaitable[None]]


def _unwrap_send(send: Send, direct_writes: bool):
    """The server's own send; with daphne also a probe of its unsent bytes and, when allowed,
    a direct writer for pre-built frames."""
    # Channels' session middleware wraps send to save sessions on HTTP responses; WebSocket
    # frames pass through it untouched, so the hub skips a coroutine call per frame.
    for _ in range(5):
        inner = getattr(getattr(send, "__self__", None), "real_send", None)
        if inner is None:
            break
        send = inner
    backlog = direct = None
    if isinstance(send, functools.partial) and send.args:
        protocol = send.args[0]
        transport = getattr(protocol, "transport", None)
        if transport is not None and hasattr(transport, "_tempDataLen"):
            backlog = functools.partial(_twisted_backlog, transport)
            if direct_writes and _DirectSocket.supports(protocol, transport):
                direct = _DirectSocket(protocol, transport)
    return send, backlog, direct


class _DirectSocket:
    """Writes one pre-built WebSocket frame, shared by every listener of an event, under
    daphne's autobahn protocol.

    Going through ASGI send costs, per listener, a coroutine, autobahn framing the message
    again, and Twisted registering the socket for writing and unregistering it after one send:
    most of daphne's cost per delivery. The frame bytes are the same for everyone (a server
    frame is not masked), so this sends them straight to the socket, as asyncio servers do,
    and falls back to Twisted's buffer whenever that buffer is not empty, which keeps the
    order with frames the consumer sends itself."""

    __slots__ = ("protocol", "transport", "sock")

    def __init__(self, protocol, transport):
        self.protocol, self.transport, self.sock = protocol, transport, transport.socket

    @staticmethod
    def supports(protocol, transport) -> bool:
        from twisted.internet.tcp import Server

        return (
            type(transport) is Server  # plain TCP: TLS would need its own framing of bytes
            and getattr(protocol, "_perMessageCompress", True) is None
            and getattr(protocol, "autoFragmentSize", 1) == 0
        )

    def write(self, wire: bytes) -> None:
        protocol, transport = self.protocol, self.transport
        if protocol.state != protocol.STATE_OPEN or transport.disconnecting:
            return  # closing: the consumer's disconnect follows
        if transport._tempDataLen or len(transport.dataBuffer) > transport.offset:
            transport.write(wire)
            return
        try:
            sent = self.sock.send(wire)
        except BlockingIOError:
            sent = 0
        except OSError:
            return  # the connection is gone; Twisted will see it and daphne disconnect
        if sent < len(wire):
            transport.write(wire[sent:])


def _ws_text_frame(text: str) -> bytes:
    data = text.encode()
    n = len(data)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 65536:
        head = b"\x81\x7e" + n.to_bytes(2, "big")
    else:
        head = b"\x81\x7f" + n.to_bytes(8, "big")
    return head + data


def _twisted_backlog(transport) -> int:
    # daphne hands frames to Twisted, whose write() buffers without limit and never makes the
    # ASGI send wait, so the only sign of a slow reader is this buffer.
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


def autobahn_lazy_debug_args() -> None:
    """Make autobahn build the arguments of its debug log lines only when one is rendered.

    autobahn (under daphne) formats them eagerly even with debug logging off: a ``pformat`` of
    ~40 options for every new connection and three ``click.style`` calls for every frame it
    sends. Profiled under a join storm of 2,000 sockets, that ``pformat`` was the largest cost
    of accepting a connection. Idempotent; call it once where the ASGI app is built."""
    from autobahn.websocket import protocol

    if getattr(protocol, "_lazy_debug_args", False):
        return
    eager_pformat = protocol.pformat
    for name in ("pformat", "hltype", "hlval"):
        protocol.__dict__[name]  # noqa: B018 - fail loudly if autobahn renames them
        setattr(protocol, name, functools.partial(_LazyFormat, getattr(protocol, name)))
    # The one caller that needs a real string back.
    protocol.Timings.__str__ = lambda self: eager_pformat(self._timings)
    protocol._lazy_debug_args = True


class _LazyFormat:
    __slots__ = ("fn", "arg")

    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __format__(self, spec: str) -> str:
        return format(self.fn(self.arg), spec)

    def __str__(self) -> str:
        return str(self.fn(self.arg))

    __repr__ = __str__
