"""Kit for the fallback tests (no tests here): an in-process event stream and action POSTs."""

import asyncio
import json
from urllib.parse import urlsplit

from django.conf import settings
from django.test import AsyncClient


class EventStream:
    """One `GET /rooms/<slug>/events/` through the real ASGI application, disconnectable."""

    def __init__(
        self,
        path: str,
        cookie: bytes | None = None,
        headers: dict | None = None,
        client: tuple[str, int] = ("127.0.0.1", 40000),
    ):
        from config.asgi import application

        url = urlsplit(path)
        raw_headers = [(b"host", b"testserver")]
        if cookie:
            raw_headers.append((b"cookie", cookie))
        for name, value in (headers or {}).items():
            raw_headers.append((name.lower().encode(), value.encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": url.path,
            "raw_path": url.path.encode(),
            "query_string": url.query.encode(),
            "root_path": "",
            "headers": raw_headers,
            "client": client,
            "server": ("testserver", 80),
        }
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.outbox: asyncio.Queue = asyncio.Queue()
        self.inbox.put_nowait({"type": "http.request", "body": b"", "more_body": False})
        self.task = asyncio.get_running_loop().create_task(
            application(scope, self.inbox.get, self.outbox.put)
        )
        self.buffer = ""
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body = b""
        self.ended = False
        self.events: list[dict] = []

    async def start(self, timeout: float = 10) -> int:
        message = await asyncio.wait_for(self.outbox.get(), timeout)
        assert message["type"] == "http.response.start", message
        self.status = message["status"]
        self.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        return self.status

    async def _read(self, timeout: float) -> None:
        message = await asyncio.wait_for(self.outbox.get(), timeout)
        assert message["type"] == "http.response.body", message
        self.body += message.get("body", b"")
        self.buffer += message.get("body", b"").decode()
        if not message.get("more_body"):
            self.ended = True

    async def block(self, timeout: float = 5) -> dict | None:
        """The next SSE block: {"comment", "event", "id", "data"}; None when the stream ended."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while "\n\n" not in self.buffer:
            if self.ended:
                return None
            await self._read(max(deadline - loop.time(), 0.01))
        raw, self.buffer = self.buffer.split("\n\n", 1)
        block = {"comment": None, "event": "message", "id": None, "data": None}
        for line in raw.split("\n"):
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "":
                block["comment"] = value
            elif name in ("event", "id", "data", "retry"):
                block[name] = value
        return block

    async def frame(self, frame_type: str, timeout: float = 5, **match) -> dict:
        """The next data frame of `frame_type` (with the SSE id in `_id`), skipping others."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            block = await self.block(max(deadline - loop.time(), 0.01))
            if block is None:
                raise AssertionError(f"stream ended before a {frame_type}; saw {self.events}")
            if block["data"] is None:
                continue
            data = json.loads(block["data"])
            self.events.append({"event": block["event"], **data})
            if block["event"] == "message" and data.get("type") == frame_type:
                if all(data.get(k) == v for k, v in match.items()):
                    return {**data, "_id": block["id"]}
            if block["event"] == frame_type:
                return {**data, "_id": block["id"]}

    async def close(self) -> None:
        await self.inbox.put({"type": "http.disconnect"})
        await asyncio.wait_for(self.task, 10)


async def open_stream(slug: str, cookie: bytes | None = None, **kwargs) -> EventStream:
    """An open stream past its `stream` event (kept in `.info`) and its snapshot."""
    query = f"?invite={kwargs.pop('invite')}" if kwargs.get("invite") else ""
    kwargs.pop("invite", None)
    stream = EventStream(f"/rooms/{slug}/events/{query}", cookie, **kwargs)
    status = await stream.start()
    assert status == 200, (status, stream.buffer)
    stream.info = await stream.frame("stream")
    stream.snapshot = await stream.frame("snapshot")
    return stream


def http_client(cookie: bytes | None = None, *, csrf: bool = True) -> AsyncClient:
    """A client that enforces CSRF, signed in through `cookie`, holding a CSRF cookie."""
    client = AsyncClient(enforce_csrf_checks=True)
    if cookie:
        name, _, value = cookie.decode().partition("=")
        client.cookies[name] = value
    if csrf:
        client.cookies[settings.CSRF_COOKIE_NAME] = "a" * 32
    return client


async def post_frame(
    client: AsyncClient, slug: str, frame, *, token: bool = True, stream: str = "", query=""
):
    body = frame if isinstance(frame, str | bytes) else json.dumps(frame)
    headers = {}
    if token:
        headers["X-CSRFToken"] = client.cookies[settings.CSRF_COOKIE_NAME].value
    if stream:
        headers["X-Roomtone-Stream"] = stream
    return await client.post(
        f"/rooms/{slug}/actions/{query}",
        data=body,
        content_type="application/json",
        headers=headers,
    )
