"""A process-local buffer of page views, sent in batches (OTS capture with Redis).

A page view appends one entry and returns; the buffer hands its entries to ``send`` (one call for
up to ``max_pages`` pages) when the oldest entry is ``max_age`` seconds old or ``max_pages`` are
waiting, whichever comes first. The page view that fills the buffer sends it itself; a daemon
thread sends what is left when traffic stops; ``flush()`` sends everything now (``atexit``, the
Celery flush and tests call it).

What a process killed without warning loses is what it had not sent: normally at most
``max_pages`` pages or ``max_age`` seconds of them. A page view that finds ``2 * max_pages``
waiting (a send is slow) waits for its own send, so the buffer holds fewer than that. While
``send`` fails the pages are kept and retried after ``retry`` seconds, up to ``keep`` pages; the
oldest beyond that are dropped and counted in ``dropped``.
"""

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class PageBuffer:
    def __init__(
        self,
        send: Callable[[list], None],
        *,
        max_pages: int = 50,
        max_age: float = 0.1,
        keep: int = 5000,
        retry: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        background: bool = True,
    ):
        self._send = send
        self.max_pages = max_pages
        self.max_age = max_age
        self.keep = keep
        self.retry = retry
        self._clock = clock
        self._background = background
        self._lock = threading.Lock()  # guards the entries and the times below
        self._wake = threading.Condition(self._lock)
        self._sending = threading.Lock()  # one send at a time, in the order of the entries
        self._pages: list[tuple[float, object]] = []  # (when it came, the page)
        self._retry_at = 0.0  # no send before this, after a failed one
        self._thread: threading.Thread | None = None
        self.batches = 0  # sends that went through
        self.sent = 0  # pages they carried
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._pages)

    def add(self, page) -> None:
        with self._lock:
            now = self._clock()
            if not self._pages:
                self._wake.notify()
            self._pages.append((now, page))
            if len(self._pages) > self.keep:
                self._drop_oldest()
            waiting = len(self._pages)
            due = self._due(now)
            if self._background and self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="impressions-buffer", daemon=True
                )
                self._thread.start()
        if waiting >= 2 * self.max_pages:
            self.tick(blocking=True)
        elif due:
            self.tick(blocking=False)

    def flush(self) -> int:
        """Send every waiting page now (after a send in flight); returns the pages sent. A failed
        send raises, and its pages stay for the next try."""
        with self._sending:
            return self._send_waiting(raise_errors=True)

    def tick(self, *, blocking: bool = False) -> int:
        """Send the waiting pages if they are due (by size or age); returns the pages sent. Without
        ``blocking``, a send in flight means there is nothing to do now."""
        if not self._sending.acquire(blocking=blocking):
            return 0
        try:
            with self._lock:
                due = self._due(self._clock())
            return self._send_waiting(raise_errors=False) if due else 0
        finally:
            self._sending.release()

    def discard(self) -> int:
        """Drop the waiting pages (after a send in flight); returns how many."""
        with self._sending, self._lock:
            n = len(self._pages)
            self._pages = []
            self._retry_at = 0.0
            return n

    def _due(self, now: float) -> bool:
        if not self._pages or now < self._retry_at:
            return False
        return len(self._pages) >= self.max_pages or now - self._pages[0][0] >= self.max_age

    def _send_waiting(self, *, raise_errors: bool) -> int:
        sent = 0
        while True:
            with self._lock:
                batch = self._pages[: self.max_pages]
                self._pages = self._pages[self.max_pages :]
            if not batch:
                return sent
            try:
                self._send([page for _, page in batch])
            except Exception:
                self._put_back(batch)
                if raise_errors:
                    raise
                log.exception(
                    "impressions: a send of %d pages failed; kept for a retry", len(batch)
                )
                return sent
            sent += len(batch)
            self.batches += 1
            self.sent += len(batch)

    def _put_back(self, batch: list) -> None:
        with self._lock:
            self._pages = batch + self._pages
            self._retry_at = self._clock() + self.retry
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        over = len(self._pages) - self.keep
        if over > 0:
            del self._pages[:over]
            self.dropped += over
            log.error("impressions: dropped %d pages that could not be sent", over)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._pages:
                    self._wake.wait()
                    continue
                delay = max(self._pages[0][0] + self.max_age, self._retry_at) - self._clock()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
            try:
                self.tick(blocking=True)
            except Exception:  # never let the flusher die
                log.exception("impressions: the background send failed")
