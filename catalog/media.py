"""Serving MEDIA_ROOT with HTTP Range support, for development and one-box installs.

Browsers only seek audio when the server answers Range requests with 206 Partial Content, and a
room joins every listener mid-track with a seek, so this is not optional. Behind a proxy, set
SERVE_MEDIA=false and let the proxy serve MEDIA_ROOT (docs/operations.md).
"""

import hashlib
import os
import re
import stat
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.utils._os import safe_join
from django.utils.cache import get_conditional_response
from django.utils.http import http_date, parse_http_date_safe
from django.views.decorators.http import require_http_methods

CHUNK_BYTES = 256 * 1024

# Types the browser may render inline. Anything else (HTML, SVG, scripts) is sent as a download,
# so an uploaded file can never run as a page on our origin.
_TYPES = {
    ".wav": "audio/wav",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
    ".mp4": "audio/mp4",
    ".aac": "audio/aac",
    ".mp3": "audio/mpeg",
    ".weba": "audio/webm",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Unsatisfiable(Exception):
    pass


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The (start, end) inclusive byte range a single-range header asks for, or None to send the
    whole file (no header, another unit, several ranges, bad syntax: RFC 9110 says ignore it).
    Raises Unsatisfiable when the range lies outside the file."""
    match = _RANGE.match(header.replace(" ", "")) if header else None
    if not match:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":  # suffix: the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - n), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise Unsatisfiable
    return start, min(end, size - 1)


def _resolve(path: str) -> Path:
    if any(part.startswith(".") for part in path.split("/")):
        raise Http404("Not found.")
    try:
        full = Path(safe_join(settings.MEDIA_ROOT, path))
        st = full.stat()
    except (SuspiciousFileOperation, ValueError, OSError):
        raise Http404("Not found.")
    if not stat.S_ISREG(st.st_mode):
        raise Http404("Not found.")
    return full


def _etag(st: os.stat_result) -> str:
    digest = hashlib.blake2s(f"{st.st_ino}-{st.st_size}-{st.st_mtime_ns}".encode()).hexdigest()
    return f'"{digest[:20]}"'


def _if_range_allows(request, etag: str, mtime: int) -> bool:
    """A Range applies only if the client's copy is the current one (If-Range)."""
    value = request.headers.get("If-Range", "").strip()
    if not value:
        return True
    if value.startswith(('"', "W/")):
        return value == etag  # strong comparison; weak tags never match
    parsed = parse_http_date_safe(value)
    return parsed is not None and parsed == mtime


class RangeFileResponse(StreamingHttpResponse):
    """Streams ``length`` bytes of a file from ``start``, in chunks, from sync or async servers.

    Django's ASGI handler turns a sync iterator (FileResponse included) into a list before
    sending, which would hold a whole audio file in memory per request; ``__aiter__`` reads
    chunk by chunk in a worker thread instead.
    """

    def __init__(self, path: Path, *, start: int, length: int, **kwargs):
        self._path, self._start, self._length = path, start, length
        super().__init__(self._chunks(), **kwargs)
        self.headers["Content-Length"] = str(length)

    def _chunks(self):
        with open(self._path, "rb") as fh:
            fh.seek(self._start)
            remaining = self._length
            while remaining > 0:
                chunk = fh.read(min(CHUNK_BYTES, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                yield chunk

    async def __aiter__(self):
        fh = await sync_to_async(open, thread_sensitive=False)(self._path, "rb")
        try:
            fh.seek(self._start)
            remaining = self._length
            read = sync_to_async(fh.read, thread_sensitive=False)
            while remaining > 0:
                chunk = await read(min(CHUNK_BYTES, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                yield chunk
        finally:
            fh.close()


@require_http_methods(["GET", "HEAD"])
def serve_media(request, path: str):
    full = _resolve(path)
    st = full.stat()
    size, mtime = st.st_size, int(st.st_mtime)
    etag = _etag(st)
    content_type = _TYPES.get(full.suffix.lower())

    not_modified = get_conditional_response(request, etag=etag, last_modified=mtime)
    if not_modified is not None:
        return not_modified

    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": http_date(mtime),
        "Cache-Control": "public, max-age=300",
        # Media is data, never a document: no scripts, no plugins, even if opened directly.
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if content_type is None:
        content_type = "application/octet-stream"
        headers["Content-Disposition"] = "attachment"

    start, end = 0, size - 1
    status = 200
    if _if_range_allows(request, etag, mtime):
        try:
            wanted = parse_range(request.headers.get("Range", ""), size)
        except Unsatisfiable:
            headers["Content-Range"] = f"bytes */{size}"
            return HttpResponse(
                "Requested range not satisfiable.",
                status=416,
                content_type="text/plain",
                headers=headers,
            )
        if wanted is not None:
            start, end = wanted
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    length = end - start + 1 if size else 0

    if request.method == "HEAD":
        headers["Content-Length"] = str(length)
        return HttpResponse(status=status, content_type=content_type, headers=headers)
    return RangeFileResponse(
        full, start=start, length=length, status=status, content_type=content_type, headers=headers
    )
